/* layers.h — the engine's layer functions (private to src/model and its tests).
 *
 * Every layer is a pair of plain functions in the style of llm.c: `x_forward(out, ...,
 * inp, weights, sizes)` and `x_backward(dinp, dweights, ..., dout, saved inputs, sizes)`.
 * Shapes are in the comments; N = B*T rows. All matmuls go through ed_gemm (gemm.h) on
 * the context `g` (backend and precision), elementwise loops are OpenMP-parallel and written so the compiler vectorises them.
 *
 * Accumulation rules (they matter for the callers in gpt.c):
 *  - parameter gradients (dw, dbias, dwte, ...) are always ACCUMULATED (+=);
 *  - activation gradients are OVERWRITTEN, except layernorm_backward's dinp, which
 *    accumulates because it is always added into the residual-stream gradient. */
#ifndef ED_MODEL_LAYERS_H
#define ED_MODEL_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "gemm.h"


/* ---- embedding.c ---- */
/* out[N,D] = wte[inp[n]] + wpe[t]; inp is [B,T] token ids (already range-checked). */
void encoder_forward(float *out, const int32_t *inp, const float *wte, const float *wpe,
                     int B, int T, int D);
/* dwte[inp[n]] += dout[n]; dwpe[t] += sum_b dout[b,t]. */
void encoder_backward(float *dwte, float *dwpe, const float *dout, const int32_t *inp,
                      int B, int T, int D);

/* ---- layernorm.c ---- (eps 1e-5, biased variance, like torch.nn.LayerNorm) */
/* out[N,C] = (inp - mean) * rstd * w + b; saves mean[N], rstd[N] for the backward. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N, int C);
/* dinp[N,C] += ..., dw[C] += ..., db[C] += ... */
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C);

/* ---- matmul.c ---- (PyTorch nn.Linear: w is [OC,C], out = inp @ w^T + bias) */
/* out[N,OC] = inp[N,C] @ w^T + bias (bias may be NULL); with accumulate, out += the same. */
void matmul_forward(ed_gemm_ctx *g, float *out, const float *inp, const float *w, const float *bias, int N, int C,
                    int OC, int accumulate);
/* dinp[N,C] = dout @ w (skipped when dinp is NULL); dw[OC,C] += dout^T @ inp;
 * dbias[OC] += column sums of dout (skipped when NULL). */
void matmul_backward(ed_gemm_ctx *g, float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                     const float *w, int N, int C, int OC);

/* ---- gelu.c ---- (tanh approximation, F.gelu(approximate='tanh')) */
void gelu_forward(float *out, const float *inp, size_t n);
/* dinp = gelu'(inp) * dout; dinp may alias dout. */
void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);

/* Row-block size of the causal attention GEMMs (see attention.c). */
#define ED_ATT_BLOCK 64

/* ---- attention.c ---- causal multi-head softmax attention on a fused qkv buffer.
 * qkv[N,3D] rows are [q | k | v], head h uses columns h*hd..(h+1)*hd of each part.
 * att[B,H,T,T] keeps the softmax probabilities (zeros above the diagonal).
 * With p > 0, attd[B,H,T,T] keeps the dropped-out probabilities P*mask/(1-p) (the mask
 * is recovered as attd != 0) and the draws come from per-(b,h) streams of `seed`,
 * so results do not depend on the thread count. attd is NULL when p == 0. */
void attention_forward(ed_gemm_ctx *g, float *out, float *att, float *attd, const float *qkv, int B, int T, int D,
                       int H, float p, uint64_t seed);
/* dqkv[N,3D] = gradient of qkv; dout[N,D] is the gradient of out. scratch holds
 * ED_ATT_BLOCK*T floats for each of `threads` OpenMP threads (the loop uses no more). */
void attention_backward(ed_gemm_ctx *g, float *dqkv, float *scratch, const float *dout, const float *qkv,
                        const float *att, const float *attd, int B, int T, int D, int H, float p,
                        int threads);

/* ---- residual.c ---- residual add and (inverted) dropout on a branch */
/* mask[n] = 1 with probability 1-p (per-chunk streams of seed, thread-count independent). */
void dropout_mask(uint8_t *mask, size_t n, float p, uint64_t seed);
/* out = res + branch * mask / (1-p)   (out may alias branch). */
void residual_dropout_forward(float *out, const float *res, const float *branch,
                              const uint8_t *mask, float p, size_t n);
/* out[N,C] = res + bias, the start value for a branch GEMM that accumulates onto it. */
void residual_bias_init(float *out, const float *res, const float *bias, int N, int C);
/* dbranch = dout * mask / (1-p). */
void dropout_backward(float *dbranch, const float *dout, const uint8_t *mask, float p, size_t n);

/* ---- crossentropy.c ---- softmax cross-entropy with ignore_index -100 and PyTorch
 * label smoothing: loss_n = (1-eps) * (lse - z[t]) + eps * (lse - mean_j z[j]). */
/* Per row: lse[n] (log-sum-exp), loss[n] (0 for an ignored target) and hit[n] (1 when the
 * first arg-max of the row is the target). The caller sums the rows in order, so the
 * total does not depend on the thread count or on how the rows were chunked. */
void crossentropy_forward(float *lse, double *loss, uint8_t *hit, const float *logits,
                          const int32_t *targets, int N, int V, float eps);
/* dlogits[N,V] = scale * (softmax - (1-eps) onehot - eps/V), zero rows for ignored targets.
 * dlogits may alias logits. */
void crossentropy_backward(float *dlogits, const float *logits, const float *lse,
                           const int32_t *targets, int N, int V, float eps, float scale);

#endif
