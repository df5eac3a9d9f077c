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
 * visited, and of a tile that a window boundary crosses only the visible corner is
 * multiplied, so a row packed with many short windows costs what its windows cost.
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
 * takes a statistics pass before the output pass (see there). With bf16 on a CPU with
 * AVX512-BF16 the AVX-512 copies multiply the tiles with vdpbf16ps (mmb below).
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
#define ED_VMATH_FUSED 1 /* ed_expf with FMA where the copy has it: the exp passes over the tiles */
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
 * read only when acc_c), mr and nv constants after inlining so acc lives in registers.
 * at: A is stored transposed (element (r, k) at A[k * lda + r]), which changes only where
 * the broadcast scalars come from. */
static inline __attribute__((always_inline)) void mm_block(const int mr, const int nv, const int at, int acc_c,
                                                          int K, const float *A, int lda, const float *B, int ldb,
                                                          float *C, int ldc) {
    vf acc[4][NV];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = acc_c ? *(const vf *)(C + (size_t)r * ldc + v * VW) : (vf){0};
    for (int k = 0; k < K; k++) {
        vf b[NV];
        for (int v = 0; v < nv; v++) b[v] = *(const vf *)(B + (size_t)k * ldb + v * VW);
        for (int r = 0; r < mr; r++) {
            float a = at ? A[(size_t)k * lda + r] : A[(size_t)r * lda + k];
            for (int v = 0; v < nv; v++) acc[r][v] = VFMA(acc[r][v], a, b[v]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) *(vf *)(C + (size_t)r * ldc + v * VW) = acc[r][v];
}

#if NV == 4
#define MM_NV(mr)                                                                                                  \
    switch (nv) {                                                                                                  \
    case 4: mm_block(mr, 4, at, acc_c, K, a, lda, b, ldb, c, ldc); break;                                          \
    case 3: mm_block(mr, 3, at, acc_c, K, a, lda, b, ldb, c, ldc); break;                                          \
    case 2: mm_block(mr, 2, at, acc_c, K, a, lda, b, ldb, c, ldc); break;                                          \
    default: mm_block(mr, 1, at, acc_c, K, a, lda, b, ldb, c, ldc); break;                                         \
    }
#else
#define MM_NV(mr)                                                                                                  \
    switch (nv) {                                                                                                  \
    case 2: mm_block(mr, 2, at, acc_c, K, a, lda, b, ldb, c, ldc); break;                                          \
    default: mm_block(mr, 1, at, acc_c, K, a, lda, b, ldb, c, ldc); break;                                         \
    }
#endif

static inline __attribute__((always_inline)) void mm_gen(const int at, int acc_c, int M, int N, int K,
                                                        const float *A, int lda, const float *B, int ldb, float *C,
                                                        int ldc) {
    for (int n0 = 0; n0 < N; n0 += NV * VW) {
        int nv = (N - n0) / VW < NV ? (N - n0) / VW : NV;
        const float *b = B + n0;
        int i = 0;
        for (; i + 4 <= M; i += 4) {
            const float *a = at ? A + i : A + (size_t)i * lda;
            float *c = C + (size_t)i * ldc + n0;
            MM_NV(4)
        }
        for (; i < M; i++) {
            const float *a = at ? A + i : A + (size_t)i * lda;
            float *c = C + (size_t)i * ldc + n0;
            MM_NV(1)
        }
    }
}

/* C[M,N] = A[M,K] B[K,N] (+ C when acc_c); N a multiple of VW (the buffers are padded to
 * make it so). */
static void mm(int acc_c, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C, int ldc) {
    mm_gen(0, acc_c, M, N, K, A, lda, B, ldb, C, ldc);
}
/* The same with A given transposed: A^T is [K][M] with leading dimension lda. */
static void mm_at(int acc_c, int M, int N, int K, const float *At, int lda, const float *B, int ldb, float *C,
                  int ldc) {
    mm_gen(1, acc_c, M, N, K, At, lda, B, ldb, C, ldc);
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
    for (int t = 0; t < T; t++) { /* loops, not memcpy/memset: a call per 64-float row cost more than the copy */
        float *d = dst + (size_t)t * HDP;
        const float *r = src + (size_t)t * ld;
        for (int e = 0; e < hd; e++) d[e] = r[e];
        for (int e = hd; e < HDP; e++) d[e] = 0.0f;
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

/* ---- bf16 products on AVX512-BF16 (vdpbf16ps), in the AVX-512 copies only ----
 * With --precision bf16 every product's operands are bf16 values anyway (see above), so
 * on a CPU with AVX512-BF16 the tiles multiply them as bf16 pairs: vdpbf16ps adds two
 * exact bf16 x bf16 products per fp32 lane into the fp32 accumulator, twice the FMA
 * path's products per instruction. Same contract (rounded operands, fp32 accumulation);
 * what differs is the order of the fp32 additions (pairs of k) and that the instruction
 * treats denormal operands and results as zero (bf16 denormals are below 1.2e-38: a
 * probability that small multiplies nothing the output can show). tests/model/test_isa.c
 * compares this path with the baseline's FMA-on-rounded-operands products.
 *
 * Operand layouts (K the summed index, always even: buffers are zero-padded):
 * A is bf16 row-major [M][K] (a pair (k, k+1) is one 32-bit word, broadcast); B is
 * "paired" [K/2][N] of 32-bit words holding (B[2k][n], B[2k+1][n]) low half first. */
#if defined(__AVX512F__) && defined(__x86_64__)
#define ED_ATT_DPBF16 1
#ifdef __AVX512BF16__
#define DPBF_TARGET
static int have_dpbf16(void) { return 1; }
#else
/* compiled for the instruction alone and only called after the CPU said it has it */
#define DPBF_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static int have_dpbf16(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16");
}
#endif

/* C[mr, nv*16] (+)= A[mr, 2*K2] B[2*K2, nv*16], as mm_block. at: A is given as paired
 * words of its transpose, word (r, k) = (A[r][2k], A[r][2k+1]) at ((uint32_t *)A)[k * lda + r]
 * (lda in words); otherwise A is bf16 row-major with lda in bf16 elements. */
DPBF_TARGET static inline __attribute__((always_inline)) void mmb_block(const int mr, const int nv, const int at,
                                                                        int acc_c, int K2, const void *A, int lda,
                                                                        const uint32_t *B, int ldb, float *C,
                                                                        int ldc) {
    __m512 acc[4][4];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++)
            acc[r][v] = acc_c ? _mm512_loadu_ps(C + (size_t)r * ldc + v * 16) : _mm512_setzero_ps();
    for (int k = 0; k < K2; k++) {
        __m512bh b[4];
        for (int v = 0; v < nv; v++) b[v] = (__m512bh)_mm512_loadu_si512((const void *)(B + (size_t)k * ldb + v * 16));
        for (int r = 0; r < mr; r++) {
            uint32_t a;
            if (at)
                memcpy(&a, (const uint32_t *)A + (size_t)k * lda + r, sizeof a);
            else
                memcpy(&a, (const uint16_t *)A + (size_t)r * lda + 2 * k, sizeof a);
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)a);
            for (int v = 0; v < nv; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, b[v]);
        }
    }
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++) _mm512_storeu_ps(C + (size_t)r * ldc + v * 16, acc[r][v]);
}

