/* gpt.h — the ExpertModel: a decoder-only transformer, forward and backward on the CPU,
 * in one of two architectures (ed_model_config.arch, --arch):
 *
 * gpt2 (matches tests/reference/gpt.py exactly): token + learned position
 * embeddings; L pre-LayerNorm blocks (ln1 -> fused qkv D->3D -> causal multi-head
 * softmax attention -> proj D->D -> residual; ln2 -> fc D->FF -> tanh-GELU -> fc_out
 * FF->D -> residual); final LayerNorm ln_f (eps 1e-5); logits = ln_f(x) @ wte^T (tied).
 *
 * llama (matches tests/reference/llama_reference.py, Hugging Face LlamaForCausalLM):
 * token embeddings only; L pre-RMSNorm blocks (attn_norm -> q, k, v (H query heads, G
 * key/value heads of hd = D/H) -> RoPE on q and k (rotate-half, base rope_theta) ->
 * causal grouped-query softmax attention -> o -> residual; mlp_norm -> down(silu(gate) *
 * up), gate/up D->FF -> residual), no biases; final RMSNorm norm_f; logits through
 * lm_head (or embed when tie_embeddings). Its tensors, in this order:
 *   embed.weight [V,D], blocks.{i}.attn_norm.weight [D], .q.weight [D,D],
 *   .k.weight [G*hd,D], .v.weight [G*hd,D], .o.weight [D,D], .mlp_norm.weight [D],
 *   .gate.weight [FF,D], .up.weight [FF,D], .down.weight [D,FF], norm_f.weight [D],
 *   lm_head.weight [V,D] (untied only)
 * ed_gpt_config returns the config normalised: a GPT-2's llama fields are zero, a
 * llama's n_kv_heads is G (never 0) and tie_embeddings 0 or 1.
 *
 * Memory: all parameters live in ONE float buffer `params`, all gradients in ONE float
 * buffer `grads` of the same layout, so allreduce, clipping, the optimizer and the
 * checkpoint writer each make one pass over one array. The layout is the PyTorch
 * state_dict order, weights in PyTorch's [out, in] layout (gpt2; llama above):
 *   wte.weight [V,D], wpe.weight [Tmax,D],
 *   blocks.{i}.ln1.weight [D], .ln1.bias [D], .qkv.weight [3D,D], .qkv.bias [3D],
 *   .proj.weight [D,D], .proj.bias [D], .ln2.weight [D], .ln2.bias [D],
 *   .fc.weight [FF,D], .fc.bias [FF], .fc_out.weight [D,FF], .fc_out.bias [D],
 *   ln_f.weight [D], ln_f.bias [D]
 * `tensors[]` names every slice (checkpoints and parity tests use it).
 *
 * Padding: sequences are right-padded. Because attention is causal, a real position
 * never attends to a later pad, so pads need no attention mask: giving them target -100
 * removes them from the loss and therefore from every gradient. Packed rows (several
 * windows or documents in one row) carry per-token segment starts and positions
 * (ed_gpt_forward_rows).
 *
 * Threads: ed_set_threads() sets both the OpenBLAS and the OpenMP thread count so that
 * ranks x threads never oversubscribes the cores. Inside a forward/backward the engine
 * runs everything on the OpenMP threads (an OpenBLAS GEMM is split into per-thread slabs
 * with single-threaded BLAS inside; oneDNN threads on the same OpenMP pool; see
 * src/gemm/gemm.h), so only one pool of threads competes for the cores; the OpenBLAS
 * setting is restored on return.
 * Not thread-safe: one ed_gpt per rank, used by one caller at a time.
 *
 * Token ids are validated by the data pipeline; an id outside [0, V) (or a target that
 * is neither -100 nor in range) reaching ed_gpt_forward is a broken invariant and aborts
 * the job with a message naming the batch row and position. */
#ifndef EXPERT_GPT_H
#define EXPERT_GPT_H

#include <stddef.h>
#include <stdint.h>

#include "expert/compute.h"
#include "expert/rng.h"

#define ED_IGNORE_INDEX (-100)

/* --arch: the block design. 0 is GPT-2, so a config written without the field (and every
 * checkpoint written before it existed) is a GPT-2. */
typedef enum { ED_ARCH_GPT2 = 0, ED_ARCH_LLAMA = 1 } ed_arch;
extern const char *const ed_arch_names[]; /* "gpt2", "llama" (index = value) */

