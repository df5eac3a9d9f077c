/* history.h — the training history (src/history/).
 *
 * The history is what the seed pipeline called `history` (train_loss, val_loss,
 * perplexity per epoch) plus per-log-interval and per-validation rows; rank 0 writes it,
 * checkpoints carry it (/history) so a resumed run continues the same curves. Its columns,
 * and those of metrics.jsonl and TensorBoard, come from one table (ed_columns). */
#ifndef EXPERT_HISTORY_H
#define EXPERT_HISTORY_H

#include <stddef.h>
#include <stdio.h>

#include "expert/common.h"

/* Growable double column. */
typedef struct {
    double *v;
    size_t n, cap;
} ed_dcol;

void ed_dcol_push(ed_dcol *c, double x);

/* ---- the schema: one table of columns (src/history/columns.c) ----------------------
 * A run logs three kinds of row: one per log interval, one per validation (at epoch
 * ends, every --eval-interval steps and the final one of a run that stops in mid-epoch)
 * and one per epoch. The trainer hands each over once, as an ed_row, to ed_log_row;
 * the column table says where each value goes: the history every rank keeps (and so
 * history.json, history.csv and the checkpoint's /history), metrics.jsonl, TensorBoard.
 * A new column is one row of the table (plus the ed_row field its producer fills). */
typedef enum { ED_ROW_LOG, ED_ROW_VAL, ED_ROW_EPOCH, ED_ROW_KINDS } ed_row_kind;

/* One row's values. A kind reads only the fields its columns name; all are doubles so
 * one table can address them. Validation results are NAN when there is no val set. */
typedef struct {
    ed_row_kind kind;
    double step;                                            /* global optimizer step */
    double epoch;                                           /* 1-based */
    double loss, lr, grad_norm, tokens_per_s, mfu, elapsed; /* log (lr: also epoch) */
    double loss_scale, scale_skipped;                       /* log: fp16's scaler (NAN: none) */
    double mem_private, mem_file;                           /* log: rank 0's RssAnon, RssFile now
                                                               (MB, memstat.h; NAN: unknown) */
    double val_loss, perplexity, accuracy, best;            /* val and epoch; best: 0/1 */
    double bleu, rouge1, rouge2, rougeL;                    /* val with --val-generate (0-100);
                                                               NAN at validations without it */
    double train_loss, seconds;                             /* epoch */
} ed_row;

/* How a value is printed: INT as an integer (metrics.jsonl, CSV), BOOL as true/false,
 * REAL with 9 significant digits; non-finite values as null / an empty CSV field.
 * history.json writes every column as a real, as the seed pipeline's file did. */
typedef enum { ED_COL_REAL, ED_COL_INT, ED_COL_BOOL } ed_col_type;

typedef struct {
    ed_row_kind kind;
    ed_col_type type;
    size_t value;      /* offsetof(ed_row, the field) */
    const char *kept;  /* the history column: also the checkpoint dataset /history/<kept>;
                        * NULL: not kept (then not in history.json/csv either) */
    const char *json;  /* key in history.json (the kind's object) and the CSV header (epoch rows) */
    const char *jsonl; /* key in metrics.jsonl; NULL: not written there */
    const char *tb;    /* TensorBoard scalar tag; NULL: none */
    int since;         /* checkpoint format version that added the kept column; older
                        * files read it as empty. ED_SINCE_ANY: added without a new
                        * version (docs/checkpoint-format.md), so any file may lack it:
                        * read as NAN for each of its kind's rows */
} ed_column;

#define ED_SINCE_ANY 0

/* The table, in the order the files list the columns within a kind. */
extern const ed_column ed_columns[];
extern const size_t ed_ncolumns;
/* Per kind: "type" in metrics.jsonl ("log", "val", "epoch") and the history.json object
 * holding its columns ("steps", "evals"; NULL: the top level). */
extern const char *const ed_row_kind_names[ED_ROW_KINDS];
extern const char *const ed_row_kind_json[ED_ROW_KINDS];

#define ED_HISTORY_MAX_COLUMNS 48

/* The kept columns, col[i] for table row i (other entries stay empty). Every rank keeps
 * an identical copy; rank 0 writes it; checkpoints carry it. Zero-initialise. */
typedef struct {
    ed_dcol col[ED_HISTORY_MAX_COLUMNS];
} ed_history;

void ed_history_free(ed_history *h);
/* The kept column named `kept` (ed_column.kept), NULL if there is none. Columns grow only
 * through ed_log_row. */
const ed_dcol *ed_history_col(const ed_history *h, const char *kept);

/* Writes the history as JSON ({"epoch": [...], "train_loss": [...], "val_loss": [...],
 * "perplexity": [...], ..., "steps": {...}, "evals": {...}, "config": {...}}) and as CSV
 * (one row per epoch) next to it; `config_json` (may be NULL) is a JSON object text stored
 * under "config". Written to a temporary file and renamed, so readers never see half a file. */
int ed_history_write(const ed_history *h, const char *json_path, const char *config_json, ed_error *err);

/* ---- metrics.jsonl: the live log (src/history/metrics.c) ------------------------------
 * One JSON object per line, appended and flushed as the run goes, so a run can be watched
 * (`tail -f`, scripts/plot_history.py --follow) while it trains:
 *   {"type": "log", "step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s", "elapsed", "mfu",
 *    "loss_scale", "scale_skipped", "mem_private_mb", "mem_file_mb"}
 *   {"type": "val", "step", "epoch", "val_loss", "perplexity", "val_accuracy", "best"}
 *   {"type": "epoch", "step", "epoch", "train_loss", "val_loss", "perplexity",
 *    "val_accuracy", "lr", "seconds"}
 * Non-finite numbers are null. Only rank 0 writes. */
typedef struct ed_tb ed_tb; /* TensorBoard events (tensorboard.h) */
typedef struct {
    FILE *f;   /* NULL: closed, or not rank 0 */
    ed_tb *tb; /* NULL: no --tensorboard, its failure, or not rank 0; owned (closed with m) */
    char path[1100];
} ed_metrics;

/* Opens path for appending. A fresh run (resume_step < 0) starts the file anew. A resumed
 * run keeps the rows whose "step" is <= resume_step, the checkpoint's global step, and
 * drops the later ones (they were logged after that checkpoint and the resumed run logs
 * those steps again), rewriting the file atomically before appending. m->tb is NULL: the
 * caller may attach a TensorBoard writer (ed_tb_open). */
int ed_metrics_open(ed_metrics *m, const char *path, long resume_step, ed_error *err);
/* Closes metrics.jsonl and the TensorBoard writer. */
void ed_metrics_close(ed_metrics *m);

/* THE log call: appends r to the history (every rank calls it with the same row) and, where
 * `live` is open (rank 0), writes its metrics.jsonl line and TensorBoard scalars, flushed.
 * `live` may be NULL. */
void ed_log_row(ed_history *h, ed_metrics *live, const ed_row *r);

#endif
