/* train_state.h — the trainer's resumable state and the training history.
 *
 * Everything needed to continue a run bit-exactly lives in ed_train_state (plus the
 * model parameters and optimizer moments): checkpoints save and restore it whole.
 * The history is what the seed pipeline called `history` (train_loss, val_loss,
 * perplexity per epoch) plus per-log-interval rows; rank 0 owns it. */
#ifndef EXPERT_TRAIN_STATE_H
#define EXPERT_TRAIN_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "expert/common.h"
#include "expert/rng.h"

typedef struct {
    int epoch;            /* epoch in progress (0-based); == epochs when finished */
    long step_in_epoch;   /* optimizer steps completed inside `epoch` */
    long global_step;     /* optimizer steps completed in total */
    double best_val_loss; /* +INFINITY until the first validation */
    int bad_evals;        /* validations in a row without improvement (early stopping) */
    int world_size;       /* of the run that wrote the state */
    uint64_t seed;
    ed_rng dropout_rng;   /* advanced by dropout draws; identical on all ranks' schedule */
    double elapsed;       /* seconds of training so far (across resumes) */
    long tokens_seen;     /* target tokens consumed, all ranks */
    int stop;             /* early stopping has fired */
    /* Running sums that feed the history. They are state, not locals, because a resume in
     * the middle of an epoch (or of a log interval) must report the same epoch train_loss
     * and log rows as the uninterrupted run: checkpoints must save them too. */
    double epoch_loss_sum; /* sum of per-token losses of this epoch's steps, all ranks */
    long epoch_count;      /* ... and their number of target tokens */
    double log_loss_sum;   /* the same since the last log row */
    long log_count;
    long nan_skipped;      /* steps skipped because the loss or grad norm was NaN/Inf (--on-nan skip) */
} ed_train_state;

void ed_train_state_init(ed_train_state *s, uint64_t seed, int world_size);

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
} ed_history;

void ed_dcol_push(ed_dcol *c, double x);
void ed_history_free(ed_history *h);

/* Writes the history as JSON ({"train_loss": [...], "val_loss": [...], "perplexity": [...],
 * ..., "steps": {...}, "config": {...}}) and as CSV (one row per epoch) next to it;
 * `config_json` (may be NULL) is a JSON object text stored under "config".
 * Written to a temporary file and renamed, so readers never see half a file. */
int ed_history_write(const ed_history *h, const char *json_path, const char *config_json, ed_error *err);

#endif