#define MMB_NV(mr)                                                                                                 \
    switch (nv) {                                                                                                  \
    case 4: mmb_block(mr, 4, at, acc_c, K2, a, lda, b, ldb, c, ldc); break;                                        \
    case 3: mmb_block(mr, 3, at, acc_c, K2, a, lda, b, ldb, c, ldc); break;                                        \
    case 2: mmb_block(mr, 2, at, acc_c, K2, a, lda, b, ldb, c, ldc); break;                                        \
    default: mmb_block(mr, 1, at, acc_c, K2, a, lda, b, ldb, c, ldc); break;                                       \
    }

DPBF_TARGET static inline __attribute__((always_inline)) void mmb_gen(const int at, int acc_c, int M, int N, int K2,
                                                                      const void *A, int lda, const uint32_t *B,
                                                                      int ldb, float *C, int ldc) {
    for (int n0 = 0; n0 < N; n0 += 64) {
        int nv = (N - n0) / 16 < 4 ? (N - n0) / 16 : 4;
        const uint32_t *b = B + n0;
        int i = 0;
        for (; i + 4 <= M; i += 4) {
            const void *a = at ? (const void *)((const uint32_t *)A + i) : (const void *)((const uint16_t *)A + (size_t)i * lda);
            float *c = C + (size_t)i * ldc + n0;
            MMB_NV(4)
        }
        for (; i < M; i++) {
            const void *a = at ? (const void *)((const uint32_t *)A + i) : (const void *)((const uint16_t *)A + (size_t)i * lda);
            float *c = C + (size_t)i * ldc + n0;
            MMB_NV(1)
        }
    }
}

