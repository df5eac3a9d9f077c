/* columns.c — the history schema (include/expert/history.h): one table row per column,
 * read by every writer (history.json/csv in history.c, metrics.jsonl in metrics.c, the
 * checkpoint's /history in src/checkpoint, TensorBoard in tensorboard.c), and ed_log_row,
 * the one call that hands a row to all of them. */
#include <stddef.h>
#include <string.h>

#include "expert/tensorboard.h"
#include "history_internal.h"

#define V(f) offsetof(ed_row, f)
#define LOG ED_ROW_LOG
#define VAL ED_ROW_VAL
#define EPOCH ED_ROW_EPOCH
#define INT ED_COL_INT
#define REAL ED_COL_REAL
#define BOOL ED_COL_BOOL

const ed_column ed_columns[] = {
    /* kind type  value            kept (checkpoint)   history.json     metrics.jsonl   TensorBoard          since */
    {LOG,   INT,  V(step),         "log_step",         "step",          "step",         NULL,                 1},
    {LOG,   INT,  V(epoch),        "log_epoch",        "epoch",         "epoch",        NULL,                 1},
    {LOG,   REAL, V(loss),         "log_loss",         "loss",          "loss",         "train/loss",         1},
    {LOG,   REAL, V(lr),           "log_lr",           "lr",            "lr",           "train/lr",           1},
    {LOG,   REAL, V(grad_norm),    "log_grad_norm",    "grad_norm",     "grad_norm",    "train/grad_norm",    1},
    {LOG,   REAL, V(tokens_per_s), "log_tokens_per_s", "tokens_per_s",  "tokens_per_s", "train/tokens_per_s", 1},
    {LOG,   REAL, V(elapsed),      "log_elapsed",      "elapsed",       "elapsed",      NULL,                 1},
    {LOG,   REAL, V(mfu),          NULL,               NULL,            "mfu",          "train/mfu",          0},
    /* --precision fp16's loss scaler (expert/optim.h): added without a format version */
    {LOG,   REAL, V(loss_scale),   "log_loss_scale",   "loss_scale",    "loss_scale",   "train/loss_scale",   ED_SINCE_ANY},
    {LOG,   INT,  V(scale_skipped), "log_scale_skipped", "scale_skipped", "scale_skipped", NULL,              ED_SINCE_ANY},
    /* rank 0's memory at the row (docs/memory.md): live only, like mfu (ranks differ) */
    {LOG,   REAL, V(mem_private),  NULL,               NULL,            "mem_private_mb", NULL,               0},
    {LOG,   REAL, V(mem_file),     NULL,               NULL,            "mem_file_mb",  NULL,                 0},

    {VAL,   INT,  V(step),         "eval_step",        "step",          "step",         NULL,                 2},
    {VAL,   INT,  V(epoch),        "eval_epoch",       "epoch",         "epoch",        NULL,                 2},
    {VAL,   REAL, V(val_loss),     "eval_loss",        "val_loss",      "val_loss",     "val/loss",           2},
    {VAL,   REAL, V(perplexity),   "eval_perplexity",  "perplexity",    "perplexity",   "val/perplexity",     2},
    {VAL,   REAL, V(accuracy),     "eval_accuracy",    "accuracy",      "val_accuracy", "val/accuracy",       2},
    {VAL,   BOOL, V(best),         NULL,               NULL,            "best",         NULL,                 0},
    /* --val-generate (include/expert/geneval.h): added without a format version */
    {VAL,   REAL, V(bleu),         "eval_bleu",        "bleu",          "bleu",         "val/bleu",           ED_SINCE_ANY},
    {VAL,   REAL, V(rouge1),       "eval_rouge1",      "rouge1",        "rouge1",       "val/rouge1",         ED_SINCE_ANY},
    {VAL,   REAL, V(rouge2),       "eval_rouge2",      "rouge2",        "rouge2",       "val/rouge2",         ED_SINCE_ANY},
    {VAL,   REAL, V(rougeL),       "eval_rougeL",      "rougeL",        "rougeL",       "val/rougeL",         ED_SINCE_ANY},

    /* per epoch: the seed pipeline's history; TensorBoard has these values from the log
     * and validation rows of the same step already */
    {EPOCH, INT,  V(step),         NULL,               NULL,            "step",         NULL,                 0},
    {EPOCH, INT,  V(epoch),        "epoch",            "epoch",         "epoch",        NULL,                 1},
    {EPOCH, REAL, V(train_loss),   "train_loss",       "train_loss",    "train_loss",   NULL,                 1},
    {EPOCH, REAL, V(val_loss),     "val_loss",         "val_loss",      "val_loss",     NULL,                 1},
    {EPOCH, REAL, V(perplexity),   "perplexity",       "perplexity",    "perplexity",   NULL,                 1},
    {EPOCH, REAL, V(accuracy),     "val_accuracy",     "val_accuracy",  "val_accuracy", NULL,                 1},
    {EPOCH, REAL, V(lr),           "lr",               "lr",            "lr",           NULL,                 1},
    {EPOCH, REAL, V(seconds),      "epoch_seconds",    "epoch_seconds", "seconds",      NULL,                 1},
};
const size_t ed_ncolumns = sizeof ed_columns / sizeof ed_columns[0];
_Static_assert(sizeof ed_columns / sizeof ed_columns[0] <= ED_HISTORY_MAX_COLUMNS,
               "raise ED_HISTORY_MAX_COLUMNS");

const char *const ed_row_kind_names[ED_ROW_KINDS] = {"log", "val", "epoch"};
const char *const ed_row_kind_json[ED_ROW_KINDS] = {"steps", "evals", NULL};

double ed_row_value(const ed_row *r, const ed_column *c) {
    double x;
    memcpy(&x, (const char *)r + c->value, sizeof x);
    return x;
}

const ed_dcol *ed_history_col(const ed_history *h, const char *kept) {
    for (size_t i = 0; i < ed_ncolumns; i++)
        if (ed_columns[i].kept && strcmp(ed_columns[i].kept, kept) == 0) return &h->col[i];
    return NULL;
}

void ed_log_row(ed_history *h, ed_metrics *live, const ed_row *r) {
    for (size_t i = 0; i < ed_ncolumns; i++)
        if (ed_columns[i].kind == r->kind && ed_columns[i].kept) ed_dcol_push(&h->col[i], ed_row_value(r, &ed_columns[i]));
    if (!live) return;
    metrics_write_row(live, r);
    ed_tb_scalars(live->tb, r);
}
