/* bench_attention_gemm.c — the attention kernel as it was before tiling (commit ad23c88,
 * src/kernels/attention.c): per (batch, head) row blocks of ed_gemm products against the
 * full (B,H,T,T) probability matrix. Kept only as the yardstick of ed-bench-attention
 * (the speed claim of the tiled kernel is a ratio to it, measured in one process); the
 * engine does not link it. Compiled with the avx512 path's flags where the build has
 * them, as the engine compiled it (tests/bench/CMakeLists.txt). */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "expert/rng.h"
#include "vmath.h"
#include "kernels.h"
#include "bench_attention.h"

/* qkv is (B,T,(H+2G)hd), out is (B,T,D), att/attd are (B,H,T,T). */
void old_attention_forward(ed_gemm_ctx *g, float *out, float *att, float *attd, const float *qkv, const int *seg,
                               int B, int T, int D, int H, int G, float p, uint64_t seed) {
    const int hd = D / H, ld = D + 2 * G * hd, group = H / G;
    const float scale = 1.0f / sqrtf((float)hd);
    const float keep_scale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    int nb = ed_blas_serial_begin();
#pragma omp parallel for schedule(dynamic, 1)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        const float *row = qkv + (size_t)b * T * ld, *Q = row + (size_t)h * hd;
        const float *K = row + D + (size_t)(h / group) * hd, *V = K + (size_t)G * hd;
        float *S = att + (size_t)bh * T * T;
        float *Sd = attd ? attd + (size_t)bh * T * T : S;
        float *Y = out + (size_t)b * T * D + (size_t)h * hd;
        const int *sg = seg ? seg + (size_t)b * T : NULL;
        ed_rng rng;
        if (attd) ed_rng_seed(&rng, seed, (uint64_t)bh);
        for (int r0 = 0; r0 < T; r0 += ED_ATT_BLOCK) {
            int r1 = r0 + ED_ATT_BLOCK < T ? r0 + ED_ATT_BLOCK : T, rows = r1 - r0;
            /* the block's rows see keys [k0, r1) at most (seg is non-decreasing) */
            int k0 = sg ? sg[r0] : 0;
            /* S[r0:r1, k0:r1] = scale * Q[r0:r1] K[k0:r1]^T */
            ed_gemm(g, 0, 1, rows, r1 - k0, hd, scale, Q + (size_t)r0 * ld, ld, K + (size_t)k0 * ld, ld, 0.0f,
                    S + (size_t)r0 * T + k0, T);
            for (int i = r0; i < r1; i++) {
                float *s = S + (size_t)i * T;
                int lo = sg ? sg[i] : 0;
                float mx = ed_vmax(s + lo, i + 1 - lo);
                float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
                for (int j = lo; j <= i; j++) {
                    s[j] = ed_expf(s[j] - mx);
                    sum += s[j];
                }
                float inv = 1.0f / sum;
                for (int j = lo; j <= i; j++) s[j] *= inv;
                memset(s, 0, (size_t)lo * sizeof(float));
                memset(s + i + 1, 0, (size_t)(T - i - 1) * sizeof(float));
                if (attd) {
                    float *sd = Sd + (size_t)i * T;
                    for (int j = lo; j <= i; j++)
                        sd[j] = ed_rng_uniform(&rng) >= p ? s[j] * keep_scale : 0.0f;
                    memset(sd, 0, (size_t)lo * sizeof(float));
                    memset(sd + i + 1, 0, (size_t)(T - i - 1) * sizeof(float));
                }
            }
            /* Y[r0:r1] = P[r0:r1, k0:r1] V[k0:r1] */
            ed_gemm(g, 0, 0, rows, hd, r1 - k0, 1.0f, Sd + (size_t)r0 * T + k0, T, V + (size_t)k0 * ld, ld, 0.0f,
                    Y + (size_t)r0 * D, D);
        }
    }
    ed_blas_serial_end(nb);
}

/* dout is (B,T,D), dqkv is (B,T,(H+2G)hd). scratch holds ED_ATT_BLOCK*T floats per OpenMP
 * thread (dP/dS of one row block). The query heads that share a key/value head add into
 * the same dK/dV, so a thread takes one (batch, key/value head) and runs its group of
 * query heads in order (G = H: one head each, as plain attention). Blocks run from the
 * last to the first so that the group's first sgemm into dK/dV (the last block of its
 * first head, which spans all T keys) can overwrite (beta 0) and the others accumulate. */