typedef struct {
    int vocab_size;  /* V */
    int d_model;     /* D */
    int n_layers;    /* L */
    int n_heads;     /* H, divides D */
    int d_ff;        /* FF (llama: the width of gate and of up) */
    int max_seq_len; /* Tmax, rows of wpe (llama: longest sequence, RoPE table rows) */
    float dropout;   /* attention-probability and residual dropout, 0 = off (default) */
    /* The fields below apply to ED_ARCH_LLAMA only (a GPT-2 ignores them; zero there). */
    ed_arch arch;
    int n_kv_heads;     /* key/value heads G, divides H (1 = multi-query); 0 means H */
    int tie_embeddings; /* 1: logits through embed.weight; 0: a separate lm_head.weight */
    float rope_theta;   /* RoPE base (HF rope_theta), > 0 */
    float rms_eps;      /* RMSNorm epsilon (HF rms_norm_eps), > 0 */
} ed_model_config;

/* Key/value heads of a config: n_kv_heads for a llama that sets it, else n_heads. */
static inline int ed_model_kv_heads(const ed_model_config *c) {
    return c->arch == ED_ARCH_LLAMA && c->n_kv_heads > 0 ? c->n_kv_heads : c->n_heads;
}
/* 1 when the logits use the token embedding (always for a GPT-2). */
static inline int ed_model_tied(const ed_model_config *c) {
    return c->arch != ED_ARCH_LLAMA || c->tie_embeddings;
}

/* Returns 0, or -1 with a one-line reason in msg naming the options (e.g. "n-heads 6 does not
 * divide d-model 512"); options validation and the checkpoint reader report it as is. */
int ed_model_config_check(const ed_model_config *c, char *msg, size_t msg_len);
/* Parameters of a model of this (valid) shape, from the tensor table, without building it. */
size_t ed_model_num_params(const ed_model_config *c);

typedef struct {
    char name[64];   /* state_dict key, e.g. "blocks.3.qkv.weight" */
    int ndim;        /* 1 or 2 */
    int shape[2];    /* [out, in] for weights; shape[1] = 1 when ndim == 1 */
    size_t offset;   /* in floats, into params/grads */
    size_t numel;
    int weight_decay; /* 1 for 2-D matmul/embedding weights, 0 for biases and LayerNorm */
} ed_tensor;

/* Called during backward each time a contiguous range of `grads` is final
 * (ranges arrive from the end of the buffer towards the start; the tied wte gradient
 * is final only at the very end). Used to start bucketed allreduces early. */
typedef void (*ed_grad_ready_fn)(void *ctx, size_t offset, size_t count);

typedef struct ed_gpt ed_gpt; /* opaque: activations and views are the engine's business */

/* Allocates parameters and gradients (zeroed) and initialises the weights GPT-2 style
 * from `seed`: N(0, 0.02), proj/fc_out weights N(0, 0.02/sqrt(2L)), biases 0, LN weights 1.
 * Returns NULL with msg filled when the config is invalid. */
ed_gpt *ed_gpt_create(const ed_model_config *cfg, uint64_t seed, char *msg, size_t msg_len);
void ed_gpt_free(ed_gpt *m);

const ed_model_config *ed_gpt_config(const ed_gpt *m);
size_t ed_gpt_num_params(const ed_gpt *m);
/* The parameters, writable. With a half-precision GEMM (ed_gpt_set_compute) the model
 * multiplies a rounded copy of them, made at the first forward after a call to this
 * function: write through the pointer before that forward, or call again after writing
 * (a pointer kept across forwards and written later is not seen by a bf16/fp16 model). */
float *ed_gpt_params(ed_gpt *m);
float *ed_gpt_grads(ed_gpt *m);
int ed_gpt_num_tensors(const ed_gpt *m);
const ed_tensor *ed_gpt_tensors(const ed_gpt *m);
/* NULL when no tensor has that name. */
const ed_tensor *ed_gpt_find_tensor(const ed_gpt *m, const char *name);

/* Bytes of activation memory that forward/backward at (B, T) keep allocated, with or
 * without activation recomputation (see ed_gpt_set_recompute), for an fp32 model. */
size_t ed_gpt_activation_bytes(const ed_model_config *cfg, int B, int T, int recompute);
/* The same for model m as it is set (its recomputation and its GEMM precision: native
 * bf16 / fp16 keep the activations only GEMMs read in 2 bytes, docs/memory.md). */
size_t ed_gpt_model_activation_bytes(const ed_gpt *m, int B, int T);

/* Activation recomputation (off by default). When on, a training forward keeps only each
 * block's output (N*D floats per block) plus ONE block's worth of intermediates, shared by
 * all blocks; the backward re-runs each block's forward from its stored input just before
 * differentiating it. Block memory falls about L-fold for one extra forward of the blocks
 * (the top block is not recomputed: its intermediates are still in place). The head, too,
 * is never materialised: a forward with targets computes logits, log-sum-exp and loss
 * chunk by chunk of rows, and the backward recomputes each chunk's logits (N*V floats
 * saved for one more head GEMM).
 * The recomputed forward is the same code on the same inputs with the same dropout seeds
 * (kept per layer), so gradients are bit-identical to a run without recomputation. */
