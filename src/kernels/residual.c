/* residual.c — inverted dropout on a residual branch, fused with the residual add. */
#include <stddef.h>

#include "expert/rng.h"
#include "kernels.h"

/* Masks are drawn in fixed chunks, each from its own stream of `seed`, so the mask is the
 * same whatever the OpenMP thread count. */
#define DROP_CHUNK 4096

void ED_KFN(dropout_mask)(uint8_t *mask, size_t n, float p, uint64_t seed) {
    size_t nchunks = (n + DROP_CHUNK - 1) / DROP_CHUNK;
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < nchunks; c++) {
        ed_rng rng;
        ed_rng_seed(&rng, seed, (uint64_t)c);
        size_t i1 = (c + 1) * DROP_CHUNK < n ? (c + 1) * DROP_CHUNK : n;
        for (size_t i = c * DROP_CHUNK; i < i1; i++) mask[i] = ed_rng_uniform(&rng) >= p;
    }
}

/* out, res, branch, mask are (n). */
void ED_KFN(residual_dropout_forward)(float *out, const float *res, const float *branch,
                              const uint8_t *mask, float p, size_t n) {
    const float s = 1.0f / (1.0f - p);
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = res[i] + (mask[i] ? branch[i] * s : 0.0f);
}

void ED_KFN(dropout_backward)(float *dbranch, const float *dout, const uint8_t *mask, float p, size_t n) {
    const float s = 1.0f / (1.0f - p);
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) dbranch[i] = mask[i] ? dout[i] * s : 0.0f;
}

/* out[N,C] = res + bias (broadcast over rows): the start value onto which the branch's
 * GEMM accumulates, so residual add and bias cost one pass and no extra buffer. */
void ED_KFN(residual_bias_init)(float *out, const float *res, const float *bias, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *o = out + (size_t)n * C;
        const float *r = res + (size_t)n * C;
        for (int j = 0; j < C; j++) o[j] = r[j] + bias[j];
    }
}