void old_attention_backward(ed_gemm_ctx *g, float *dqkv, float *scratch, const float *dout, const float *qkv,
                                const float *att, const float *attd, const int *seg, int B, int T, int D, int H,
                                int G, float p, int threads) {
    const int hd = D / H, ld = D + 2 * G * hd, group = H / G;
    const float scale = 1.0f / sqrtf((float)hd);
    const float keep_scale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    int nb = ed_blas_serial_begin();
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int bk = 0; bk < B * G; bk++) {
        int b = bk / G, kh = bk % G;
        size_t base = (size_t)b * T * ld, koff = base + D + (size_t)kh * hd;
        const float *K = qkv + koff, *V = K + (size_t)G * hd;
        float *dK = dqkv + koff, *dV = dK + (size_t)G * hd;
        float *dS = scratch + (size_t)omp_get_thread_num() * ED_ATT_BLOCK * T;
        const int *sg = seg ? seg + (size_t)b * T : NULL;
        /* With segments the last block no longer spans every key, so dK/dV start at zero
         * and every product accumulates. */
        if (sg)
            for (int t = 0; t < T; t++) {
                memset(dK + (size_t)t * ld, 0, (size_t)hd * sizeof(float));
                memset(dV + (size_t)t * ld, 0, (size_t)hd * sizeof(float));
            }
        for (int h = kh * group; h < (kh + 1) * group; h++) {
            int bh = b * H + h;
            const float *Q = qkv + base + (size_t)h * hd;
            float *dQ = dqkv + base + (size_t)h * hd;
            const float *P = att + (size_t)bh * T * T;
            const float *Pd = attd ? attd + (size_t)bh * T * T : P;
            const float *dY = dout + (size_t)b * T * D + (size_t)h * hd;
            int last = (T - 1) / ED_ATT_BLOCK * ED_ATT_BLOCK;
            for (int r0 = last; r0 >= 0; r0 -= ED_ATT_BLOCK) {
                int r1 = r0 + ED_ATT_BLOCK < T ? r0 + ED_ATT_BLOCK : T, rows = r1 - r0;
                float beta = !sg && r0 == last && h == kh * group ? 0.0f : 1.0f;
                int k0 = sg ? sg[r0] : 0, n = r1 - k0; /* keys [k0, r1) */
                /* dV[k0:r1] += Pd[r0:r1, k0:r1]^T dY[r0:r1] */
                ed_gemm(g, 1, 0, n, hd, rows, 1.0f, Pd + (size_t)r0 * T + k0, T, dY + (size_t)r0 * D, D, beta,
                        dV + (size_t)k0 * ld, ld);
                /* dP[0:rows, 0:n] = dY[r0:r1] V[k0:r1]^T */
                ed_gemm(g, 0, 1, rows, n, hd, 1.0f, dY + (size_t)r0 * D, D, V + (size_t)k0 * ld, ld, 0.0f, dS, n);
                /* softmax backward: dS = scale * P (dP - sum_j P dP); a dropped probability
                 * (attd == 0) passed no gradient, so its dP is 0. */
                for (int i = r0; i < r1; i++) {
                    /* row i's columns are keys k0 + c; it saw keys [lo, i] */
                    const float *pr = P + (size_t)i * T + k0;
                    float *gr = dS + (size_t)(i - r0) * n;
                    int lo = (sg ? sg[i] : 0) - k0, hi = i - k0;
                    if (attd) {
                        const float *pd = Pd + (size_t)i * T + k0;
                        for (int j = lo; j <= hi; j++) gr[j] = pd[j] != 0.0f ? gr[j] * keep_scale : 0.0f;
                    }
                    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
                    for (int j = lo; j <= hi; j++) dot += pr[j] * gr[j];
                    for (int j = lo; j <= hi; j++) gr[j] = scale * pr[j] * (gr[j] - dot);
                    for (int j = 0; j < lo; j++) gr[j] = 0.0f;
                    for (int j = hi + 1; j < n; j++) gr[j] = 0.0f;
                }
                /* dQ[r0:r1] = dS K[k0:r1];  dK[k0:r1] += dS^T Q[r0:r1] */
                ed_gemm(g, 0, 0, rows, hd, n, 1.0f, dS, n, K + (size_t)k0 * ld, ld, 0.0f, dQ + (size_t)r0 * ld, ld);
                ed_gemm(g, 1, 0, n, hd, rows, 1.0f, dS, n, Q + (size_t)r0 * ld, ld, beta, dK + (size_t)k0 * ld, ld);
            }
        }
    }
    ed_blas_serial_end(nb);
}
