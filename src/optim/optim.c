/* optim.c — optimizer state and the step dispatcher: walks the tensor table over the
 * owned range [lo, hi) so each piece knows whether it gets weight decay. */
#include <stdlib.h>

#include "expert/common.h"
#include "expert/optim.h"
#include "optim_internal.h"

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
