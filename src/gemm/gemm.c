/* gemm.c — the GEMM context: backend and precision dispatch, the half-precision operand
 * copies, and the OpenBLAS backend (cblas_sgemm split across the OpenMP threads).
 *
 * Why not let OpenBLAS thread its own GEMMs? Its pthread pool and OpenMP's are two sets
 * of threads that each spin for a while after their work; on a 2-core machine shared
 * with other jobs they steal each other's cores at every hand-over between a GEMM and
 * an elementwise loop. So the engine keeps ONE pool: during a pass OpenBLAS runs
 * single-threaded (see ed_blas_serial_begin) and the OpenBLAS backend gives each OpenMP
 * thread a contiguous slab of the output. The slab is cut along the larger output
 * dimension, so the operand every thread must pack in full is the smaller one.
 * oneDNN (gemm_onednn.c) threads on the same OpenMP pool by itself.
 *
 * bf16 / fp16: each operand not already in operand form (gemm.h) is first copied,
 * rounded (expert/half.h), into the calling thread's scratch (dense, same orientation):
 * as 16-bit patterns for oneDNN's native half matmul, or as the rounded values kept in
 * float32 for the emulation, which then runs the fp32 GEMM of the backend. The model
 * registers the operand form of its parameters (ed_gemm_register_form), so weights are
 * rounded once per step rather than at every call (docs/memory.md). */
#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expert/half.h"
#include "expert/common.h"
#include "gemm.h"

/* Scratch slots: one per OpenMP thread of a region (the engine never runs more). */
#define SLOTS 256

struct ed_gemm_ctx {
    ed_gemm_backend backend;
    ed_precision prec;
    int half_native;   /* bf16 / fp16 through oneDNN's matmul of that type, else emulated */
    int onednn_split;  /* oneDNN: the engine's slab split instead of oneDNN's threading */
    ed_gemm_shapes shapes; /* ed_gemm_ctx_set_shapes */
    ed_onednn *dnnl;   /* NULL for OpenBLAS */
    void *scratch[SLOTS];
    size_t cap[SLOTS]; /* bytes */
    const float *form_base; /* ed_gemm_register_form: [form_base, + form_n) -> form */
    size_t form_n;
    const char *form;
    void *shared;           /* ed_gemm_form_buffer */
    size_t shared_cap;
};

int ed_blas_serial_begin(void) {
    int nb = openblas_get_num_threads();
    if (nb != 1) openblas_set_num_threads(1);
    return nb;
}

void ed_blas_serial_end(int saved) {
    if (saved != 1) openblas_set_num_threads(saved);
}

ed_gemm_ctx *ed_gemm_ctx_create(ed_gemm_backend b, ed_precision p, char *msg, size_t msg_len) {
    ED_CHECK(b == ED_GEMM_OPENBLAS || b == ED_GEMM_ONEDNN, "ed_gemm_ctx_create needs a resolved backend");
    ed_gemm_ctx *g = ed_calloc(1, sizeof *g);
    g->backend = b;
    g->prec = p;
    if (b == ED_GEMM_ONEDNN) {
        g->dnnl = ed_onednn_create(msg, msg_len);
        if (!g->dnnl) {
            free(g);
            return NULL;
        }
    }
    /* OpenBLAS (Debian's build has no half GEMM) always emulates bf16 and fp16; oneDNN
     * multiplies them natively where it has a matmul of that type for this CPU, unless
     * told not to. */
    g->half_native = p != ED_PREC_FP32 && !ed_precision_emulation_forced(p) && g->dnnl && ed_onednn_native(g->dnnl, p);
    return g;
}

void ed_gemm_ctx_free(ed_gemm_ctx *g) {
    if (!g) return;
    for (int i = 0; i < SLOTS; i++) free(g->scratch[i]);
    free(g->shared);
    if (g->dnnl) ed_onednn_free(g->dnnl);
    free(g);
}

ed_gemm_backend ed_gemm_ctx_backend(const ed_gemm_ctx *g) { return g->backend; }
ed_precision ed_gemm_ctx_precision(const ed_gemm_ctx *g) { return g->prec; }
int ed_gemm_ctx_half_native(const ed_gemm_ctx *g) { return g->half_native; }
long ed_gemm_ctx_primitives(const ed_gemm_ctx *g) { return g->dnnl ? ed_onednn_primitives(g->dnnl) : 0; }

void ed_gemm_ctx_describe(const ed_gemm_ctx *g, char *buf, size_t len) {
    const char *impl = g->dnnl ? ed_onednn_impl(g->dnnl) : "";
    const char *p = ed_precision_names[g->prec];
    char prec[96];
    if (g->prec == ED_PREC_FP32)
        snprintf(prec, sizeof prec, "fp32");
    else if (g->half_native)
        snprintf(prec, sizeof prec, "%s (native %s matmul, fp32 accumulation)", p, p);
    else
        snprintf(prec, sizeof prec, "%s (emulated: fp32 GEMM on %s-rounded inputs)", p, p);
    snprintf(buf, len, "%s%s%s%s, %s", ed_gemm_backend_names[g->backend], impl[0] ? " (" : "", impl,
             impl[0] ? ")" : "", prec);
}