void ed_gpt_set_recompute(ed_gpt *m, int on);

/* Allocates now the activation memory of any training or evaluation forward of at most
 * B*T tokens in rows of at most T (the trainer's batches: a balanced slot may hold more,
 * shorter rows), under the current recomputation setting. Without it the allocation
 * grows with the largest batch seen so far, and each growth is a fresh allocation whose
 * pages fault in during the next step (variable-length batches grew it step after step). */
void ed_gpt_reserve(ed_gpt *m, int B, int T);

/* 1: the batches' token counts change from step to step (packed rows of a new width
 * every micro-batch): oneDNN products then take their token count at run time instead of
 * compiling a primitive per count, which would pile up without bound (gemm.h,
 * ed_gemm_shapes). 0 (the default): a primitive per shape, the fastest when a run
 * repeats a few shapes. Decoding's attention over the cache (ed_gpt_forward_cached)
 * always runs open. Kept across ed_gpt_set_compute. */
void ed_gpt_set_varying_rows(ed_gpt *m, int on);

/* Forward pass on inputs[B*T] (token ids, row-major [B][T], T <= max_seq_len).
 * With targets (ids or -100) it also computes the cross-entropy with optional label
 * smoothing (PyTorch semantics) and returns the SUM over non-ignored targets in
 * *loss_sum and their number in *count; the trainer divides by the global count.
 * With targets == NULL only logits are computed (see ed_gpt_logits).
 * `train` enables dropout (when cfg.dropout > 0) drawing from `rng`; may be NULL when off.
 * A dropout forward takes exactly 3 words per layer from `rng` (seeds of per-(batch,head)
 * and per-chunk streams), so the masks do not depend on the thread count; the trainer
 * seeds `rng` from (seed, step, slot), so a resumed run needs no saved generator. */
void ed_gpt_forward(ed_gpt *m, const int32_t *inputs, const int32_t *targets, int B, int T,
                    float label_smoothing, int train, ed_rng *rng,
                    double *loss_sum, long *count);

/* The same on packed rows: seg[B*T] and pos[B*T] (both or neither NULL) say, per token,
 * where in its row the segment it belongs to starts (a query attends to keys [seg, its
 * own position]: block-diagonal causal attention, kernels.h) and its position inside the
 * segment (GPT-2 position embeddings, llama RoPE angles; < max_seq_len). Several windows
 * or documents then share a row without seeing each other, each as if it were a row of
 * its own starting at position 0. Both arrays are copied (the backward uses them).
 * ed_gpt_forward is this with seg = pos = NULL: one causal sequence per row, positions
 * 0..T-1. */
void ed_gpt_forward_rows(ed_gpt *m, const int32_t *inputs, const int32_t *targets, const int *seg, const int *pos,
                         int B, int T, float label_smoothing, int train, ed_rng *rng, double *loss_sum,
                         long *count);

/* Logits of the last forward, [B*T][V]; valid until the next forward (the backward reads
 * them but does not overwrite them). NULL after a forward WITH targets under
 * recomputation: that forward runs the head in chunks of rows and keeps no logits. */
const float *ed_gpt_logits(const ed_gpt *m);

/* Of the last forward with targets: how many non-ignored positions have their target as
 * the (first) arg-max of the logits. Available in every mode. */
long ed_gpt_correct(const ed_gpt *m);

/* Of the last forward with targets: the SUM of the plain cross-entropy -log p(target)
 * over the same targets as *loss_sum, without the label-smoothing term (equal to
 * *loss_sum when label_smoothing is 0): the number to compare with a validation loss. */
double ed_gpt_nll_sum(const ed_gpt *m);

/* Backward of the last forward (which must have had targets): ACCUMULATES into grads the
 * gradient of (scale * loss_sum). The trainer uses scale = 1 and divides the reduced
 * gradient by the global target count once per optimizer step.
 * `ready` (may be NULL) is told as ranges of grads become final. */
void ed_gpt_backward(ed_gpt *m, float scale, ed_grad_ready_fn ready, void *ready_ctx);

void ed_gpt_zero_grad(ed_gpt *m);

/* GEMM backend and precision of every matmul (expert/compute.h); a new model starts with
 * OpenBLAS in fp32. `b` must be resolved (not ED_GEMM_AUTO: see ed_gemm_backend_resolve).
 * Parameters, gradients and results of other layers are float32 either way, so the
 * setting may change between any two steps (a bf16 or fp16 run resumed in fp32, and back).
 * Returns 0, or -1 with msg filled (e.g. oneDNN requested in a build without it). */
int ed_gpt_set_compute(ed_gpt *m, ed_gemm_backend b, ed_precision p, char *msg, size_t msg_len);
/* One line naming backend, oneDNN implementation and precision path, e.g.
 * "onednn (gemm:jit), bf16 (emulated: fp32 GEMM on bf16-rounded inputs)". */
