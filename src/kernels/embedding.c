/* embedding.c — token + learned position embeddings (the "encoder" of llm.c); a llama
 * has token embeddings only (wpe NULL). */
#include <stddef.h>

#include "kernels.h"

/* out is (B,T,D), inp is (B,T) ids, wte is (V,D), wpe is (Tmax,D). */
void ED_KFN(encoder_forward)(float *out, const int32_t *inp, const int *pos, const float *wte, const float *wpe,
                             int B, int T, int D) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < B * T; n++) {
        float *o = out + (size_t)n * D;
        const float *e = wte + (size_t)inp[n] * D;
        if (!wpe) {
            for (int i = 0; i < D; i++) o[i] = e[i];
            continue;
        }
        const float *p = wpe + (size_t)(pos ? pos[n] : n % T) * D;
        for (int i = 0; i < D; i++) o[i] = e[i] + p[i];
    }
}

/* dout is (B,T,D). Several rows may share a token id, so threads split the D columns
 * instead of the rows: each thread owns a column slice of dwte and no two threads ever
 * write the same float. */
void ED_KFN(encoder_backward)(float *dwte, float *dwpe, const float *dout, const int32_t *inp, const int *pos,
                              int B, int T, int D) {
    const int CB = 64; /* column block: one thread's slice, a cache line multiple */
    int nblk = (D + CB - 1) / CB;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * CB, c1 = c0 + CB < D ? c0 + CB : D;
        for (int n = 0; n < B * T; n++) {
            const float *g = dout + (size_t)n * D;
            float *e = dwte + (size_t)inp[n] * D;
            if (!dwpe) {
                for (int i = c0; i < c1; i++) e[i] += g[i];
                continue;
            }
            float *p = dwpe + (size_t)(pos ? pos[n] : n % T) * D;
            for (int i = c0; i < c1; i++) {
                e[i] += g[i];
                p[i] += g[i];
            }
        }
    }
}
