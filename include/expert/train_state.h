/* train_state.h — the trainer's resumable state.
 *
 * Everything needed to continue a run bit-exactly lives in ed_train_state (plus the
 * model parameters and optimizer moments): checkpoints save and restore it whole.
 * The training history (what checkpoints also carry) is in history.h. */
#ifndef EXPERT_TRAIN_STATE_H
#define EXPERT_TRAIN_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "expert/common.h"
#include "expert/history.h"
#include "expert/optim.h"

typedef struct {
    int epoch;            /* epoch in progress (0-based); == epochs when finished */
    long step_in_epoch;   /* optimizer steps completed inside `epoch` */
    long epoch_windows;   /* windows of `epoch`'s permutation consumed: where the epoch resumes,
                           * whatever the global batch of the resumed run (dataset.h) */
    long global_step;     /* optimizer steps completed in total */
    double best_val_loss; /* +INFINITY until the first validation; the --best-metric value
                           * best.h5 holds, as a loss (lower is better): val_loss, or minus
                           * BLEU / ROUGE-L on the 0-100 scale */
    double patience_best; /* the same, best of the scheduled validations (epoch ends,
                           * --eval-interval), what early stopping compares with: the final
                           * validation of a run stopped in mid-epoch counts for best.h5
                           * only, so an interrupted + resumed run stops where an
                           * uninterrupted one would */
    int bad_evals;        /* scheduled validations in a row without improvement (early stopping) */
    int world_size;       /* of the run that wrote the state */
    uint64_t seed;        /* dropout masks are a pure function of (seed, global_step, slot): no generator
                           * position to save (train_step.c) */
    double elapsed;       /* seconds of training so far (across resumes) */
    long tokens_seen;     /* target tokens consumed, all ranks */
    int stop;             /* early stopping has fired */
    /* Running sums that feed the history. They are state, not locals, because a resume in
     * the middle of an epoch (or of a log interval) must report the same epoch train_loss
     * and log rows as the uninterrupted run: checkpoints must save them too. */
    double epoch_loss_sum; /* sum of per-token plain cross-entropies (no label smoothing: comparable
                            * with val_loss) of this epoch's steps, all ranks */
    long epoch_count;      /* ... and their number of target tokens */
    double log_loss_sum;   /* the same since the last log row */
    long log_count;
    long nan_skipped;      /* steps skipped because the loss or grad norm was NaN/Inf (--on-nan skip) */
    uint64_t data_fingerprint; /* ed_dataset_fingerprint of the training windows (0 = unknown,
                                * a file written before it was stored): a resume in mid-epoch
                                * on other data is refused (--allow-data-change) */
    ed_loss_scaler scaler; /* --precision fp16: the dynamic loss scale (scale 0 in other precisions) */
} ed_train_state;

void ed_train_state_init(ed_train_state *s, uint64_t seed, int world_size);

/* Where a run stands, as every line of output says it (docs/usage.md, "Numbers in the
 * output"): epochs count from 1, so "in epoch 2" while epoch 2 is under way, and
 * "2 epoch(s) done" at the boundary after it. */
void ed_train_state_where(const ed_train_state *s, char *buf, size_t len);

#endif
