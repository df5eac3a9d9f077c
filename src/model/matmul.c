/* matmul.c — the Linear layer (out = inp @ w^T + bias, w in PyTorch's [out, in] layout),
 * all products through ed_gemm (gemm.h). */
#include <omp.h>
#include <stddef.h>
#include <string.h>

#include "layers.h"

/* inp is (N,C), w is (OC,C), bias is (OC), out is (N,OC). The bias is written first and
 * the GEMM accumulates onto it (beta = 1), which saves a second pass over out. */
void matmul_forward_in(ed_gemm_ctx *g, float *out, const void *inp, int inp_ready, const float *w, const float *bias,
                       int N, int C, int OC, int accumulate) {
    float beta = accumulate ? 1.0f : 0.0f;
    if (bias) {
        /* one row (decoding a token): no fork for a single memcpy */
#pragma omp parallel for schedule(static) if (N > 1)
        for (int n = 0; n < N; n++) {
            float *o = out + (size_t)n * OC;
            if (accumulate)
                for (int j = 0; j < OC; j++) o[j] += bias[j];
            else
                memcpy(o, bias, (size_t)OC * sizeof(float));
        }
        beta = 1.0f;
    }
    ed_gemm_ready(g, inp_ready ? ED_GEMM_A_READY : 0, 0, 1, N, OC, C, 1.0f, inp, C, w, C, beta, out, OC);
}

void matmul_forward(ed_gemm_ctx *g, float *out, const float *inp, const float *w, const float *bias, int N, int C,
                    int OC, int accumulate) {
    matmul_forward_in(g, out, inp, 0, w, bias, N, C, OC, accumulate);
}

/* dbias[OC] += column sums of dout (N,OC); with dh, dh = dout in g's operand form in the
 * same pass (dout is read once for both). A thread owns a strip of whole columns and goes
 * down the rows, so each column is summed in row order whatever the thread count or the
 * strip width; strips are as wide as the threads allow (long contiguous runs per row for
 * the rounding and the prefetcher), at most STRIP columns. */
#define STRIP 1024
static void bias_sums(ed_gemm_ctx *g, void *dh, float *dbias, const float *dout, int N, int OC) {
    int nt = omp_get_max_threads();
    int width = (OC + nt - 1) / nt;
    width = (width + 31) / 32 * 32;
    if (width > STRIP) width = STRIP;
    int nblk = (OC + width - 1) / width;
    size_t es = dh ? ed_gemm_operand_bytes(g) : 0;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * width, c1 = c0 + width < OC ? c0 + width : OC;
        float acc[STRIP] = {0};
        for (int n = 0; n < N; n++) {
            const float *r = dout + (size_t)n * OC;
            if (dh) ed_gemm_prepare_span(g, (char *)dh + ((size_t)n * OC + c0) * es, r + c0, (size_t)(c1 - c0));
#pragma omp simd
            for (int j = c0; j < c1; j++) acc[j - c0] += r[j];
        }
        for (int j = c0; j < c1; j++) dbias[j] += acc[j - c0];
    }
}

void matmul_backward_formed(ed_gemm_ctx *g, float *dinp, float *dw, const void *dh, const void *inp, int inp_ready,
                            const float *w, int N, int C, int OC) {
    if (dinp) ed_gemm_ready(g, ED_GEMM_A_READY, 0, 0, N, C, OC, 1.0f, dh, OC, w, C, 0.0f, dinp, C);
    ed_gemm_ready(g, ED_GEMM_A_READY | (inp_ready ? ED_GEMM_B_READY : 0), 1, 0, OC, C, N, 1.0f, dh, OC, inp, C, 1.0f,
                  dw, C);
}

/* dout is (N,OC): dinp (N,C) = dout @ w; dw (OC,C) += dout^T @ inp; dbias += sum_n dout. */
void matmul_backward_in(ed_gemm_ctx *g, float *dinp, float *dw, float *dbias, const float *dout, const void *inp,
                        int inp_ready, const float *w, int N, int C, int OC) {
    int ib = inp_ready ? ED_GEMM_B_READY : 0;
    if (ed_gemm_rounds(g)) { /* dout feeds both products: rounded once (gemm.h) */
        void *dh = ed_gemm_form_buffer(g, (size_t)N * OC * ed_gemm_operand_bytes(g));
        if (dbias)
            bias_sums(g, dh, dbias, dout, N, OC);
        else
            ed_gemm_prepare(g, dh, dout, N, OC, OC);
        matmul_backward_formed(g, dinp, dw, dh, inp, inp_ready, w, N, C, OC);
        return;
    }
    if (dinp) ed_gemm(g, 0, 0, N, C, OC, 1.0f, dout, OC, w, C, 0.0f, dinp, C);
    ed_gemm_ready(g, ib, 1, 0, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dw, C);
    if (dbias) bias_sums(g, NULL, dbias, dout, N, OC);
}

void matmul_backward(ed_gemm_ctx *g, float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                     const float *w, int N, int C, int OC) {
    matmul_backward_in(g, dinp, dw, dbias, dout, inp, 0, w, N, C, OC);
}
