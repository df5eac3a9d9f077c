/* kernels.h — the hand-written kernels that exist once per ISA path (isa.h): their
 * contracts (the plain-named functions at the end, which the model and the optimizer
 * call) and the table that dispatches them.
 *
 * ED_KERNELS below is the one list of dispatched kernels: from it come the table type,
 * the per-path tables (kernel_table.c), the suffixed prototypes that every kernel
 * definition is checked against, and the plain-named entry points in dispatch.c that
 * the rest of the engine calls (declared and documented at the end of this file; ed_sumsq
 * and ed_scale in expert/optim.h; the float32 -> bf16 / fp16 array conversions
 * ed_half_from_f32 and ed_half_round, convert.c, in expert/half.h, whose callers, the
 * GEMM operands and bf16 gradients on the wire, are below this folder: like the libm
 * the kernels call, they are leaf functions that call nothing back). A kernel source
 * file is compiled once per path with ED_KSUFFIX set to the path's name (CMakeLists.txt:
 * ED_KERNEL_SOURCES) and defines its kernels as `void ED_KFN(gelu_forward)(...)`, i.e.
 * gelu_forward_avx2 in the avx2 copy. Such a file holds only kernels and static helpers:
 * anything else would be defined once per path.
 *
 * Adding a kernel: one ED_KV/ED_KR row here, ED_KFN around its definition, and its file
 * in ED_KERNEL_SOURCES if it is a new file. */
#ifndef ED_KERNELS_KERNELS_H
#define ED_KERNELS_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "expert/half.h"   /* ed_half_format of the conversion kernels */
#include "../gemm/gemm.h" /* the GEMM context the attention kernels pass on */

/* ED_KV(name, (parameters), (arguments)) for void kernels,
 * ED_KR(type, name, (parameters), (arguments)) for kernels returning a value. */