/* C[M,N] = A[M,2*K2] B[2*K2,N] (+ C when acc_c), N a multiple of 16: mm on bf16 operands. */
DPBF_TARGET static void mmb(int acc_c, int M, int N, int K2, const uint16_t *A, int lda, const uint32_t *B, int ldb,
                            float *C, int ldc) {
    mmb_gen(0, acc_c, M, N, K2, A, lda, B, ldb, C, ldc);
}
/* The same with A given as paired words of its transpose, [K2][M] words, lda in words. */
DPBF_TARGET static void mmb_at(int acc_c, int M, int N, int K2, const uint32_t *Atp, int lda, const uint32_t *B,
                               int ldb, float *C, int ldc) {
    mmb_gen(1, acc_c, M, N, K2, Atp, lda, B, ldb, C, ldc);
}

/* The bf16 bits of floats that are bf16 values already (round_operand ran): their top
 * halves. dst may not alias src. */
static void bf16_bits(uint16_t *dst, const float *src, size_t n) {
    const uint32_t *u = (const uint32_t *)(const void *)src;
    for (size_t i = 0; i < n; i++) dst[i] = (uint16_t)(u[i] >> 16);
}

/* float32 values rounded to bf16 bits (ties to even, as round_operand): the tile operands
 * P and dS in one pass instead of rounding in place and then taking the top halves. */
static void bf16_round_bits(uint16_t *dst, const float *src, size_t n) {
    const uint32_t *u = (const uint32_t *)(const void *)src;
    for (size_t i = 0; i < n; i++) dst[i] = (uint16_t)(ed_bf16_round_bits(u[i]) >> 16);
}

/* A bf16 row-major matrix [rows][n] (even rows) -> paired along rows: [rows/2][n] words
 * (src[2t][e], src[2t+1][e]), the B operand whose summed index is the row. */
static void pair_rows(uint32_t *dst, const uint16_t *src, int rows, int n) {
    for (int t = 0; t < rows; t += 2) {
        const uint16_t *a = src + (size_t)t * n, *b = a + n;
        uint32_t *d = dst + (size_t)(t / 2) * n;
        for (int e = 0; e < n; e++) d[e] = (uint32_t)a[e] | (uint32_t)b[e] << 16;
    }
}

/* bf16 rows [TP][HDP] -> per block of BLK positions the transpose paired along the row:
 * block t0 / BLK is [HDP/2][BLK] words, word (e/2, t) = (src[t0+t][e], src[t0+t][e+1]),
 * the B operand whose summed index is the head dimension (S = Q K^T). */
static inline uint32_t *pblock(uint32_t *buf, int t0, int HDP) { return buf + (size_t)(t0 / BLK) * (HDP / 2) * BLK; }
static void pair_cols(uint32_t *dst, const uint16_t *src, int TP, int HDP) {
    for (int t0 = 0; t0 < TP; t0 += BLK) {
        uint32_t *d = pblock(dst, t0, HDP);
        for (int t = 0; t < BLK; t++) {
            const uint16_t *r = src + (size_t)(t0 + t) * HDP;
            for (int e = 0; e < HDP; e += 2) {
                uint32_t w;
                memcpy(&w, r + e, sizeof w);
                d[(size_t)(e / 2) * BLK + t] = w;
            }
        }
    }
}

#endif

/* Whether this call's products run on vdpbf16ps. */
static int use_dpbf16(ed_precision prec) {
#ifdef ED_ATT_DPBF16
    return prec == ED_PREC_BF16 && have_dpbf16();
#else
    (void)prec;
    return 0;
#endif
}

/* The forward's running row sums are LW lanes each (l), added up once per row block. */
#define LW 16
static inline float lanes_sum(const float *v) {
#if defined(__AVX512F__)
    return _mm512_reduce_add_ps(_mm512_loadu_ps(v));
#else
    float t = 0.0f;
    for (int k = 0; k < LW; k++) t += v[k];
    return t;
#endif
}

/* The maximum of a tile row (BLK floats): on AVX-512 a vector max and one reduction (the
 * scalar tail of ed_vmax was a chain of 15 dependent compare-selects per row and tile). */
