/* rmsnorm.c — RMSNorm over the last dimension (Llama; Hugging Face LlamaRMSNorm):
 *   out = w * x * rstd,  rstd = 1 / sqrt(mean(x^2) + eps). */
#include <math.h>
#include <stddef.h>

#include "kernels.h"

/* inp, out are (N,C); rstd is (N), saved for the backward. */
void ED_KFN(rmsnorm_forward)(float *out, float *rstd, const float *inp, const float *w, int N, int C, float eps) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int i = 0; i < C; i++) s += x[i] * x[i];
        float r = 1.0f / sqrtf(s / (float)C + eps);
        for (int i = 0; i < C; i++) o[i] = w[i] * (x[i] * r);
        rstd[n] = r;
    }
}

/* With xhat = x * rstd and g = dout * w:  dx = rstd * (g - xhat * mean(g * xhat)),
 * dw = sum over rows of dout * xhat. dinp ACCUMULATES (it is the residual gradient). */
void ED_KFN(rmsnorm_backward)(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                              const float *rstd, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float r = rstd[n], sgx = 0.0f;
#pragma omp simd reduction(+ : sgx)
        for (int i = 0; i < C; i++) sgx += g[i] * w[i] * x[i] * r;
        sgx /= (float)C;
        for (int i = 0; i < C; i++) dx[i] += r * (g[i] * w[i] - x[i] * r * sgx);
    }
    /* column sums: threads own column slices of dw (as layernorm_backward) */
    const int CB = 64;
    int nblk = (C + CB - 1) / CB;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * CB, c1 = c0 + CB < C ? c0 + CB : C;
        float aw[64] = {0};
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
            float r = rstd[n];
            for (int i = c0; i < c1; i++) aw[i - c0] += g[i] * (x[i] * r);
        }
        for (int i = c0; i < c1; i++) dw[i] += aw[i - c0];
    }
}