#define ED_KERNELS(ED_KV, ED_KR)                                                                       \
    ED_KV(encoder_forward,                                                                             \
          (float *out, const int32_t *inp, const int *pos, const float *wte, const float *wpe, int B,   \
           int T, int D),                                                                              \
          (out, inp, pos, wte, wpe, B, T, D))                                                          \
    ED_KV(encoder_backward,                                                                            \
          (float *dwte, float *dwpe, const float *dout, const int32_t *inp, const int *pos, int B,     \
           int T, int D),                                                                              \
          (dwte, dwpe, dout, inp, pos, B, T, D))                                                       \
    ED_KV(layernorm_forward,                                                                           \
          (float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b,     \
           int N, int C),                                                                              \
          (out, mean, rstd, inp, w, b, N, C))                                                          \
    ED_KV(layernorm_backward,                                                                          \
          (float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,     \
           const float *mean, const float *rstd, int N, int C),                                        \
          (dinp, dw, db, dout, inp, w, mean, rstd, N, C))                                              \
    ED_KV(gelu_forward, (float *out, const float *inp, size_t n), (out, inp, n))                       \
    ED_KV(gelu_backward, (float *dinp, const float *inp, const float *dout, size_t n),                 \
          (dinp, inp, dout, n))                                                                        \
    ED_KV(attention_forward,                                                                           \
          (ed_gemm_ctx *g, float *out, float *lse, const float *qkv, const int *seg, int B, int T, int D,  \
           int H, int G, float p, uint64_t seed, float *scratch, int threads),                         \
          (g, out, lse, qkv, seg, B, T, D, H, G, p, seed, scratch, threads))                           \
    ED_KV(attention_backward,                                                                          \
          (ed_gemm_ctx *g, float *dqkv, float *scratch, const float *dout, const float *qkv,           \
           const float *out, const float *lse, const int *seg, int B, int T, int D, int H, int G,      \
           float p, uint64_t seed, int threads),                                                       \
          (g, dqkv, scratch, dout, qkv, out, lse, seg, B, T, D, H, G, p, seed, threads))               \
    ED_KV(rmsnorm_forward,                                                                             \
          (float *out, float *rstd, const float *inp, const float *w, int N, int C, float eps),        \
          (out, rstd, inp, w, N, C, eps))                                                              \
    ED_KV(rmsnorm_backward,                                                                            \
          (float *dinp, float *dw, const float *dout, const float *inp, const float *w,                \
           const float *rstd, int N, int C),                                                           \
          (dinp, dw, dout, inp, w, rstd, N, C))                                                        \
    ED_KV(rope_forward,                                                                                \
          (float *x, const float *cos, const float *sin, const int *pos, int B, int T, int heads,      \
           int hd, int ld),                                                                            \
          (x, cos, sin, pos, B, T, heads, hd, ld))                                                     \
    ED_KV(rope_backward,                                                                               \
          (float *dx, const float *cos, const float *sin, const int *pos, int B, int T, int heads,     \
           int hd, int ld),                                                                            \
          (dx, cos, sin, pos, B, T, heads, hd, ld))                                                    \
    ED_KV(swiglu_forward, (float *out, const float *gu, int N, int FF), (out, gu, N, FF))              \
    ED_KV(swiglu_backward, (float *dgu, const float *gu, const float *dout, int N, int FF),            \
          (dgu, gu, dout, N, FF))                                                                      \
    ED_KV(dropout_mask, (uint8_t *mask, size_t n, float p, uint64_t seed), (mask, n, p, seed))         \
    ED_KV(residual_dropout_forward,                                                                    \
          (float *out, const float *res, const float *branch, const uint8_t *mask, float p, size_t n), \
          (out, res, branch, mask, p, n))                                                              \
    ED_KV(residual_bias_init, (float *out, const float *res, const float *bias, int N, int C),         \
          (out, res, bias, N, C))                                                                      \
    ED_KV(dropout_backward,                                                                            \
          (float *dbranch, const float *dout, const uint8_t *mask, float p, size_t n),                 \
          (dbranch, dout, mask, p, n))                                                                 \
    ED_KV(crossentropy_forward,                                                                        \
          (float *lse, double *loss, uint8_t *hit, const float *logits, const int32_t *targets, int N, \
           int V, float eps),                                                                          \
          (lse, loss, hit, logits, targets, N, V, eps))                                                \
    ED_KV(crossentropy_backward,                                                                       \
          (float *dlogits, const float *logits, const float *lse, const int32_t *targets, int N,       \
           int V, float eps, float scale),                                                             \
          (dlogits, logits, lse, targets, N, V, eps, scale))                                           \
    ED_KV(adamw_update,                                                                                \
          (float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1, float beta2, \
           float eps, float wd, long step),                                                            \
          (p, g, m, v, n, lr, beta1, beta2, eps, wd, step))                                            \
    ED_KV(sgd_update,                                                                                  \
          (float *p, const float *g, float *buf, size_t n, float lr, float momentum, float wd),        \
          (p, g, buf, n, lr, momentum, wd))                                                            \
    ED_KR(double, ed_sumsq, (const float *g, size_t n), (g, n))                                        \
    ED_KV(ed_scale, (float *g, size_t n, float s), (g, n, s))                                          \
    ED_KV(ed_half_from_f32, (ed_half_format fmt, uint16_t *dst, const float *src, size_t n),            \
          (fmt, dst, src, n))                                                                          \
    ED_KV(ed_half_round, (ed_half_format fmt, float *dst, const float *src, size_t n), (fmt, dst, src, n))

#define ED_KFIELD_V(name, params, args) void(*name) params;
#define ED_KFIELD_R(type, name, params, args) type(*name) params;
typedef struct {
    ED_KERNELS(ED_KFIELD_V, ED_KFIELD_R)
} ed_kernels;

/* The tables this binary holds (kernel_table.c, one per path; NULL-free). */
extern const ed_kernels ed_kernels_baseline, ed_kernels_avx2, ed_kernels_avx512, ed_kernels_native;

/* The table of a path, NULL when the path is not built. Any path returned may be CALLED
 * only when ed_isa_runs() says so (tests use this to compare the paths in one process). */
const ed_kernels *ed_kernels_for(int isa);
/* The process-wide choice (isa.h): the table every plain-named kernel call goes to. */
const ed_kernels *ed_kernels_active(void);

#define ED_KCAT2(a, b) a##_##b
#define ED_KCAT(a, b) ED_KCAT2(a, b)

#ifdef ED_KSUFFIX
/* Inside one path's copy: ED_KFN(name) is that copy's definition of the kernel, and its
 * prototype (from the list) makes the compiler check the definition's signature. */
