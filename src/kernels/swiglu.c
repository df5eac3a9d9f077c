/* swiglu.c — Llama's gated MLP activation: out = silu(g) * u on the fused gate|up rows
 * (silu(g) = g * sigmoid(g), PyTorch F.silu). */
#include <stddef.h>

#include "vmath.h"
#include "kernels.h"

/* gu is (N, 2FF): row n holds gate[0..FF) then up[0..FF); out is (N, FF). */
void ED_KFN(swiglu_forward)(float *out, const float *gu, int N, int FF) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * FF, *u = g + FF;
        float *o = out + (size_t)n * FF;
#pragma omp simd
        for (int i = 0; i < FF; i++) {
            float sg = 1.0f / (1.0f + ed_expf(-g[i]));
            o[i] = g[i] * sg * u[i];
        }
    }
}

/* d/dg silu(g) = sig (1 + g (1 - sig)):  dg = dout u sig (1 + g (1 - sig)),
 * du = dout silu(g). dgu is (N, 2FF) like gu and must not alias it or dout. */
void ED_KFN(swiglu_backward)(float *dgu, const float *gu, const float *dout, int N, int FF) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * FF, *u = g + FF, *d = dout + (size_t)n * FF;
        float *dg = dgu + (size_t)n * 2 * FF, *du = dg + FF;
#pragma omp simd
        for (int i = 0; i < FF; i++) {
            float sg = 1.0f / (1.0f + ed_expf(-g[i]));
            dg[i] = d[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
            du[i] = d[i] * g[i] * sg;
        }
    }
}