static inline float row_max(const float *s) {
#if defined(__AVX512F__)
    __m512 a = _mm512_loadu_ps(s);
    for (int j = 16; j < BLK; j += 16) a = _mm512_max_ps(a, _mm512_loadu_ps(s + j));
    return _mm512_reduce_max_ps(a);
#else
    return ed_vmax(s, BLK);
#endif
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
    const int dp = use_dpbf16(prec), half = prec != ED_PREC_FP32;
    (void)dp; /* used only in the AVX-512 copies */
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
        /* l holds each row's running sum as LW partial sums (lanes), added up once per row
         * block: a horizontal sum per row and tile was a chain of 15 dependent additions */
        float *O = Qb + (size_t)BLK * HDP, *S = O + (size_t)BLK * HDP, *m = S + BLK * BLK, *l = m + BLK;
        /* after l: room for the bf16 query block and tile, then half precision's kept
         * exponentials E [TP/BLK][BLK][BLK] and their maxima Mt [TP/BLK][BLK] (these fit in
         * the backward's regions the forward leaves free: ed_att_scratch_floats) */
        float *E = l + LW * BLK + (size_t)BLK * HDP + BLK * BLK, *Mt = E + (size_t)TP * BLK;
        load_rows(prec, Kr, K, ld, T, TP, hd, HDP);
        load_rows(prec, Vr, V, ld, T, TP, hd, HDP);
#ifdef ED_ATT_DPBF16
        /* bf16 products: K paired along hd (in Kt's place), V paired along positions (in
         * Kt's second half, after its bf16 rows), the query block and the probability tile
         * as bf16 rows (after l) */
        uint32_t *KtP = (uint32_t *)(void *)Kt, *VP = KtP + (size_t)TP * HDP / 2;
        uint16_t *Qh = (uint16_t *)(void *)(l + LW * BLK), *Ph = Qh + (size_t)BLK * HDP;
        if (dp) {
            uint16_t *rows16 = (uint16_t *)(void *)VP; /* K's bf16 rows, then overwritten by V's pairs */
            bf16_bits(rows16, Kr, (size_t)TP * HDP);
            pair_cols(KtP, rows16, TP, HDP);
            rows16 = (uint16_t *)(void *)Kr; /* Kr is no longer needed */
            bf16_bits(rows16, Vr, (size_t)TP * HDP);
            pair_rows(VP, rows16, TP, HDP);
        } else
#endif
            transpose_rows(Kt, Kr, TP, hd, HDP);
        for (int r0 = 0; r0 < T; r0 += BLK) {
            int rows = T - r0 < BLK ? T - r0 : BLK;
            load_rows(prec, Qb, Q + (size_t)r0 * ld, ld, rows, rows, hd, HDP);
#ifdef ED_ATT_DPBF16
            if (dp) bf16_bits(Qh, Qb, (size_t)rows * HDP);
#endif
            memset(O, 0, (size_t)rows * HDP * sizeof(float));
            for (int i = 0; i < rows; i++) m[i] = -INFINITY;
            memset(l, 0, (size_t)rows * LW * sizeof(float));
            /* Half precision takes two passes over the keys: the first finds each row's
             * lse, the second multiplies the NORMALISED probabilities, rounded, as ed_gemm
             * and the PyTorch reference round them (an online pass could only round them
             * before normalisation: different values, and more fp16 underflow). fp32
             * rounds nothing, so one online pass computes the same function. The first
             * pass keeps its exponentials exp(s - m_then) of the block's tiles (E, BLK x T
             * floats) and the maximum m_then each row had at each tile (Mt), so the second
             * needs neither the score products nor the exponentials again:
             * exp(s - lse) = exp(s - m_then) exp(m_then - lse), equal to fp32 rounding. */
            const int c_first = (sg ? sg[r0] : 0) / BLK * BLK;
            for (int pass = !half; pass < 2; pass++) {
                int stats = pass == 0, kept = half && pass == 1;
                /* the block's rows see keys from seg[r0] (seg is non-decreasing) to r0+rows-1 */
                for (int c0 = c_first; c0 < r0 + rows; c0 += BLK) {
                    /* diagonal tile: rows [g0, g0 + DG) see columns below g0 + DG */
                    int diag = c0 == r0, tile = (c0 - c_first) / BLK;
                    float *St = half ? E + (size_t)tile * BLK * BLK : S, *mt = Mt + (size_t)tile * BLK;
                    /* Off the diagonal with windows, only the first nr rows (seg is
                     * non-decreasing) see into the tile, and only from column ka on (a multiple
                     * of 16 below the first row's start): only that corner is multiplied. */
                    int nr = rows, ka = 0;
                    if (!diag && sg) {
                        while (nr > 0 && sg[r0 + nr - 1] > c0 + BLK - 1) nr--;
                        ka = (sg[r0] > c0 ? sg[r0] - c0 : 0) / 16 * 16;
                    }
                    for (int g0 = 0; g0 < rows && !kept; g0 += diag ? DG : BLK) {
                        int mr = diag ? (rows - g0 < DG ? rows - g0 : DG) : nr, n0 = diag ? 0 : ka;
                        int nc = diag ? g0 + DG : BLK - ka;
#ifdef ED_ATT_DPBF16
                        if (dp)
                            mmb(0, mr, nc, HDP / 2, Qh + (size_t)g0 * HDP, HDP, pblock(KtP, c0, HDP) + n0, BLK,
                                St + (size_t)g0 * BLK + n0, BLK);
                        else
#endif
                            mm(0, mr, nc, hd, Qb + (size_t)g0 * HDP, HDP, tblock(Kt, c0, HDP) + n0, BLK,
                               St + (size_t)g0 * BLK + n0, BLK);
                    }
                    for (int ii = 0; ii < nr; ii++) {
                        int i = r0 + ii, lo = sg ? sg[i] : 0;
                        lo = (lo > c0 ? lo : c0) - c0;
                        int hi = (i < c0 + BLK - 1 ? i : c0 + BLK - 1) - c0; /* row i sees tile columns [lo, hi] */
                        float *s = St + (size_t)ii * BLK;
                        if (lo > hi) { /* nothing visible in this tile (kept: zeroed by the first pass) */
                            if (!kept) memset(s, 0, BLK * sizeof(float));
                            continue;
                        }
                        if (kept) {
                            float f = ed_expf(mt[ii] - L[i]);
                            for (int j = 0; j < BLK; j++) s[j] *= f;
                        } else {
                            for (int j = 0; j < lo; j++) s[j] = -INFINITY;
                            for (int j = hi + 1; j < BLK; j++) s[j] = -INFINITY;
                            /* the scale is applied inside the exponential (and to the maximum:
                             * scale > 0 commutes with max), the same products as a separate pass */
                            float mn = row_max(s) * scale;
                            mn = mn > m[ii] ? mn : m[ii];
                            float alpha = ed_expf(m[ii] - mn); /* m = -inf at first: alpha 0 */
                            float *lr = l + (size_t)ii * LW;
                            for (int k = 0; k < LW; k++) lr[k] *= alpha;
                            for (int j0 = 0; j0 < BLK; j0 += LW)
#pragma omp simd
                                for (int k = 0; k < LW; k++) {
                                    s[j0 + k] = ed_expf(s[j0 + k] * scale - mn); /* masked (-inf) -> 0 */
                                    lr[k] += s[j0 + k];
                                }
                            m[ii] = mn;
                            if (stats) {
                                mt[ii] = mn;
                                continue;
                            }
                            if (alpha != 1.0f)
                                for (int e = 0; e < HDP; e++) O[(size_t)ii * HDP + e] *= alpha;
                        }
                        if (p > 0.0f) {
                            uint32_t key = drop_row_key(seed, bh, i);
                            for (int j = 0; j < BLK; j++) s[j] *= (float)(drop_hash(key, c0 + j) >= thr) * keep_scale;
                        }
                    }
                    if (stats) continue;
#ifdef ED_ATT_DPBF16
                    if (dp)
                        bf16_round_bits(Ph, St, (size_t)nr * BLK);
                    else
#endif
                        round_operand(prec, St, (size_t)nr * BLK);
                    for (int g0 = 0; g0 < rows; g0 += diag ? DG : BLK) {
                        int mr = diag ? (rows - g0 < DG ? rows - g0 : DG) : nr, k0 = diag ? 0 : ka;
                        int kc = diag ? g0 + DG : BLK - ka;
#ifdef ED_ATT_DPBF16
                        if (dp)
                            mmb(1, mr, HDP, kc / 2, Ph + (size_t)g0 * BLK + k0, BLK, VP + (size_t)(c0 + k0) / 2 * HDP,
                                HDP, O + (size_t)g0 * HDP, HDP);
                        else
#endif
                            mm(1, mr, HDP, kc, St + (size_t)g0 * BLK + k0, BLK, Vr + (size_t)(c0 + k0) * HDP, HDP,
                               O + (size_t)g0 * HDP, HDP);
                    }
                }
                if (stats)
                    for (int ii = 0; ii < rows; ii++) L[r0 + ii] = m[ii] + logf(lanes_sum(l + (size_t)ii * LW));
            }
            for (int ii = 0; ii < rows; ii++) {
                float li = half ? 1.0f : lanes_sum(l + (size_t)ii * LW), inv = 1.0f / li;
                for (int e = 0; e < hd; e++) Y[(size_t)(r0 + ii) * D + e] = O[(size_t)ii * HDP + e] * inv;
                if (!half) L[r0 + ii] = m[ii] + logf(li);
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
    const int dp = use_dpbf16(prec);
    (void)dp; /* used only in the AVX-512 copies */
    const size_t per_thread = ed_att_scratch_floats(T, hd);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int bk = 0; bk < B * G; bk++) {
        int b = bk / G, kh = bk % G;
        size_t base = (size_t)b * T * ld, koff = base + D + (size_t)kh * hd;
        const float *K = qkv + koff, *V = K + (size_t)G * hd;
        float *dK = dqkv + koff, *dV = dK + (size_t)G * hd;
        const int *sg = seg ? seg + (size_t)b * T : NULL;
        /* thread scratch (ed_att_scratch_floats): [TP][HDP] Kr Vr Qr dOr, [HDP][TP] Kt (unused by
         * the fp32 products) Qt dOt (blocks of [HDP][BLK]), [TP][HDP] dQ rows dQr, [TP] Lp Dp,
         * int [TP] last, uint32 [TP] keys, [BLK][BLK] P dP dS, two spare tiles, [BLK][HDP] dKc dVc */
        float *Kr = scratch + (size_t)omp_get_thread_num() * per_thread;
        float *Vr = Kr + (size_t)TP * HDP, *Qr = Vr + (size_t)TP * HDP, *dOr = Qr + (size_t)TP * HDP;
        float *Kt = dOr + (size_t)TP * HDP, *Qt = Kt + (size_t)HDP * TP, *dOt = Qt + (size_t)HDP * TP;
        float *dQr = dOt + (size_t)HDP * TP, *Lp = dQr + (size_t)HDP * TP, *Dp = Lp + TP;
        int *last = (int *)(void *)(Dp + TP);
        uint32_t *keys = (uint32_t *)(void *)(last + TP);
        float *P = (float *)(void *)(keys + TP), *dP = P + BLK * BLK, *dS = dP + BLK * BLK;
        float *dKc = dS + 3 * BLK * BLK, *dVc = dKc + (size_t)BLK * HDP;
#ifdef ED_ATT_DPBF16
        /* bf16 products (each T x hd region of the fp32 layout holds two bf16 arrays):
         * Kt's region: K's bf16 rows Kh (A of S^T = K Q^T) and K paired along positions KP (B of
         * dQ += dS^T K); Vr's: V's rows Vh (A of dP^T = V dO^T), then bf16 rows of Q and
         * dO on their way to being paired;
         * Qt's: Q paired along hd (QtP, B of S^T) and along positions (QP, B of dK += dS Q);
         * dOt's: the same two of dO (dOtP, dOP); the spare tiles: the tile P and dS as bf16
         * rows (A of dV += P dO and dK) and dS paired along keys (the transposed A of dQ). */
        uint16_t *Kh = (uint16_t *)(void *)Kt;
        uint32_t *KP = (uint32_t *)(void *)(Kh + (size_t)TP * HDP);
        uint16_t *Vh = (uint16_t *)(void *)Vr, *rows16 = (uint16_t *)(void *)Qr;
        uint32_t *QtP = (uint32_t *)(void *)Qt, *QP = QtP + (size_t)TP * HDP / 2;
        uint32_t *dOtP = (uint32_t *)(void *)dOt, *dOP = dOtP + (size_t)TP * HDP / 2;
        uint16_t *Ph = (uint16_t *)(void *)(dS + BLK * BLK), *dSh = Ph + BLK * BLK;
        uint32_t *dSP = (uint32_t *)(void *)(dSh + BLK * BLK);
#endif
        load_rows(prec, Kr, K, ld, T, TP, hd, HDP);
        load_rows(prec, Vr, V, ld, T, TP, hd, HDP);
#ifdef ED_ATT_DPBF16
        if (dp) {
            bf16_bits(Kh, Kr, (size_t)TP * HDP);
            pair_rows(KP, Kh, TP, HDP);
            bf16_bits(rows16, Vr, (size_t)TP * HDP); /* not in place: via Qr's region, free until the heads */
            memcpy(Vh, rows16, (size_t)TP * HDP * sizeof(uint16_t));
        }
#endif
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
                if (i < T) {
                    const float *o = dOr + (size_t)i * HDP, *y = Y + (size_t)i * D;
#pragma omp simd reduction(+ : d)
                    for (int e = 0; e < hd; e++) d += o[e] * y[e];
                }
                Dp[i] = d;
                Lp[i] = i < T ? lse[(size_t)bh * T + i] : 0.0f;
                keys[i] = p > 0.0f ? drop_row_key(seed, bh, i) : 0;
            }
            round_operand(prec, dOr, (size_t)T * HDP);
#ifdef ED_ATT_DPBF16
            if (dp) {
                rows16 = Vh + (size_t)TP * HDP; /* Vr's second half: V's fp32 rows are done with */
                bf16_bits(rows16, Qr, (size_t)TP * HDP);
                pair_cols(QtP, rows16, TP, HDP);
                pair_rows(QP, rows16, TP, HDP);
                bf16_bits(rows16, dOr, (size_t)TP * HDP);
                pair_cols(dOtP, rows16, TP, HDP);
                pair_rows(dOP, rows16, TP, HDP);
            } else
#endif
            {
                transpose_rows(Qt, Qr, TP, hd, HDP);
                transpose_rows(dOt, dOr, TP, hd, HDP);
            }
            memset(dQr, 0, (size_t)TP * HDP * sizeof(float));
            for (int c0 = 0; c0 < T; c0 += BLK) {
                int c1 = c0 + BLK < T ? c0 + BLK : T;
                memset(dKc, 0, (size_t)BLK * HDP * sizeof(float));
                memset(dVc, 0, (size_t)BLK * HDP * sizeof(float));
                for (int r0 = c0; r0 < T; r0 += BLK) {
                    if (sg && sg[r0] > c1 - 1) break; /* this and every later block start past the keys */
                    int r1 = r0 + BLK < T ? r0 + BLK : T, diag = r0 == c0;
                    /* tiles are key-major: P[jj][ii] for key c0+jj, query r0+ii; lo/hi: the
                     * queries of this block that see key j are [lo, hi] (none when lo > hi) */
#define VIS_RANGE(jj)                                                                                              \
    int j = c0 + (jj);                                                                                             \
    int lo = j < T ? (j > r0 ? j : r0) - r0 : BLK;                                                                 \
    int hi = j < T ? (last[j] < r1 - 1 ? last[j] : r1 - 1) - r0 : -1;
                    /* Off the diagonal only the key rows [ja, jb] with a visible query and the
                     * query columns [qa, qe) any of them sees are multiplied (whole for causal
                     * tiles; across window boundaries a corner: windows shorter than a block
                     * leave most of such a tile masked). Even ja and odd jb keep the bf16
                     * products' pairs whole, multiples of 16 the vectors'. */
                    int ja = 0, jb = BLK - 1, qa = 0, qe = BLK;
                    if (!diag && sg) {
                        int lmin = BLK, hmax = -1;
                        ja = BLK, jb = -1;
                        for (int jj = 0; jj < BLK; jj++) {
                            VIS_RANGE(jj)
                            (void)j;
                            if (lo > hi) continue;
                            ja = jj < ja ? jj : ja, jb = jj;
                            lmin = lo < lmin ? lo : lmin, hmax = hi > hmax ? hi : hmax;
                        }
                        if (jb < 0) continue;
                        ja &= ~1, jb |= 1;
                        qa = lmin / 16 * 16, qe = (hmax + 16) / 16 * 16;
                    }
                    const int jn = jb - ja + 1;
                    /* on the diagonal tile keys [g0, g0 + DG) are seen by queries from g0 on */
                    for (int g0 = diag ? 0 : ja; g0 < BLK; g0 += diag ? DG : BLK) {
                        int m = diag ? DG : jn, q0 = diag ? g0 : qa, nq = diag ? BLK - q0 : qe - qa;
#ifdef ED_ATT_DPBF16
                        if (dp) {
                            mmb(0, m, nq, HDP / 2, Kh + (size_t)(c0 + g0) * HDP, HDP, pblock(QtP, r0, HDP) + q0, BLK,
                                P + (size_t)g0 * BLK + q0, BLK);
                            mmb(0, m, nq, HDP / 2, Vh + (size_t)(c0 + g0) * HDP, HDP, pblock(dOtP, r0, HDP) + q0,
                                BLK, dP + (size_t)g0 * BLK + q0, BLK);
                            continue;
                        }
#endif
                        mm(0, m, nq, hd, Kr + (size_t)(c0 + g0) * HDP, HDP, tblock(Qt, r0, HDP) + q0, BLK,
                           P + (size_t)g0 * BLK + q0, BLK);
                        mm(0, m, nq, hd, Vr + (size_t)(c0 + g0) * HDP, HDP, tblock(dOt, r0, HDP) + q0, BLK,
                           dP + (size_t)g0 * BLK + q0, BLK);
                    }
                    for (int jj = ja; jj <= jb; jj++) {
                        VIS_RANGE(jj)
                        /* the scores become, in place, the (dropped-out) probabilities */
                        float *pr = P + (size_t)jj * BLK, *dp_ = dP + (size_t)jj * BLK, *ds = dS + (size_t)jj * BLK;
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
                                ds[ii] = scale * pv * (dp_[ii] * z - Dr[ii]);
                            }
                        } else {
#pragma omp simd
                            for (int ii = lo; ii <= hi; ii++) {
                                float pv = ed_expf(pr[ii] * scale - L[ii]);
                                pr[ii] = pv;
                                ds[ii] = scale * pv * (dp_[ii] - Dr[ii]);
                            }
                        }
                    }
#undef VIS_RANGE
                    size_t rows0 = (size_t)ja * BLK, nrows = (size_t)jn * BLK; /* the tile rows in use */
#ifdef ED_ATT_DPBF16
                    if (dp) {
                        bf16_round_bits(Ph + rows0, P + rows0, nrows);
                        bf16_round_bits(dSh + rows0, dS + rows0, nrows);
                        pair_rows(dSP + rows0 / 2, dSh + rows0, jn, BLK);
                    } else
#endif
                    {
                        round_operand(prec, P + rows0, nrows);
                        round_operand(prec, dS + rows0, nrows);
                    }
                    /* dV_c += P dO_r;  dK_c += dS Q_r;  dQ_r += dS^T K_c */
                    for (int g0 = diag ? 0 : ja; g0 < BLK; g0 += diag ? DG : BLK) {
                        int m = diag ? DG : jn, q0 = diag ? g0 : qa, nq = diag ? BLK - q0 : qe - qa;
                        size_t o = (size_t)g0 * BLK + q0;
                        /* dQ: queries [q0, q0 + nc) with keys [k0, k0 + nk); on the diagonal
                         * queries [g0, g0 + DG) see keys below g0 + DG */
                        int k0 = diag ? 0 : ja, nk = diag ? g0 + DG : jn, nc = diag ? DG : nq;
#ifdef ED_ATT_DPBF16
                        if (dp) {
                            mmb(1, m, HDP, nq / 2, Ph + o, BLK, dOP + (size_t)(r0 + q0) / 2 * HDP, HDP,
                                dVc + (size_t)g0 * HDP, HDP);
                            mmb(1, m, HDP, nq / 2, dSh + o, BLK, QP + (size_t)(r0 + q0) / 2 * HDP, HDP,
                                dKc + (size_t)g0 * HDP, HDP);
                            mmb_at(1, nc, HDP, nk / 2, dSP + (size_t)k0 / 2 * BLK + q0, BLK,
                                   KP + (size_t)(c0 + k0) / 2 * HDP, HDP, dQr + (size_t)(r0 + q0) * HDP, HDP);
                            continue;
                        }
#endif
                        mm(1, m, HDP, nq, P + o, BLK, dOr + (size_t)(r0 + q0) * HDP, HDP, dVc + (size_t)g0 * HDP, HDP);
                        mm(1, m, HDP, nq, dS + o, BLK, Qr + (size_t)(r0 + q0) * HDP, HDP, dKc + (size_t)g0 * HDP, HDP);
                        mm_at(1, nc, HDP, nk, dS + (size_t)k0 * BLK + q0, BLK, Kr + (size_t)(c0 + k0) * HDP, HDP,
                              dQr + (size_t)(r0 + q0) * HDP, HDP);
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
                for (int e = 0; e < hd; e++) dQ[(size_t)i * ld + e] = dQr[(size_t)i * HDP + e];
        }
    }
}
