/* sgd.c — SGD as torch.optim.SGD (dampening 0, nesterov off):
 *   g += wd p;  buf = momentum buf + g (buf = g on the first step, which is what a
 *   zero-initialised buf gives);  p -= lr buf.  With momentum 0 buf is just g. */
#include "kernels.h"

void ED_KFN(sgd_update)(float *p, const float *g, float *buf, size_t n, float lr, float momentum,
                float wd) {
#pragma omp for simd schedule(static) nowait
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        float b = momentum * buf[i] + gi;
        buf[i] = b;
        p[i] -= lr * b;
    }
}
