/* adamw.c — AdamW exactly as torch.optim.AdamW (foreach=False, amsgrad=False):
 *   p *= 1 - lr*wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *   p -= (lr / (1-b1^t)) * m / (sqrt(v) / sqrt(1-b2^t) + eps)
 * with the same operation order, so a float run tracks PyTorch to rounding. */
#include <math.h>

#include "kernels.h"

void ED_KFN(adamw_update)(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                  float beta2, float eps, float wd, long step) {
    double bc1 = 1.0 - pow((double)beta1, (double)step);
    double bc2 = 1.0 - pow((double)beta2, (double)step);
    const float step_size = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay = 1.0f - lr * wd;
    /* Memory-bound (28 bytes/parameter). It vectorises because kernels are compiled with
     * -fno-math-errno (CMakeLists.txt): otherwise sqrtf might set errno and the loop
     * stays scalar; vector and scalar square roots are both correctly rounded. */
#pragma omp for schedule(static) nowait
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        p[i] = p[i] * decay - step_size * (mi / denom);
    }
}
