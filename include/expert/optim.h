/* optim.h — AdamW and SGD-with-momentum over the flat parameter buffer, gradient norm
 * and clipping, learning-rate schedules.
 *
 * Semantics follow PyTorch: AdamW with decoupled weight decay (p -= lr*wd*p before the
 * Adam update) and bias correction; weight decay only on tensors with weight_decay = 1
 * (2-D weights); SGD: buf = momentum*buf + g (buf = g on the first step), p -= lr*buf,
 * with L2 weight decay added to g. clip: PyTorch clip_grad_norm_ (scale by
 * max_norm / (norm + 1e-6) when norm > max_norm).
 *
 * Every update works on a range [lo, hi) of the flat buffer so that ZeRO-1 can update
 * only the slice a rank owns; optimizer state arrays are indexed from `lo` (state[0]
 * belongs to parameter lo). Bytes per parameter: AdamW 8 (m, v), SGD 4 (momentum). */
#ifndef EXPERT_OPTIM_H
#define EXPERT_OPTIM_H

#include <stddef.h>

#include "expert/gpt.h"

typedef enum { ED_OPT_ADAMW = 0, ED_OPT_SGD = 1 } ed_opt_kind;
/* "adamw", "sgd" (index = ed_opt_kind): --optimizer and the checkpoint's /optimizer kind. */
extern const char *const ed_opt_kind_names[];

typedef struct {
    ed_opt_kind kind;
    float beta1, beta2, eps, weight_decay, momentum;
    long step;       /* optimizer steps taken (AdamW bias correction uses step after ++) */
    size_t lo, hi;   /* the slice of the flat buffer this optimizer owns */
    float *m, *v;    /* AdamW moments [hi-lo]; SGD uses m as momentum buffer, v = NULL */
} ed_optim;

void ed_optim_init(ed_optim *o, ed_opt_kind kind, size_t lo, size_t hi, float beta1, float beta2,
                   float eps, float weight_decay, float momentum);
void ed_optim_free(ed_optim *o);

/* One update of params[lo..hi) from grads[lo..hi) with learning rate lr. The tensor
 * table tells which elements get weight decay. Increments o->step. */
void ed_optim_step(ed_optim *o, float *params, const float *grads, const ed_tensor *tensors,
                   int num_tensors, float lr);

/* Sum of squares of g[0..n) in double (reduce across ranks/shards, then sqrt). */
double ed_sumsq(const float *g, size_t n);
/* Multiplies g[0..n) by s. */
void ed_scale(float *g, size_t n, float s);
/* The factor clip_grad_norm_ applies for a given total norm (1 when no clipping). */
float ed_clip_factor(double total_norm, float max_norm);

/* ---- dynamic loss scaling (--precision fp16; src/optim/loss_scale.c) ----
 * PyTorch's GradScaler: fp16 GEMM operands hold magnitudes from 2^-24 to 65504, and many
 * activation gradients are smaller than 2^-24, so the loss gradient is multiplied by
 * `scale` before the backward (the small ones survive the rounding) and the gradients are
 * divided by it again after the reduction, before clipping and the update (clipping sees
 * true gradients, like GradScaler.unscale_). A step whose unscaled gradients hold an Inf
 * or NaN (a scaled value overflowed fp16) is skipped and the scale halved; after
 * `growth_interval` clean steps in a row it doubles. The state is part of the trainer's
 * resumable state (train_state.h) and of checkpoints. */
typedef struct {
    double scale;        /* current loss scale; 0 = not scaling (an fp32 or bf16 run) */
    long growth_tracker; /* clean steps since the scale last changed */
    long skipped;        /* steps skipped for an overflow, the whole run across resumes */
} ed_loss_scaler;

/* Starts scaling at init_scale (> 0) with an empty tracker; `skipped` is kept. */
void ed_loss_scaler_init(ed_loss_scaler *s, double init_scale);
/* The scaler's verdict on one step, GradScaler.update() with growth factor 2 and backoff
 * factor 0.5: found_inf -> scale /= 2, tracker = 0, skipped++; else tracker++, and when it
 * reaches growth_interval (>= 1) scale *= 2, tracker = 0. Both factors are exact, so the
 * scale is always the initial one times a power of two. */
void ed_loss_scaler_update(ed_loss_scaler *s, int found_inf, long growth_interval);

typedef enum { ED_SCHED_CONSTANT = 0, ED_SCHED_LINEAR = 1, ED_SCHED_COSINE = 2 } ed_sched_kind;
/* "constant", "linear", "cosine" (index = ed_sched_kind): --lr-schedule. */
extern const char *const ed_sched_kind_names[];

/* Learning rate at optimizer step `step` (0-based) of `total` steps: linear warmup from
 * 0 over `warmup` steps, then constant, linear decay to min_lr, or cosine to min_lr.
 * Exactly: step < warmup -> base_lr*(step+1)/warmup (the first step already moves and
 * step warmup-1 uses base_lr); then with progress = (step-warmup)/(total-warmup) clamped
 * to [0,1]: linear base + (min-base)*progress, cosine min + (base-min)*(1+cos(pi*progress))/2.
 * SGD, like AdamW, applies weight decay only to tensors with weight_decay = 1. */
float ed_lr_at(ed_sched_kind kind, float base_lr, float min_lr, long warmup, long total, long step);

#endif
