/* optim_internal.h — AdamW's per-slice kernel (adamw.c) behind ed_optim_step (optim.c).
 * Its loop is orphaned `omp for nowait`: called inside a parallel region it shares
 * the work, called outside one they run serially. */
#ifndef ED_OPTIM_INTERNAL_H
#define ED_OPTIM_INTERNAL_H

#include <stddef.h>

/* AdamW on n contiguous elements (wd already 0 for non-decayed tensors); step >= 1. */
void adamw_update(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                  float beta2, float eps, float wd, long step);

#endif
