/* gemm.h — the one GEMM interface of the model (private to src/model and its tests).
 *
 * Every matrix product of the model (the Linear layers and their backward, attention's
 * per-head products, the tied head) is ed_gemm(ctx, ...): row-major
 * C = alpha op(A) op(B) + beta C, op = transpose when set, with leading dimensions.
 * The context owns the backend (OpenBLAS or oneDNN), the precision (fp32, bf16 or fp16,
 * see expert/compute.h) and everything they need between calls: oneDNN's engine, one
 * stream per thread, the primitive cache (one primitive per distinct shape, created on
 * first use and reused: a training step creates none after the first), and per-thread
 * scratch for the half-precision copies of the operands.
 *
 * Threads: called outside a parallel region, a product uses all OpenMP threads (OpenBLAS:
 * the engine splits C into per-thread slabs with single-threaded BLAS inside, see
 * ed_blas_serial_begin; oneDNN: the primitive threads itself on the same OpenMP pool).
 * Called inside a parallel region (attention, one (batch, head) per thread) a product
 * runs on the calling thread only. Thread t of a region uses scratch slot t, so
 * concurrent calls from the threads of one region are safe; one context must not be used
 * from two regions at once. */
#ifndef ED_MODEL_GEMM_H
#define ED_MODEL_GEMM_H

#include <stddef.h>

#include "expert/compute.h"

typedef struct ed_gemm_ctx ed_gemm_ctx;

/* A context for backend `b` (not AUTO) and precision p. A half precision (bf16, fp16) is
 * native on oneDNN where it has a matmul of that type for this CPU, else (always on
 * OpenBLAS, and with ED_BF16_EMULATE=1 / ED_FP16_EMULATE=1 in the environment,
 * ed_precision_emulation_forced) emulated. NULL with msg filled when the backend is not
 * in this build. */
ed_gemm_ctx *ed_gemm_ctx_create(ed_gemm_backend b, ed_precision p, char *msg, size_t msg_len);
void ed_gemm_ctx_free(ed_gemm_ctx *g);

ed_gemm_backend ed_gemm_ctx_backend(const ed_gemm_ctx *g);
ed_precision ed_gemm_ctx_precision(const ed_gemm_ctx *g);
/* 1 when half-precision products run in half instructions (oneDNN on AVX512-BF16/AMX
 * for bf16, AVX512-FP16/AMX-FP16 for fp16), 0 when emulated (or fp32). */
int ed_gemm_ctx_half_native(const ed_gemm_ctx *g);
/* "openblas, fp32" / "onednn (gemm:jit), fp16 (emulated: ...)" ... (the implementation
 * oneDNN chose for the last primitive created is shown). */
void ed_gemm_ctx_describe(const ed_gemm_ctx *g, char *buf, size_t len);
/* Primitives created so far (oneDNN; 0 for OpenBLAS): a test checks that steps reuse them. */
long ed_gemm_ctx_primitives(const ed_gemm_ctx *g);

/* Which dimensions of a product oneDNN compiles into its primitive (OpenBLAS has none):
 *   FIXED   every dimension: one primitive per distinct shape, JIT-compiled for it (the
 *           fastest where a run repeats a few shapes: fixed-length rows);
 *   TOKENS  all but the token count (M of a product with A not transposed, K of one with
 *           A transposed: the Linear layers' forward, input-gradient and weight-gradient
 *           products), which is given at each call: for batches whose row count or width
 *           changes every step (packed windows), so primitives do not pile up;
 *   ANY     none (decoding: the key count grows by one a token, the prompt length varies).
 * A pure function of the call and the setting, never of earlier calls: the same product
 * gives the same bits in a resumed run. Returns the previous setting. */
typedef enum { ED_GEMM_SHAPES_FIXED = 0, ED_GEMM_SHAPES_TOKENS = 1, ED_GEMM_SHAPES_ANY = 2 } ed_gemm_shapes;
ed_gemm_shapes ed_gemm_ctx_set_shapes(ed_gemm_ctx *g, ed_gemm_shapes s);
ed_gemm_shapes ed_gemm_ctx_shapes(const ed_gemm_ctx *g);

/* Measurement knob (ed-bench): run oneDNN fp32 products in the engine's per-thread slabs
 * (each slab a single-threaded primitive) instead of letting oneDNN thread them. */
void ed_gemm_ctx_set_onednn_split(ed_gemm_ctx *g, int on);

