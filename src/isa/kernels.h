/* kernels.h — the table of hand-written kernels that exist once per ISA path (isa.h).
 *
 * ED_KERNELS below is the one list of dispatched kernels: from it come the table type,
 * the per-path tables (kernel_table.c), the suffixed prototypes that every kernel
 * definition is checked against, and the plain-named entry points in dispatch.c that
 * the rest of the engine calls (layers.h, optim_internal.h, optim.h keep documenting
 * them). A kernel source file is compiled once per path with ED_KSUFFIX set to the
 * path's name (CMakeLists.txt: ED_KERNEL_SOURCES) and defines its kernels as
 * `void ED_KFN(gelu_forward)(...)`, i.e. gelu_forward_avx2 in the avx2 copy. Such a file
 * holds only kernels and static helpers: anything else would be defined once per path.
 *
 * Adding a kernel: one ED_KV/ED_KR row here, ED_KFN around its definition, and its file
 * in ED_KERNEL_SOURCES if it is a new file. */
#ifndef ED_ISA_KERNELS_H
#define ED_ISA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* The GEMM context the attention kernels pass on (src/model/gemm.h). */
typedef struct ed_gemm_ctx ed_gemm_ctx;

/* ED_KV(name, (parameters), (arguments)) for void kernels,
 * ED_KR(type, name, (parameters), (arguments)) for kernels returning a value. */
#define ED_KERNELS(ED_KV, ED_KR)                                                                       \
    ED_KV(encoder_forward,                                                                             \
          (float *out, const int32_t *inp, const float *wte, const float *wpe, int B, int T, int D),   \
          (out, inp, wte, wpe, B, T, D))                                                               \
    ED_KV(encoder_backward,                                                                            \
          (float *dwte, float *dwpe, const float *dout, const int32_t *inp, int B, int T, int D),      \
          (dwte, dwpe, dout, inp, B, T, D))                                                            \
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
          (ed_gemm_ctx *g, float *out, float *att, float *attd, const float *qkv, int B, int T, int D, \
           int H, float p, uint64_t seed),                                                             \
          (g, out, att, attd, qkv, B, T, D, H, p, seed))                                               \
    ED_KV(attention_backward,                                                                          \
          (ed_gemm_ctx *g, float *dqkv, float *scratch, const float *dout, const float *qkv,           \
           const float *att, const float *attd, int B, int T, int D, int H, float p, int threads),     \
          (g, dqkv, scratch, dout, qkv, att, attd, B, T, D, H, p, threads))                            \
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
    ED_KV(ed_scale, (float *g, size_t n, float s), (g, n, s))

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

#endif
