/* attention.c — causal multi-head (or grouped-query) softmax attention on the fused qkv
 * buffer, tiled in the manner of FlashAttention-2: no T x T matrix exists anywhere.
 *
 * Forward, per (batch, head) and query block of ED_ATT_BLOCK rows: the key blocks the
 * rows can see are visited in order, and each row keeps a running maximum m and sum l of
 * its exponentials (online softmax), rescaling its output accumulator when m grows. The
 * result saved for the backward is one number per row, lse = m + log l.
 *
 * Backward, per (batch, key/value head) and key block: every query block that sees the
 * block recomputes its score tile from Q, K and lse (P = exp(S - lse) is the normalised
 * probability), and with D_i = rowsum(dO_i * O_i) the softmax gradient is dS = P (dP - D)
 * (dP = dO V^T), so no row sums over the full row are needed. dK and dV of the block
 * accumulate in the thread's tile while the query blocks go by; dQ accumulates in a
 * per-head buffer. The query heads of a group (GQA) run on one thread, in order, since
 * they add into the same dK and dV.
 *
 * Tiles entirely above the diagonal or before a row's segment start (seg) are never
 * visited, so a row packed with many short windows costs what its windows cost.
 *
 * The tile products are this file's own register-blocked micro-kernel (mm), not
 * ed_gemm: a 64 x 64 x hd product is ~0.5 MFLOP, and a BLAS call at that size spends a
 * large share of its time packing operands (docs/memory.md, the attention benchmark).
 * It is written with GCC/Clang vector extensions so each ISA copy of this file (kernels.h)
 * gets registers of its own width: the accumulators of a 4-row x NV-vector block stay in
 * registers, which plain loops left to the vectoriser did not achieve.
 *
 * Half precision keeps ed_gemm's contract (src/gemm/gemm.c): every product's operands are
 * rounded to bf16 / fp16 (Q, K, V, dO once per head; the normalised probability and dS
 * tiles before they are multiplied), and products accumulate in fp32. The forward then
 * takes a statistics pass before the output pass (see there).
 *
 * Dropout on the probabilities is a pure function of (seed, b*H+h, i, j) — a counter-based
 * hash, not a stream — so the backward regenerates the mask tile by tile, and the result
 * depends neither on the thread count nor on the tiling. */
#include <limits.h>
#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif
#include <math.h>
#include <omp.h>
#include <string.h>

#include "expert/common.h"
#include "expert/half.h"
#include "vmath.h"
#include "kernels.h"

#define BLK ED_ATT_BLOCK
/* Diagonal tiles (key block = query block) are multiplied in groups of DG rows, each
 * only as far as the causal mask lets it see: 5/8 of the full tile's products. */
#define DG 16

/* Vector width (floats) and the accumulator block's width in vectors, per ISA copy:
 * 4 rows x NV vectors of accumulators plus NV loaded vectors fit the register file
 * (32 zmm; 16 ymm; 16 xmm where one 4-float vector is one register). */
#if defined(__AVX512F__)
#define VW 16
#define NV 4
#elif defined(__AVX2__)
#define VW 8
#define NV 2
#else
#define VW 4
#define NV 2
#endif
/* unaligned, and allowed to alias the float arrays it is loaded from */
typedef float vf __attribute__((vector_size(VW * sizeof(float)), aligned(sizeof(float)), may_alias));

/* acc + a * b, fused where the path has FMA: the build is ISO C (-std=c11), under which
 * GCC does not contract a*b+c, and separate multiply and add halve the tile products'
 * throughput. */
#if defined(__AVX512F__)
#define VFMA(acc, a, b) ((vf)_mm512_fmadd_ps(_mm512_set1_ps(a), (__m512)(b), (__m512)(acc)))
#elif defined(__FMA__)
#define VFMA(acc, a, b) ((vf)_mm256_fmadd_ps(_mm256_set1_ps(a), (__m256)(b), (__m256)(acc)))
#else
#define VFMA(acc, a, b) ((acc) + (a) * (b))
#endif

/* C[mr, nv*VW] (+)= A[mr, K] B[K, nv*VW] (row-major, leading dimensions; C's old value
 * read only when acc_c), mr and nv constants after inlining so acc lives in registers. */
