/* optim_internal.h — the per-slice update kernels (adamw.c, sgd.c) behind ed_optim_step.
 * Their loops are orphaned `omp for nowait`: called inside a parallel region they share
 * the work, called outside one they run serially. */
#ifndef ED_OPTIM_INTERNAL_H
#define ED_OPTIM_INTERNAL_H

#include <stddef.h>

/* AdamW on n contiguous elements (wd already 0 for non-decayed tensors); step >= 1. */
void adamw_update(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                  float beta2, float eps, float wd, long step);
/* SGD with momentum (dampening 0, no Nesterov) and L2 weight decay wd. */
void sgd_update(float *p, const float *g, float *buf, size_t n, float lr, float momentum, float wd);

#endif
