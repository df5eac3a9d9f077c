/* layernorm.c — LayerNorm over the last dimension, eps 1e-5 (torch.nn.LayerNorm). */
#include <math.h>
#include <stddef.h>

#include "kernels.h"

#define LN_EPS 1e-5f

/* inp, out are (N,C); mean, rstd are (N). Two passes (mean, then the centred variance)
 * rather than E[x^2]-E[x]^2: the one-pass form loses digits when |mean| >> std, which
 * happens in the residual stream. */
void ED_KFN(layernorm_forward)(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int i = 0; i < C; i++) s += x[i];
        float m = s / (float)C;
        float v = 0.0f;
#pragma omp simd reduction(+ : v)
        for (int i = 0; i < C; i++) {
            float d = x[i] - m;
            v += d * d;
        }
        float r = 1.0f / sqrtf(v / (float)C + LN_EPS);
        for (int i = 0; i < C; i++) o[i] = (x[i] - m) * r * w[i] + b[i];
        mean[n] = m;
        rstd[n] = r;
    }
}

/* dinp, dout, inp are (N,C); dw, db are (C). With xhat = (x-mean)*rstd and
 * g = dout*w:  dx = rstd * (g - mean(g) - xhat * mean(g*xhat)). */
void ED_KFN(layernorm_backward)(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        float m = mean[n], r = rstd[n];
        float sg = 0.0f, sgx = 0.0f;
#pragma omp simd reduction(+ : sg, sgx)
        for (int i = 0; i < C; i++) {
            float gi = g[i] * w[i];
            sg += gi;
            sgx += gi * (x[i] - m) * r;
        }
        sg /= (float)C;
        sgx /= (float)C;
        for (int i = 0; i < C; i++) {
            float xh = (x[i] - m) * r;
            dx[i] += r * (g[i] * w[i] - sg - xh * sgx);
        }
    }
    /* Parameter gradients are column sums over all rows: threads split the columns so
     * each owns its slice of dw/db (no atomics, no per-thread copies). */
    const int CB = 64;
    int nblk = (C + CB - 1) / CB;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * CB, c1 = c0 + CB < C ? c0 + CB : C;
        float aw[64] = {0}, ab[64] = {0};
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
            float m = mean[n], r = rstd[n];
            for (int i = c0; i < c1; i++) {
                aw[i - c0] += g[i] * (x[i] - m) * r;
                ab[i - c0] += g[i];
            }
        }
        for (int i = c0; i < c1; i++) {
            dw[i] += aw[i - c0];
            db[i] += ab[i - c0];
        }
    }
}