static inline __attribute__((always_inline)) void mm_block(const int mr, const int nv, int acc_c, int K,
                                                          const float *A, int lda, const float *B, int ldb, float *C,
                                                          int ldc) {
    vf acc[4][NV];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = acc_c ? *(const vf *)(C + (size_t)r * ldc + v * VW) : (vf){0};
    for (int k = 0; k < K; k++) {
        vf b[NV];
        for (int v = 0; v < nv; v++) b[v] = *(const vf *)(B + (size_t)k * ldb + v * VW);
        for (int r = 0; r < mr; r++) {
            float a = A[(size_t)r * lda + k];
            for (int v = 0; v < nv; v++) acc[r][v] = VFMA(acc[r][v], a, b[v]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) *(vf *)(C + (size_t)r * ldc + v * VW) = acc[r][v];
}

#if NV == 4
#define MM_NV(mr)                                                                                                  \
    switch (nv) {                                                                                                  \
    case 4: mm_block(mr, 4, acc_c, K, a, lda, b, ldb, c, ldc); break;                                                     \
    case 3: mm_block(mr, 3, acc_c, K, a, lda, b, ldb, c, ldc); break;                                                     \
    case 2: mm_block(mr, 2, acc_c, K, a, lda, b, ldb, c, ldc); break;                                                     \
    default: mm_block(mr, 1, acc_c, K, a, lda, b, ldb, c, ldc); break;                                                    \
    }
#else
#define MM_NV(mr)                                                                                                  \
    switch (nv) {                                                                                                  \
    case 2: mm_block(mr, 2, acc_c, K, a, lda, b, ldb, c, ldc); break;                                                     \
    default: mm_block(mr, 1, acc_c, K, a, lda, b, ldb, c, ldc); break;                                                    \
    }
#endif

/* C[M,N] = A[M,K] B[K,N] (+ C when acc_c); N a multiple of VW (the buffers are padded to
 * make it so). */
static void mm(int acc_c, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) {
    for (int n0 = 0; n0 < N; n0 += NV * VW) {
        int nv = (N - n0) / VW < NV ? (N - n0) / VW : NV;
        const float *b = B + n0;
        int i = 0;
        for (; i + 4 <= M; i += 4) {
            const float *a = A + (size_t)i * lda;
            float *c = C + (size_t)i * ldc + n0;
            MM_NV(4)
        }
        for (; i < M; i++) {
            const float *a = A + (size_t)i * lda;
            float *c = C + (size_t)i * ldc + n0;
            MM_NV(1)
        }
    }
}

/* x[0..n) rounded in place to the operand format of precision prec (no-op for fp32).
 * bf16 inline so it vectorises in this ISA copy; fp16 through half.c. */
static void round_operand(ed_precision prec, float *x, size_t n) {
    if (prec == ED_PREC_BF16) {
        uint32_t *u = (uint32_t *)(void *)x;
        for (size_t i = 0; i < n; i++) u[i] = ed_bf16_round_bits(u[i]);
    } else if (prec == ED_PREC_FP16) {
        ed_half_round(ED_HALF_FP16, x, x, n);
    }
}

/* T rows of hd floats (stride ld) -> dst[TP][HDP], rounded, zero-padded (rows and columns):
 * padding must be finite zeros, as a masked probability (0) multiplies it. */
static void load_rows(ed_precision prec, float *dst, const float *src, int ld, int T, int TP, int hd, int HDP) {
    for (int t = 0; t < T; t++) {
        memcpy(dst + (size_t)t * HDP, src + (size_t)t * ld, (size_t)hd * sizeof(float));
        memset(dst + (size_t)t * HDP + hd, 0, (size_t)(HDP - hd) * sizeof(float));
    }
    memset(dst + (size_t)T * HDP, 0, (size_t)(TP - T) * HDP * sizeof(float));
    round_operand(prec, dst, (size_t)T * HDP);
}

/* The transpose of a load_rows result, block by block: block t0 / BLK of dst is the
 * [HDP][BLK] matrix (rows e < hd filled) of positions [t0, t0 + BLK). Stored so rather
 * than as one [hd][TP] matrix, whose rows lie TP floats apart: at T = 2048 that stride
 * maps every row of a tile to the same L1 set. */
static inline float *tblock(float *buf, int t0, int HDP) { return buf + (size_t)(t0 / BLK) * HDP * BLK; }
static void transpose_rows(float *dst, const float *rows, int TP, int hd, int HDP) {
    for (int t0 = 0; t0 < TP; t0 += BLK) {
        float *d = tblock(dst, t0, HDP);
        for (int e = 0; e < hd; e++)
            for (int t = 0; t < BLK; t++) d[(size_t)e * BLK + t] = rows[(size_t)(t0 + t) * HDP + e];
    }
}

/* The dropout draw of probability (query i, key j) of head bh: keep when the hash is at
 * least the threshold p * 2^32. A per-row key from the 64-bit mix, then a 32-bit finaliser
 * (MurmurHash3's fmix32) of the row key and j, which vectorises across a tile row. */
static inline uint32_t drop_row_key(uint64_t seed, int bh, int i) {
    return (uint32_t)ed_hash_mix64(seed ^ ed_hash_mix64(((uint64_t)(uint32_t)bh << 32) | (uint32_t)i));
}
static inline uint32_t drop_hash(uint32_t row_key, int j) {
    uint32_t x = row_key ^ ((uint32_t)j * 0x9e3779b9u);
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}
static uint32_t drop_threshold(float p) {
    double t = (double)p * 4294967296.0;
    return t >= 4294967295.0 ? UINT32_MAX : (uint32_t)t;
}

/* qkv is (B,T,(H+2G)hd), out is (B,T,D), lse is (B,H,T). */
void ED_KFN(attention_forward)(ed_gemm_ctx *g, float *out, float *lse, const float *qkv, const int *seg, int B,
                               int T, int D, int H, int G, float p, uint64_t seed, float *scratch, int threads) {
    const int hd = D / H, ld = D + 2 * G * hd, group = H / G;
    const int TP = ed_att_pad_t(T), HDP = ed_att_pad_hd(hd);
    const float scale = 1.0f / sqrtf((float)hd);
    const float keep_scale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    const uint32_t thr = drop_threshold(p);
    const ed_precision prec = ed_gemm_ctx_precision(g);
    const size_t per_thread = ed_att_scratch_floats(T, hd);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        const float *row = qkv + (size_t)b * T * ld, *Q = row + (size_t)h * hd;
        const float *K = row + D + (size_t)(h / group) * hd, *V = K + (size_t)G * hd;
        float *Y = out + (size_t)b * T * D + (size_t)h * hd, *L = lse + (size_t)bh * T;
        const int *sg = seg ? seg + (size_t)b * T : NULL;
        /* thread scratch: Kr, Vr [TP][HDP], Kt (blocks of [HDP][BLK]), Qb, O [BLK][HDP], S [BLK][BLK], m, l */
        float *Kr = scratch + (size_t)omp_get_thread_num() * per_thread;
        float *Vr = Kr + (size_t)TP * HDP, *Kt = Vr + (size_t)TP * HDP, *Qb = Kt + (size_t)HDP * TP;
        float *O = Qb + (size_t)BLK * HDP, *S = O + (size_t)BLK * HDP, *m = S + BLK * BLK, *l = m + BLK;
        load_rows(prec, Kr, K, ld, T, TP, hd, HDP);
        load_rows(prec, Vr, V, ld, T, TP, hd, HDP);
        transpose_rows(Kt, Kr, TP, hd, HDP);
        for (int r0 = 0; r0 < T; r0 += BLK) {
            int rows = T - r0 < BLK ? T - r0 : BLK;
            load_rows(prec, Qb, Q + (size_t)r0 * ld, ld, rows, rows, hd, HDP);
            memset(O, 0, (size_t)rows * HDP * sizeof(float));
            for (int i = 0; i < rows; i++) m[i] = -INFINITY, l[i] = 0.0f;
            /* Half precision takes two passes over the keys: the first finds each row's
             * lse, the second multiplies the NORMALISED probabilities, rounded, as ed_gemm
             * and the PyTorch reference round them (an online pass could only round them
             * before normalisation: different values, and more fp16 underflow). fp32
             * rounds nothing, so one online pass computes the same function. */
            for (int pass = prec == ED_PREC_FP32; pass < 2; pass++) {
                int stats = pass == 0, normalised = prec != ED_PREC_FP32 && pass == 1;
                /* the block's rows see keys from seg[r0] (seg is non-decreasing) to r0+rows-1 */
                for (int c0 = (sg ? sg[r0] : 0) / BLK * BLK; c0 < r0 + rows; c0 += BLK) {
                    if (c0 != r0)
                        mm(0, rows, BLK, hd, Qb, HDP, tblock(Kt, c0, HDP), BLK, S, BLK);
                    else /* diagonal tile: rows [g0, g0 + DG) see columns below g0 + DG */
                        for (int g0 = 0; g0 < rows; g0 += DG)
                            mm(0, rows - g0 < DG ? rows - g0 : DG, g0 + DG, hd, Qb + (size_t)g0 * HDP, HDP,
                                   tblock(Kt, c0, HDP), BLK, S + (size_t)g0 * BLK, BLK);
                    for (int ii = 0; ii < rows; ii++) {
                        int i = r0 + ii, lo = sg ? sg[i] : 0;
                        lo = (lo > c0 ? lo : c0) - c0;
                        int hi = (i < c0 + BLK - 1 ? i : c0 + BLK - 1) - c0; /* row i sees tile columns [lo, hi] */
                        float *s = S + (size_t)ii * BLK;
                        if (lo > hi) { /* nothing visible in this tile */
                            memset(s, 0, BLK * sizeof(float));
                            continue;
                        }
                        for (int j = 0; j < lo; j++) s[j] = -INFINITY;
                        for (int j = hi + 1; j < BLK; j++) s[j] = -INFINITY;
                        for (int j = 0; j < BLK; j++) s[j] *= scale;
                        if (normalised) {
                            float lse_i = L[i];
#pragma omp simd
                            for (int j = 0; j < BLK; j++) s[j] = ed_expf(s[j] - lse_i); /* -inf (masked) -> 0 */
                        } else {
                            float mn = ed_vmax(s, BLK);
                            mn = mn > m[ii] ? mn : m[ii];
                            float alpha = expf(m[ii] - mn), sum = 0.0f; /* m = -inf at first: alpha 0 */
#pragma omp simd reduction(+ : sum)
                            for (int j = 0; j < BLK; j++) {
                                s[j] = ed_expf(s[j] - mn);
                                sum += s[j];
                            }
                            l[ii] = l[ii] * alpha + sum;
                            m[ii] = mn;
                            if (stats) continue;
                            if (alpha != 1.0f)
                                for (int e = 0; e < HDP; e++) O[(size_t)ii * HDP + e] *= alpha;
                        }
                        if (p > 0.0f) {
                            uint32_t key = drop_row_key(seed, bh, i);
                            for (int j = 0; j < BLK; j++) s[j] *= (float)(drop_hash(key, c0 + j) >= thr) * keep_scale;
                        }
                    }
                    if (stats) continue;
                    round_operand(prec, S, (size_t)rows * BLK);
                    if (c0 != r0)
                        mm(1, rows, HDP, BLK, S, BLK, Vr + (size_t)c0 * HDP, HDP, O, HDP);
                    else
                        for (int g0 = 0; g0 < rows; g0 += DG)
                            mm(1, rows - g0 < DG ? rows - g0 : DG, HDP, g0 + DG, S + (size_t)g0 * BLK, BLK,
                                   Vr + (size_t)c0 * HDP, HDP, O + (size_t)g0 * HDP, HDP);
                }
                if (stats)
                    for (int ii = 0; ii < rows; ii++) L[r0 + ii] = m[ii] + logf(l[ii]);
            }
            for (int ii = 0; ii < rows; ii++) {
                float inv = prec == ED_PREC_FP32 ? 1.0f / l[ii] : 1.0f;
                for (int e = 0; e < hd; e++) Y[(size_t)(r0 + ii) * D + e] = O[(size_t)ii * HDP + e] * inv;
                if (prec == ED_PREC_FP32) L[r0 + ii] = m[ii] + logf(l[ii]);
            }
        }
    }
}

/* dout and out are (B,T,D), dqkv is (B,T,(H+2G)hd), lse is (B,H,T). */
void ED_KFN(attention_backward)(ed_gemm_ctx *g, float *dqkv, float *scratch, const float *dout, const float *qkv,
                                const float *out, const float *lse, const int *seg, int B, int T, int D, int H,
                                int G, float p, uint64_t seed, int threads) {
    const int hd = D / H, ld = D + 2 * G * hd, group = H / G;
    const int TP = ed_att_pad_t(T), HDP = ed_att_pad_hd(hd);
    const float scale = 1.0f / sqrtf((float)hd);
    const float keep_scale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    const uint32_t thr = drop_threshold(p);
    const ed_precision prec = ed_gemm_ctx_precision(g);
    const size_t per_thread = ed_att_scratch_floats(T, hd);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int bk = 0; bk < B * G; bk++) {
        int b = bk / G, kh = bk % G;
        size_t base = (size_t)b * T * ld, koff = base + D + (size_t)kh * hd;
        const float *K = qkv + koff, *V = K + (size_t)G * hd;
        float *dK = dqkv + koff, *dV = dK + (size_t)G * hd;
        const int *sg = seg ? seg + (size_t)b * T : NULL;
        /* thread scratch (ed_att_scratch_floats): [TP][HDP] Kr Vr Qr dOr, [HDP][TP] Kt Qt dOt
         * dQt (blocks of [HDP][BLK]), [TP] Lp Dp, int [TP] last, uint32 [TP] keys, [BLK][BLK] P dP dS,
         * [BLK][HDP] dKc dVc */
        float *Kr = scratch + (size_t)omp_get_thread_num() * per_thread;
        float *Vr = Kr + (size_t)TP * HDP, *Qr = Vr + (size_t)TP * HDP, *dOr = Qr + (size_t)TP * HDP;
        float *Kt = dOr + (size_t)TP * HDP, *Qt = Kt + (size_t)HDP * TP, *dOt = Qt + (size_t)HDP * TP;
        float *dQt = dOt + (size_t)HDP * TP, *Lp = dQt + (size_t)HDP * TP, *Dp = Lp + TP;
        int *last = (int *)(void *)(Dp + TP);
        uint32_t *keys = (uint32_t *)(void *)(last + TP);
        float *P = (float *)(void *)(keys + TP), *dP = P + BLK * BLK, *dS = dP + BLK * BLK;
        float *dKc = dS + BLK * BLK, *dVc = dKc + (size_t)BLK * HDP;
        load_rows(prec, Kr, K, ld, T, TP, hd, HDP);
        load_rows(prec, Vr, V, ld, T, TP, hd, HDP);
        transpose_rows(Kt, Kr, TP, hd, HDP);
        /* last[j]: the last query that sees key j (seg non-decreasing, seg[i] <= i) */
        for (int j = 0, i = 0; j < T; j++) {
            if (!sg) {
                last[j] = T - 1;
                continue;
            }
            if (i < j) i = j;
            while (i + 1 < T && sg[i + 1] <= j) i++;
            last[j] = i;
        }
        for (int t = 0; t < T; t++) {
            memset(dK + (size_t)t * ld, 0, (size_t)hd * sizeof(float));
            memset(dV + (size_t)t * ld, 0, (size_t)hd * sizeof(float));
        }
        for (int h = kh * group; h < (kh + 1) * group; h++) {
            int bh = b * H + h;
            const float *Q = qkv + base + (size_t)h * hd;
            const float *dY = dout + (size_t)b * T * D + (size_t)h * hd, *Y = out + (size_t)b * T * D + (size_t)h * hd;
            load_rows(prec, Qr, Q, ld, T, TP, hd, HDP);
            load_rows(ED_PREC_FP32, dOr, dY, D, T, TP, hd, HDP);
            /* D_i = dO_i . O_i, from the unrounded gradient */
            for (int i = 0; i < TP; i++) {
                float d = 0.0f;
                if (i < T)
                    for (int e = 0; e < hd; e++) d += dOr[(size_t)i * HDP + e] * Y[(size_t)i * D + e];
                Dp[i] = d;
                Lp[i] = i < T ? lse[(size_t)bh * T + i] : 0.0f;
                keys[i] = p > 0.0f ? drop_row_key(seed, bh, i) : 0;
            }
            round_operand(prec, dOr, (size_t)T * HDP);
            transpose_rows(Qt, Qr, TP, hd, HDP);
            transpose_rows(dOt, dOr, TP, hd, HDP);
            memset(dQt, 0, (size_t)HDP * TP * sizeof(float));
            for (int c0 = 0; c0 < T; c0 += BLK) {
                int c1 = c0 + BLK < T ? c0 + BLK : T;
                memset(dKc, 0, (size_t)BLK * HDP * sizeof(float));
                memset(dVc, 0, (size_t)BLK * HDP * sizeof(float));
                for (int r0 = c0; r0 < T; r0 += BLK) {
                    if (sg && sg[r0] > c1 - 1) break; /* this and every later block start past the keys */
                    int r1 = r0 + BLK < T ? r0 + BLK : T, diag = r0 == c0;
                    /* tiles are key-major: P[jj][ii] for key c0+jj, query r0+ii */
                    /* on the diagonal tile keys [g0, g0 + DG) are seen by queries from g0 on */
                    for (int g0 = 0; g0 < BLK; g0 += diag ? DG : BLK) {
                        int m = diag ? DG : BLK, q0 = diag ? g0 : 0;
                        mm(0, m, BLK - q0, hd, Kr + (size_t)(c0 + g0) * HDP, HDP, tblock(Qt, r0, HDP) + q0, BLK,
                               P + (size_t)g0 * BLK + q0, BLK);
                        mm(0, m, BLK - q0, hd, Vr + (size_t)(c0 + g0) * HDP, HDP, tblock(dOt, r0, HDP) + q0, BLK,
                               dP + (size_t)g0 * BLK + q0, BLK);
                    }
                    for (int jj = 0; jj < BLK; jj++) {
                        int j = c0 + jj;
                        /* queries that see key j: [j, last[j]], within this block */
                        int lo = j < T ? (j > r0 ? j : r0) - r0 : BLK;
                        int hi = j < T ? (last[j] < r1 - 1 ? last[j] : r1 - 1) - r0 : -1;
                        /* the scores become, in place, the (dropped-out) probabilities */
                        float *pr = P + (size_t)jj * BLK, *dp = dP + (size_t)jj * BLK, *ds = dS + (size_t)jj * BLK;
                        const float *L = Lp + r0, *Dr = Dp + r0;
                        const uint32_t *kr = keys + r0;
                        if (lo > hi) {
                            memset(pr, 0, BLK * sizeof(float)), memset(ds, 0, BLK * sizeof(float));
                            continue;
                        }
                        for (int ii = 0; ii < lo; ii++) pr[ii] = ds[ii] = 0.0f;
                        for (int ii = hi + 1; ii < BLK; ii++) pr[ii] = ds[ii] = 0.0f;
                        if (p > 0.0f) {
                            for (int ii = lo; ii <= hi; ii++) {
                                float pv = ed_expf(pr[ii] * scale - L[ii]);
                                float z = (float)(drop_hash(kr[ii], j) >= thr) * keep_scale;
                                pr[ii] = pv * z;
                                ds[ii] = scale * pv * (dp[ii] * z - Dr[ii]);
                            }
                        } else {
#pragma omp simd
                            for (int ii = lo; ii <= hi; ii++) {
                                float pv = ed_expf(pr[ii] * scale - L[ii]);
                                pr[ii] = pv;
                                ds[ii] = scale * pv * (dp[ii] - Dr[ii]);
                            }
                        }
                    }
                    round_operand(prec, P, BLK * BLK);
                    round_operand(prec, dS, BLK * BLK);
                    /* dV_c += P dO_r;  dK_c += dS Q_r;  dQ_r^T += K_c^T dS */
                    for (int g0 = 0; g0 < BLK; g0 += diag ? DG : BLK) {
                        int m = diag ? DG : BLK, q0 = diag ? g0 : 0;
                        size_t o = (size_t)g0 * BLK + q0;
                        mm(1, m, HDP, BLK - q0, P + o, BLK, dOr + (size_t)(r0 + q0) * HDP, HDP,
                               dVc + (size_t)g0 * HDP, HDP);
                        mm(1, m, HDP, BLK - q0, dS + o, BLK, Qr + (size_t)(r0 + q0) * HDP, HDP,
                               dKc + (size_t)g0 * HDP, HDP);
                        /* queries [g0, g0 + m) see keys below g0 + m on the diagonal */
                        mm(1, hd, m, diag ? g0 + DG : BLK, tblock(Kt, c0, HDP), BLK, dS + g0, BLK,
                               tblock(dQt, r0, HDP) + g0, BLK);
                    }
                }
                for (int j = c0; j < c1; j++)
                    for (int e = 0; e < hd; e++) {
                        dK[(size_t)j * ld + e] += dKc[(size_t)(j - c0) * HDP + e];
                        dV[(size_t)j * ld + e] += dVc[(size_t)(j - c0) * HDP + e];
                    }
            }
            float *dQ = dqkv + base + (size_t)h * hd;
            for (int i = 0; i < T; i++)
                for (int e = 0; e < hd; e++) dQ[(size_t)i * ld + e] = tblock(dQt, i, HDP)[(size_t)e * BLK + i % BLK];
        }
    }
}