void ed_gpt_compute_describe(const ed_gpt *m, char *buf, size_t len);
ed_gemm_backend ed_gpt_backend(const ed_gpt *m);
/* 1 when bf16 / fp16 products run in half instructions, 0 when emulated or fp32. */
int ed_gpt_half_native(const ed_gpt *m);
/* Bytes of the bf16 / fp16 operand copies the GEMMs keep at (B, T) (0 in fp32): the
 * parameters' rounded copy (one element per parameter), the largest product's two
 * operands and the largest gradient rounded for both backward products; 2 bytes per
 * element on the native path, 4 when emulated (the rounded values stay float32).
 * Attention's tiles round their own operands inside the activations' attention scratch
 * (ed_gpt_activation_bytes), so they add nothing here. */
size_t ed_gpt_gemm_scratch_bytes(const ed_gpt *m, int B, int T);
/* `--gemm auto`'s measurement (gemm_probe.c): how fast each GEMM backend of this build
 * runs the products of a workload of m at precision p:
 *   TRAIN   a training pass of `rows` rows (B x T): every Linear layer's forward and both
 *           backward products, and the tied head's three;
 *   FORWARD an inference pass of `rows` rows (eval, a decoder without key/value cache):
 *           the forward products only;
 *   DECODE  cached decoding (generate): Linear products at one row (a new token) and at
 *           a prompt chunk's rows, the head at one row (`rows` is not used).
 * Each distinct product is timed at the workload's transposes and shapes with at most
 * ed_gpt_gemm_compare_rows() rows and 512 columns (the ranking, not the rate, is
 * wanted), on each backend in turn (best of 2 to 8 calls), by every OpenMP thread of the
 * calling process at once (each its own copy, single-threaded; the slowest thread
 * counts), and weighted by the FLOPs the workload spends in it. Tens of milliseconds.
 * m's own GEMM setting is neither used nor changed. Not collective. */
typedef enum { ED_GEMM_WORK_TRAIN = 0, ED_GEMM_WORK_FORWARD, ED_GEMM_WORK_DECODE } ed_gemm_work;
extern const char *const ed_gemm_work_names[]; /* "train", "forward", "decode" (index = value) */
typedef struct {
    double gflops[ED_GEMM_N]; /* by ed_gemm_backend: the workload's FLOPs over its estimated
                               * GEMM time; 0 for AUTO and for a backend the build lacks */
    double seconds;           /* wall time of the measurement */
    int products;             /* distinct products timed */
    int calls;                /* GEMM calls made */
} ed_gemm_comparison;
void ed_gpt_gemm_compare(const ed_gpt *m, ed_gemm_work w, int rows, ed_precision p, ed_gemm_comparison *out);
/* The rows the probe products of work w have (part of what a cached figure is keyed by). */
int ed_gpt_gemm_compare_rows(ed_gemm_work w, int rows);

/* ---- inference with a key/value cache (decode.c) ------------------------------------
 * The cache holds, for positions [0, len) of ONE sequence, every layer's keys and values:
 * kv[L][2][T][D] floats, ed_kv_cache_bytes() = 8 * L * T * D bytes, plus a bounded chunk
 * scratch (ed_kv_scratch_bytes: 64 rows of activations, one 64 x T score block per thread,
 * and V logits). Sized from the model; T <= max_seq_len. Not thread-safe; one per model
 * user. The cache does not hold the model: pass the same ed_gpt to every call. */
typedef struct ed_kv_cache ed_kv_cache;
size_t ed_kv_cache_bytes(const ed_model_config *cfg, int positions);
size_t ed_kv_scratch_bytes(const ed_model_config *cfg, int positions);
ed_kv_cache *ed_kv_cache_create(const ed_gpt *m, int positions);
void ed_kv_cache_free(ed_kv_cache *k);
/* Forgets every position (the next token goes to position 0). */
void ed_kv_cache_reset(ed_kv_cache *k);
int ed_kv_cache_len(const ed_kv_cache *k);
int ed_kv_cache_capacity(const ed_kv_cache *k);
/* Feeds tokens[0..n) at positions len..len+n-1 (n >= 1, len + n <= capacity; ids in
 * range: both are broken invariants otherwise) and returns the logits [V] of the LAST
 * one, valid until the next call. Equal, to float rounding, to row len+n-1 of
 * ed_gpt_forward (inference mode) over all len+n tokens. Several tokens at once (a
 * prompt) run as batched GEMMs in chunks of 64 rows. */
const float *ed_gpt_forward_cached(ed_gpt *m, ed_kv_cache *k, const int32_t *tokens, int n);

/* Sets OpenBLAS and OpenMP thread counts for this process (n >= 1). */
void ed_set_threads(int n);

#endif