void ed_gemm(ed_gemm_ctx *g, int transA, int transB, int M, int N, int K, float alpha,
             const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* ---- operands rounded once, used many times ----
 * A half-precision product rounds its float32 operands at every call (into the calling
 * thread's scratch). An operand that several products share (a weight matrix: forward
 * and backward, every micro-batch; a gradient that feeds both of its layer's backward
 * products) can instead be rounded once into its OPERAND FORM and passed as is:
 *   native bf16 / fp16: the 16-bit patterns (ed_half_from_f32), 2 bytes per element;
 *   emulated:           the rounded values as float32 (ed_half_round), 4 bytes.
 * Products on operands in operand form give the same result, bit for bit, as on the
 * float32 operands they came from. For fp32 there is nothing to round (and no form). */

/* 1 when products round their operands (bf16, fp16), i.e. when an operand form exists. */
int ed_gemm_rounds(const ed_gemm_ctx *g);
/* Bytes per element of the operand form (2 or 4; 4 for fp32). */
size_t ed_gemm_operand_bytes(const ed_gemm_ctx *g);
/* dst (rows x cols, dense: leading dimension cols) = src (leading dimension ld) in the
 * operand form. Parallel over rows, unless called inside a region. Needs ed_gemm_rounds. */
void ed_gemm_prepare(const ed_gemm_ctx *g, void *dst, const float *src, int rows, int cols, int ld);
/* n contiguous elements of src into operand form at dst, on the calling thread (never a
 * parallel region): the piece of ed_gemm_prepare a caller fuses into a pass of its own
 * over the same data (matmul.c: a gradient's rounding with its bias sums). Same values. */
void ed_gemm_prepare_span(const ed_gemm_ctx *g, void *dst, const float *src, size_t n);

/* ed_gemm where the operands flagged in `ready` are already in operand form (lda / ldb
 * then count elements of that form); the others are float32 as in ed_gemm. With fp32,
 * or ready = 0, this is ed_gemm. */
enum { ED_GEMM_A_READY = 1, ED_GEMM_B_READY = 2 };
void ed_gemm_ready(ed_gemm_ctx *g, int ready, int transA, int transB, int M, int N, int K, float alpha,
                   const void *A, int lda, const void *B, int ldb, float beta, float *C, int ldc);

/* The operand form of a whole float32 buffer `base` (n elements: the model's parameters)
 * registered with the context: from then on, an ed_gemm / ed_gemm_ready operand given as
 * float32 that lies inside [base, base + n) is read from `form` at the same offset and
 * not rounded again. The caller owns both buffers and keeps `form` equal to base in
 * operand form (ed_gemm_prepare) whenever it multiplies with it; NULL base unregisters.
 * This is how weights are rounded once per optimizer step instead of at every call. */
void ed_gemm_register_form(ed_gemm_ctx *g, const float *base, size_t n, const void *form);

/* A buffer of the context for an operand form the caller prepares and shares between
 * products (grown to `bytes`, never shrunk; valid until the next call). Outside regions
 * only: one per context. */
void *ed_gemm_form_buffer(ed_gemm_ctx *g, size_t bytes);

/* Sets OpenBLAS to one thread; returns the previous count for ed_blas_serial_end.
 * The model brackets each pass with these (OpenBLAS's own pool stays idle). */
int ed_blas_serial_begin(void);
void ed_blas_serial_end(int saved);

/* ---- gemm_onednn.c: the oneDNN backend (stubs that fail when built without it) ---- */
typedef struct ed_onednn ed_onednn;
/* NULL with msg when the build has no oneDNN. */
ed_onednn *ed_onednn_create(char *msg, size_t msg_len);
void ed_onednn_free(ed_onednn *d);
/* 1 if oneDNN has a non-reference half x half -> f32 matmul on this CPU for precision p
 * (bf16 or fp16; 0 for fp32). Asked of oneDNN, not guessed from CPUID. */
int ed_onednn_native(ed_onednn *d, ed_precision p);
/* C = alpha op(A) op(B) + beta C with A, B in the operand type of precision `in`: float32
 * (fp32), or bf16 / fp16 bit patterns; C float32. `thread` is the caller's scratch slot
 * (0 outside a region). */
void ed_onednn_gemm(ed_onednn *d, ed_precision in, int thread, int transA, int transB, int M, int N,
                    int K, float alpha, const void *A, int lda, const void *B, int ldb,
                    float beta, float *C, int ldc);
/* The open-dimension setting of ed_gemm_ctx_set_shapes; returns the previous one. */
ed_gemm_shapes ed_onednn_set_shapes(ed_onednn *d, ed_gemm_shapes s);
long ed_onednn_primitives(const ed_onednn *d);
const char *ed_onednn_impl(const ed_onednn *d);
/* The highest ISA oneDNN uses here, e.g. "avx2" ("" without oneDNN). */
const char *ed_onednn_isa_name(void);

#endif
