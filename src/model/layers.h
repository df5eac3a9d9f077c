/* layers.h — the engine's layer functions (private to src/model and its tests): the
 * matmuls here, and the hand-written layers compiled once per ISA path in
 * src/kernels/kernels.h (included below), which keeps their contracts.
 *
 * Every layer is a pair of plain functions in the style of llm.c: `x_forward(out, ...,
 * inp, weights, sizes)` and `x_backward(dinp, dweights, ..., dout, saved inputs, sizes)`.
 * Shapes are in the comments; N = B*T rows. All matmuls go through ed_gemm (gemm.h) on
 * the context `g` (backend and precision), elementwise loops are OpenMP-parallel and written so the compiler vectorises them.
 *
 * Accumulation rules (they matter for the callers in gpt.c):
 *  - parameter gradients (dw, dbias, dwte, ...) are always ACCUMULATED (+=);
 *  - activation gradients are OVERWRITTEN, except the dinp of layernorm_backward and
 *    rmsnorm_backward, which accumulates because it is always added into the
 *    residual-stream gradient. */
#ifndef ED_MODEL_LAYERS_H
#define ED_MODEL_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "../gemm/gemm.h"
#include "../kernels/kernels.h" /* the dispatched layers: embedding, layernorm, GELU, attention,
                                      residual/dropout, cross-entropy */

/* Rows per chunk of new tokens in cached decoding (decode.c; gemm_probe.c times them):
 * one attention row block, large enough for GEMMs to run at speed on a prompt. */
#define GPT_KV_ROWS ED_ATT_BLOCK

/* ---- matmul.c ---- (PyTorch nn.Linear: w is [OC,C], out = inp @ w^T + bias) */
/* out[N,OC] = inp[N,C] @ w^T + bias (bias may be NULL); with accumulate, out += the same. */
void matmul_forward(ed_gemm_ctx *g, float *out, const float *inp, const float *w, const float *bias, int N, int C,
                    int OC, int accumulate);
/* dinp[N,C] = dout @ w (skipped when dinp is NULL); dw[OC,C] += dout^T @ inp;
 * dbias[OC] += column sums of dout (skipped when NULL). */
void matmul_backward(ed_gemm_ctx *g, float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                     const float *w, int N, int C, int OC);
/* The same two with inp already in g's operand form (gemm.h) when inp_ready is set (an
 * activation rounded once where it was made, gpt.c's act_form): dense (N,C) elements of
 * ed_gemm_operand_bytes(g) each. inp_ready = 0 is matmul_forward / matmul_backward. */
void matmul_forward_in(ed_gemm_ctx *g, float *out, const void *inp, int inp_ready, const float *w, const float *bias,
                       int N, int C, int OC, int accumulate);
void matmul_backward_in(ed_gemm_ctx *g, float *dinp, float *dw, float *dbias, const float *dout, const void *inp,
                        int inp_ready, const float *w, int N, int C, int OC);
/* matmul_backward_in without a bias, for a dout the caller already put in operand form:
 * dh, dense (N,OC) (ed_gemm_rounds(g) only; gpt.c rounds the head's gradient as it makes
 * it). */
void matmul_backward_formed(ed_gemm_ctx *g, float *dinp, float *dw, const void *dh, const void *inp, int inp_ready,
                            const float *w, int N, int C, int OC);

#endif