/* ---- fp32 products: one per thread, or split into per-thread slabs ---- */

/* One row through OpenBLAS fp32 (decoding one token): sgemm would pack the whole of B on
 * every call (measured: 85% of a decode step in packing), sgemv streams it once. This
 * was decode.c's own GEMV loop; here it also serves attention's one-row products, and
 * cached decoding measured no slower for the move (ed-bench-generate, small, best of 6
 * interleaved runs on a loaded 2-core Zen 3: 883 vs 717 tok/s at 1 thread, 1646 vs 1541
 * at 2). */
static int row_gemv(const ed_gemm_ctx *g, int M) {
    return M == 1 && g->backend == ED_GEMM_OPENBLAS && g->prec == ED_PREC_FP32;
}

/* One thread's product: OpenBLAS single-threaded, or oneDNN from inside a region (where
 * it runs on the calling thread, with that thread's scratch slot). */
static void one_gemm(ed_gemm_ctx *g, int slot, int transA, int transB, int M, int N, int K, float alpha,
                     const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (g->backend == ED_GEMM_ONEDNN)
        ed_onednn_gemm(g->dnnl, ED_PREC_FP32, slot, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else if (row_gemv(g, M)) /* C[0, :] = alpha op(B)^T a + beta C, a = A's one row (a column when transA) */
        cblas_sgemv(CblasRowMajor, transB ? CblasNoTrans : CblasTrans, transB ? N : K, transB ? K : N, alpha, B,
                    ldb, A, transA ? lda : 1, beta, C, 1);
    else
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N,
                    K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static void split_gemm(ed_gemm_ctx *g, int transA, int transB, int M, int N, int K, float alpha, const float *A,
                       int lda, const float *B, int ldb, float beta, float *C, int ldc, int nested) {
    int nt = omp_get_max_threads();
    /* small products: the fork costs more than it saves (a one-row GEMV is split from
     * 65536 multiply-adds, as the decoder's own GEMV loop was before it moved here) */
    if (nested || nt == 1 || (double)M * N * K < (row_gemv(g, M) ? 65536.0 : 262144.0)) {
        one_gemm(g, nested ? omp_get_thread_num() : 0, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C,
                 ldc);
        return;
    }
    int split_m = M >= N;
    int len = split_m ? M : N, grain = split_m ? 4 : 16; /* kernel-friendly slab edges */
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        int per = (len + n - 1) / n;
        per = (per + grain - 1) / grain * grain;
        int lo = t * per, hi = lo + per < len ? lo + per : len;
        if (lo < hi) {
            if (split_m) {
                const float *a = transA ? A + lo : A + (size_t)lo * lda;
                one_gemm(g, t, transA, transB, hi - lo, N, K, alpha, a, lda, B, ldb, beta, C + (size_t)lo * ldc, ldc);
            } else {
                const float *b = transB ? B + (size_t)lo * ldb : B + lo;
                one_gemm(g, t, transA, transB, M, hi - lo, K, alpha, A, lda, b, ldb, beta, C + lo, ldc);
            }
        }
    }
}

/* ---- half-precision operand copies ---- */

/* Scratch of slot t with room for `bytes` (grown, never shrunk). */
static void *slot_scratch(ed_gemm_ctx *g, int t, size_t bytes) {
    ED_CHECK(t < SLOTS, "GEMM called from OpenMP thread %d; at most %d supported", t, SLOTS);
    if (g->cap[t] < bytes) {
        free(g->scratch[t]);
        g->scratch[t] = ed_malloc(bytes);
        g->cap[t] = bytes;
    }
    return g->scratch[t];
}

/* rows x cols of src (leading dimension ld) -> dense dst (ld = cols), rounded to format
 * fmt: bit patterns (uint16) when `bits`, else float32 values. Parallel over rows unless
 * already inside a region or small. */
static void round_matrix(ed_half_format fmt, void *dst, const float *src, int rows, int cols, int ld, int bits,
                         int nested) {
#pragma omp parallel for schedule(static) if (!nested && (size_t)rows * cols >= 65536)
    for (int r = 0; r < rows; r++) {
        const float *s = src + (size_t)r * ld;
        if (bits)
            ed_half_from_f32(fmt, (uint16_t *)dst + (size_t)r * cols, s, (size_t)cols);
        else
            ed_half_round(fmt, (float *)dst + (size_t)r * cols, s, (size_t)cols);
    }
}

int ed_gemm_rounds(const ed_gemm_ctx *g) { return g->prec != ED_PREC_FP32; }

size_t ed_gemm_operand_bytes(const ed_gemm_ctx *g) {
    return g->prec != ED_PREC_FP32 && g->half_native ? sizeof(uint16_t) : sizeof(float);
}

void ed_gemm_prepare(const ed_gemm_ctx *g, void *dst, const float *src, int rows, int cols, int ld) {
    ED_CHECK(g->prec != ED_PREC_FP32, "ed_gemm_prepare: an fp32 context has no operand form");
    round_matrix(g->prec == ED_PREC_BF16 ? ED_HALF_BF16 : ED_HALF_FP16, dst, src, rows, cols, ld, g->half_native,
                 omp_in_parallel());
}

void ed_gemm_prepare_span(const ed_gemm_ctx *g, void *dst, const float *src, size_t n) {
    ed_half_format fmt = g->prec == ED_PREC_BF16 ? ED_HALF_BF16 : ED_HALF_FP16;
    if (g->half_native)
        ed_half_from_f32(fmt, dst, src, n);
    else
        ed_half_round(fmt, dst, src, n);
}

void ed_gemm_register_form(ed_gemm_ctx *g, const float *base, size_t n, const void *form) {
    g->form_base = base;
    g->form_n = base ? n : 0;
    g->form = form;
}

void *ed_gemm_form_buffer(ed_gemm_ctx *g, size_t bytes) {
    ED_CHECK(!omp_in_parallel(), "ed_gemm_form_buffer called inside a parallel region");
    if (g->shared_cap < bytes) {
        free(g->shared);
        g->shared = ed_malloc(bytes);
        g->shared_cap = bytes;
    }
    return g->shared;
}

/* The registered operand form of a float32 operand inside the registered buffer, or NULL. */
static const void *registered(const ed_gemm_ctx *g, const void *p) {
    const float *f = p;
    if (!g->form_base || f < g->form_base || f >= g->form_base + g->form_n) return NULL;
    return g->form + (size_t)(f - g->form_base) * ed_gemm_operand_bytes(g);
}

void ed_gemm_ready(ed_gemm_ctx *g, int ready, int transA, int transB, int M, int N, int K, float alpha, const void *A,
                   int lda, const void *B, int ldb, float beta, float *C, int ldc) {
    int nested = omp_in_parallel();
    int slot = nested ? omp_get_thread_num() : 0;
    if (M <= 0 || N <= 0) return;
    if (g->prec != ED_PREC_FP32 && K > 0) {
        ed_half_format fmt = g->prec == ED_PREC_BF16 ? ED_HALF_BF16 : ED_HALF_FP16;
        const void *f;
        if (!(ready & ED_GEMM_A_READY) && (f = registered(g, A))) A = f, ready |= ED_GEMM_A_READY;
        if (!(ready & ED_GEMM_B_READY) && (f = registered(g, B))) B = f, ready |= ED_GEMM_B_READY;
        int ar = transA ? K : M, ac = transA ? M : K; /* A and B as stored */
        int br = transB ? N : K, bc = transB ? K : N;
        size_t es = ed_gemm_operand_bytes(g);
        size_t abytes = ready & ED_GEMM_A_READY ? 0 : ((size_t)ar * ac * es + 63) & ~(size_t)63;
        size_t bbytes = ready & ED_GEMM_B_READY ? 0 : (size_t)br * bc * es;
        char *s = abytes + bbytes ? slot_scratch(g, slot, abytes + bbytes) : NULL;
        if (!(ready & ED_GEMM_A_READY)) {
            round_matrix(fmt, s, A, ar, ac, lda, g->half_native, nested);
            A = s, lda = ac;
        }
        if (!(ready & ED_GEMM_B_READY)) {
            round_matrix(fmt, s + abytes, B, br, bc, ldb, g->half_native, nested);
            B = s + abytes, ldb = bc;
        }
        if (g->half_native) {
            ed_onednn_gemm(g->dnnl, g->prec, slot, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
            return;
        }
    }
    if (g->backend == ED_GEMM_ONEDNN && !g->onednn_split)
        ed_onednn_gemm(g->dnnl, ED_PREC_FP32, slot, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        split_gemm(g, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, nested);
}

void ed_gemm(ed_gemm_ctx *g, int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc) {
    ed_gemm_ready(g, 0, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void ed_gemm_ctx_set_onednn_split(ed_gemm_ctx *g, int on) { g->onednn_split = on != 0; }

ed_gemm_shapes ed_gemm_ctx_set_shapes(ed_gemm_ctx *g, ed_gemm_shapes s) {
    ed_gemm_shapes old = g->shapes;
    g->shapes = s;
    if (g->dnnl) ed_onednn_set_shapes(g->dnnl, s);
    return old;
}

ed_gemm_shapes ed_gemm_ctx_shapes(const ed_gemm_ctx *g) { return g->shapes; }