#define ED_KFN(name) ED_KCAT(name, ED_KSUFFIX)
#define ED_KPROTO_V(name, params, args) void ED_KFN(name) params;
#define ED_KPROTO_R(type, name, params, args) type ED_KFN(name) params;
ED_KERNELS(ED_KPROTO_V, ED_KPROTO_R)
#undef ED_KPROTO_V
#undef ED_KPROTO_R
#endif


/* ================= The plain-named entry points (dispatch.c forwards them) =================
 * Layers in the style of llm.c: `x_forward(out, ..., inp, weights, sizes)` and
 * `x_backward(dinp, dweights, ..., dout, saved inputs, sizes)`; N = B*T rows. Parameter
 * gradients ACCUMULATE (+=); activation gradients are OVERWRITTEN, except the dinp of
 * layernorm_backward and rmsnorm_backward (see src/model/layers.h). Elementwise loops
 * are OpenMP-parallel and written so the compiler vectorises them. */

/* ---- embedding.c ---- */
/* out[N,D] = wte[inp[n]] + wpe[pos[n]]; inp is [B,T] token ids (already range-checked),
 * pos [B,T] each token's position (packed windows restart at 0; < the rows of wpe), or
 * NULL: position t of row [b, t]. wpe NULL (a llama: positions come from RoPE):
 * out = wte[inp[n]]. */
void encoder_forward(float *out, const int32_t *inp, const int *pos, const float *wte, const float *wpe,
                     int B, int T, int D);
/* dwte[inp[n]] += dout[n]; dwpe[pos[n]] += dout[n] (pos NULL: position t; dwpe NULL:
 * skipped). */
void encoder_backward(float *dwte, float *dwpe, const float *dout, const int32_t *inp, const int *pos,
                      int B, int T, int D);

/* ---- layernorm.c ---- (eps 1e-5, biased variance, like torch.nn.LayerNorm) */
/* out[N,C] = (inp - mean) * rstd * w + b; saves mean[N], rstd[N] for the backward. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, int N, int C);
/* dinp[N,C] += ..., dw[C] += ..., db[C] += ... */
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C);

/* ---- gelu.c ---- (tanh approximation, F.gelu(approximate='tanh')) */
void gelu_forward(float *out, const float *inp, size_t n);
/* dinp = gelu'(inp) * dout; dinp may alias dout. */
void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);

/* ---- rmsnorm.c ---- (Llama's RMSNorm, eps from the config) */
/* out[N,C] = w * inp * rstd, rstd = 1/sqrt(mean(inp^2) + eps); saves rstd[N]. */
void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int C, float eps);
/* dinp[N,C] += ..., dw[C] += ... */
void rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                      const float *rstd, int N, int C);

/* ---- rope.c ---- rotary position embedding, rotate-half convention (HF Llama), IN PLACE.
 * x rows are B*T rows of stride ld; the first `heads` head vectors of size hd (even) of
 * each row are rotated by the angles of position pos[row] ([B,T]; packed windows restart
 * at 0), or with pos NULL of t = row % T: cos/sin are [Tmax][hd/2] tables starting at
 * position 0 (the model's table, offset for a decode chunk). */
void rope_forward(float *x, const float *cos, const float *sin, const int *pos, int B, int T, int heads, int hd,
                  int ld);
/* The transpose (inverse) rotation, applied to the gradient in place. */
void rope_backward(float *dx, const float *cos, const float *sin, const int *pos, int B, int T, int heads, int hd,
                   int ld);

/* ---- swiglu.c ---- Llama's MLP activation on fused gate|up rows gu[N,2FF] */
/* out[N,FF] = silu(gate) * up. */
void swiglu_forward(float *out, const float *gu, int N, int FF);
/* dgu[N,2FF] = gradients of gate and up (OVERWRITTEN; no aliasing). */
void swiglu_backward(float *dgu, const float *gu, const float *dout, int N, int FF);

