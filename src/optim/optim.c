/* optim.c — optimizer state, the step dispatcher (walks the tensor table over the owned
 * range [lo, hi) so each piece knows whether it gets weight decay), the clipping factor
 * and the learning-rate schedules. The per-element kernels, compiled once per ISA path,
 * are adamw.c, sgd.c and norm.c (the gradient's sum of squares and scaling). */
#include <math.h>
#include <stdlib.h>

#include "expert/common.h"
#include "expert/optim.h"
#include "../kernels/kernels.h"

const char *const ed_opt_kind_names[] = {"adamw", "sgd", NULL};
const char *const ed_sched_kind_names[] = {"constant", "linear", "cosine", NULL};

void ed_optim_init(ed_optim *o, ed_opt_kind kind, size_t lo, size_t hi, float beta1, float beta2,
                   float eps, float weight_decay, float momentum) {
    ED_CHECK(lo <= hi, "optimizer range [%zu, %zu) is inverted", lo, hi);
    o->kind = kind;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
    o->momentum = momentum;
    o->step = 0;
    o->lo = lo;
    o->hi = hi;
    o->m = ed_calloc(hi - lo, sizeof(float));
    o->v = kind == ED_OPT_ADAMW ? ed_calloc(hi - lo, sizeof(float)) : NULL;
}

void ed_optim_free(ed_optim *o) {
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

void ed_optim_step(ed_optim *o, float *params, const float *grads, const ed_tensor *tensors,
                   int num_tensors, float lr) {
    o->step++;
    /* One parallel region for the whole update: the kernels' loops are orphaned
     * `omp for ... nowait` worksharing, so the tensors do not each pay a fork/join. */
#pragma omp parallel
    for (int i = 0; i < num_tensors; i++) {
        size_t a = tensors[i].offset, b = a + tensors[i].numel;
        if (a < o->lo) a = o->lo;
        if (b > o->hi) b = o->hi;
        if (a >= b) continue;
        float wd = tensors[i].weight_decay ? o->weight_decay : 0.0f;
        size_t s = a - o->lo;
        if (o->kind == ED_OPT_ADAMW)
            adamw_update(params + a, grads + a, o->m + s, o->v + s, b - a, lr, o->beta1, o->beta2,
                         o->eps, wd, o->step);
        else
            sgd_update(params + a, grads + a, o->m + s, b - a, lr, o->momentum, wd);
    }
}

/* ---- clipping (torch.nn.utils.clip_grad_norm_ semantics) ---- */
/* clip_grad_norm_: coef = max_norm / (norm + 1e-6), applied only when coef < 1. */
float ed_clip_factor(double total_norm, float max_norm) {
    if (!(max_norm > 0.0f)) return 1.0f;
    double coef = (double)max_norm / (total_norm + 1e-6);
    return coef < 1.0 ? (float)coef : 1.0f;
}

/* ---- learning-rate schedules ----
 * Warmup is linear and reaches base_lr at the end of step warmup-1
 * (lr = base * (step+1)/warmup), so the very first step already moves. */
float ed_lr_at(ed_sched_kind kind, float base_lr, float min_lr, long warmup, long total, long step) {
    if (step < 0) step = 0;
    if (warmup > 0 && step < warmup) return base_lr * (float)(step + 1) / (float)warmup;
    if (kind == ED_SCHED_CONSTANT) return base_lr;
    long span = total - warmup;
    if (span <= 0) return min_lr;
    double progress = (double)(step - warmup) / (double)span; /* 0 at the end of warmup */
    if (progress > 1.0) progress = 1.0;
    if (kind == ED_SCHED_LINEAR) return (float)(base_lr + (min_lr - base_lr) * progress);
    return (float)(min_lr + 0.5 * (base_lr - min_lr) * (1.0 + cos(M_PI * progress)));
}
