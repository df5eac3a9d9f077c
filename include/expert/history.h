/* history.h — the training history (src/history/).
 *
 * The history is what the seed pipeline called `history` (train_loss, val_loss,
 * perplexity per epoch) plus per-log-interval rows; rank 0 owns it, checkpoints carry it
 * (/history) so a resumed run continues the same curves. */
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

typedef struct {
    /* one row per epoch (validation results are NAN when there is no val set) */
    ed_dcol epoch, train_loss, val_loss, perplexity, val_accuracy, lr, epoch_seconds;
    /* one row per log interval */
    ed_dcol log_step, log_epoch, log_loss, log_lr, log_grad_norm, log_tokens_per_s, log_elapsed;
    /* one row per validation: at epoch ends, every --eval-interval steps and the final one
     * of a run that stops in mid-epoch (max-steps, a signal); eval_step is the global step */
    ed_dcol eval_step, eval_epoch, eval_loss, eval_perplexity, eval_accuracy;
} ed_history;

void ed_dcol_push(ed_dcol *c, double x);
void ed_history_free(ed_history *h);

/* Writes the history as JSON ({"train_loss": [...], "val_loss": [...], "perplexity": [...],
 * ..., "steps": {...}, "evals": {...}, "config": {...}}) and as CSV (one row per epoch) next to it;
 * `config_json` (may be NULL) is a JSON object text stored under "config".
 * Written to a temporary file and renamed, so readers never see half a file. */
int ed_history_write(const ed_history *h, const char *json_path, const char *config_json, ed_error *err);

/* ---- metrics.jsonl: the live log (src/history/metrics.c) ------------------------------
 * One JSON object per line, appended and flushed as the run goes, so a run can be watched
 * (`tail -f`, scripts/plot_history.py --follow) while it trains:
 *   {"type": "log", "step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s", "elapsed"}
 *   {"type": "val", "step", "epoch", "val_loss", "perplexity", "val_accuracy", "best"}
 *   {"type": "epoch", "step", "epoch", "train_loss", "val_loss", "perplexity",
 *    "val_accuracy", "lr", "seconds"}
 * Non-finite numbers are null. Only rank 0 writes. */
typedef struct {
    FILE *f; /* NULL: closed, or not rank 0 */
    char path[1100];
} ed_metrics;

/* Opens path for appending. A fresh run (resume_step < 0) starts the file anew. A resumed
 * run keeps the rows whose "step" is <= resume_step, the checkpoint's global step, and
 * drops the later ones (they were logged after that checkpoint and the resumed run logs
 * those steps again), rewriting the file atomically before appending. */
int ed_metrics_open(ed_metrics *m, const char *path, long resume_step, ed_error *err);
void ed_metrics_close(ed_metrics *m);
/* Each writes one line and flushes; a no-op when m->f is NULL. */
void ed_metrics_log(ed_metrics *m, long step, int epoch, double loss, double lr, double grad_norm,
                    double tokens_per_s, double elapsed);
void ed_metrics_val(ed_metrics *m, long step, int epoch, double val_loss, double perplexity,
                    double val_accuracy, int best);
void ed_metrics_epoch(ed_metrics *m, long step, int epoch, double train_loss, double val_loss,
                      double perplexity, double val_accuracy, double lr, double seconds);

#endif