/* ---- attention.c ---- causal multi-head softmax attention on a fused qkv buffer, with
 * G key/value heads shared by groups of H/G query heads (grouped-query attention; G = H is
 * plain multi-head attention, the GPT-2 case, G = 1 multi-query). hd = D/H.
 * qkv[N, (H+2G)hd] rows are [q (H heads) | k (G heads) | v (G heads)]; query head h uses
 * key/value head h / (H/G).
 *
 * Tiled (FlashAttention-2 style, see attention.c): no T x T matrix is kept. What the
 * backward needs from the forward is out itself and lse[B,H,T], each query row's
 * log-sum-exp of its scaled scores; memory is O(T) per head.
 *
 * seg (NULL = plain causal attention over the whole row) is (B,T): seg[b*T+i] is the
 * position in row b of the first key query i may see, so i attends to keys [seg[i], i]
 * (block-diagonal causal attention: packed windows or documents that must not see each
 * other). Within a row seg is non-decreasing and seg[i] <= i. Tiles nobody sees are
 * skipped: a row of many short windows costs about what its windows cost.
 *
 * Dropout (p > 0) on the probabilities: probability (i, j) of head b*H+h is kept iff a
 * hash of (seed, b*H+h, i, j) clears p (a pure function, so the backward regenerates the
 * mask, and results depend neither on the thread count nor on the tiling); kept ones are
 * scaled by 1/(1-p).
 *
 * Precision: g is only asked for its precision (the tile products are attention.c's own,
 * not ed_gemm calls). For bf16/fp16 every product's operands (Q, K, V, dO, and the
 * normalised probability and dS tiles) are rounded to that format and the products
 * accumulate in fp32: the contract of ed_gemm's half modes and of the PyTorch reference.
 * (bf16 on a CPU with AVX512-BF16, AVX-512 paths: the products run on vdpbf16ps, which
 * treats bf16 denormals as zero; elsewhere fp32 FMA on the rounded operands.)
 *
 * scratch holds ed_att_scratch_floats(T, hd) floats for each of `threads` OpenMP threads
 * (the loops use no more threads), for both passes. */
void attention_forward(ed_gemm_ctx *g, float *out, float *lse, const float *qkv, const int *seg, int B, int T,
                       int D, int H, int G, float p, uint64_t seed, float *scratch, int threads);
/* dqkv[N,(H+2G)hd] = gradient of qkv (OVERWRITTEN); dout[N,D] is the gradient of out.
 * out and lse are the forward's, seed and p the same as the forward's. */
void attention_backward(ed_gemm_ctx *g, float *dqkv, float *scratch, const float *dout, const float *qkv,
                        const float *out, const float *lse, const int *seg, int B, int T, int D, int H, int G,
                        float p, uint64_t seed, int threads);

/* Tile edge of the attention kernels: query and key blocks of ED_ATT_BLOCK positions.
 * 64 keeps a 64 x 64 score tile plus its operands in a core's L1/L2. */
#define ED_ATT_BLOCK 64
/* The padded sizes the kernels' buffers use: T up to whole blocks, hd up to 16 floats
 * (the widest vector of any ISA path), so tile products need no edge cases. */
static inline int ed_att_pad_t(int T) { return (T + ED_ATT_BLOCK - 1) / ED_ATT_BLOCK * ED_ATT_BLOCK; }
static inline int ed_att_pad_hd(int hd) { return (hd + 15) / 16 * 16; }
/* Scratch floats per thread: the per-head copies (rounded, padded) of K, V, Q, dO, the
 * transposes of K (the forward's), Q and dO, and the backward's dQ accumulator (8 T x hd), four per-query
 * vectors, three score-sized tiles plus room for three bf16 tiles (the AVX512-BF16
 * products' operands, attention.c) and the block's dK, dV accumulators. The forward uses
 * a subset; the bf16 products keep their packed operands in the same T x hd regions.
 * O(T hd): the memory that grows with the context. */
static inline size_t ed_att_scratch_floats(int T, int hd) {
    size_t TP = (size_t)ed_att_pad_t(T), HDP = (size_t)ed_att_pad_hd(hd), B = ED_ATT_BLOCK;
    return 8 * TP * HDP + 4 * TP + 5 * B * B + 2 * B * HDP;
}

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

/* ---- adamw.c, sgd.c ---- the per-slice update kernels behind ed_optim_step. Their loops
 * are orphaned `omp for nowait`: called inside a parallel region they share the work,
 * called outside one they run serially. */
/* AdamW on n contiguous elements (wd already 0 for non-decayed tensors); step >= 1. */
void adamw_update(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                  float beta2, float eps, float wd, long step);
/* SGD with momentum (dampening 0, no Nesterov) and L2 weight decay wd. */
void sgd_update(float *p, const float *g, float *buf, size_t n, float lr, float momentum, float wd);

#endif
