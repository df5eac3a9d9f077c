/* gpt_internal.h — the ed_gpt struct, shared by params.c (parameters) and gpt.c (passes). */
#ifndef ED_MODEL_GPT_INTERNAL_H
#define ED_MODEL_GPT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "expert/gpt.h"
#include "../gemm/gemm.h"

/* Views of one block's parameters (or gradients) inside the flat buffer. A llama block
 * uses the same slots: ln1w = attn_norm, qkvw = q|k|v (adjacent in the table, so one
 * [(H+2G)hd, D] matrix), projw = o, ln2w = mlp_norm, fcw = gate|up (one [2FF, D]
 * matrix), fcow = down; its bias slots are NULL. */
typedef struct {
    float *ln1w, *ln1b, *qkvw, *qkvb, *projw, *projb;
    float *ln2w, *ln2b, *fcw, *fcb, *fcow, *fcob;
} gpt_block_params;

typedef struct {
    float *wte, *wpe, *lnfw, *lnfb; /* llama: embed, NULL, norm_f, NULL */
    float *head;                    /* the logits' matrix: wte when tied, else lm_head */
    gpt_block_params *blocks;       /* [L] */
} gpt_params;

/* Activations of one block for the current (B, T). */
typedef struct {
    float *ln1, *ln1_mean, *ln1_rstd; /* (N,D) (N) (N); llama: no mean (RMSNorm) */
    float *qkv;                       /* (N,3D); llama (N,(H+2G)hd) after RoPE */
    float *lse;                       /* (B,H,T) attention log-sum-exp per query row */
    float *atty;                      /* (N,D) attention output before proj */
    float *res2;                      /* (N,D) residual stream after attention */
    float *ln2, *ln2_mean, *ln2_rstd; /* (N,D) (N) (N) */
    float *fch, *fch_gelu;            /* (N,FF) before/after GELU; llama: (N,2FF) gate|up and
                                       * (N,FF) silu(gate)*up */
    float *res3;                      /* (N,D) block output */
    uint8_t *mask1, *mask2;           /* (N,D) residual dropout masks (dropout only) */
} gpt_block_acts;

typedef struct {
    float *encoded;                   /* (N,D) */
    gpt_block_acts *blocks;           /* [L] */
    float *lnf, *lnf_mean, *lnf_rstd; /* (N,D) (N) (N) */
    float *logits;                    /* (N,V); NULL when the head ran in chunks */
    float *lse;                       /* (N) */
    double *row_loss;                 /* (N) loss per row, summed in row order */
    double *row_nll;                  /* (N) the same without label smoothing: lse - z[target] */
    uint8_t *row_hit;                 /* (N) arg-max == target */
    int32_t *inputs, *targets;        /* (N) copies for the backward */
    int *seg, *pos;                   /* (N) copies of the last forward's segment starts and
                                       * positions (ed_gpt_forward_rows); unused without */
    /* backward scratch */
    float *dres;    /* (N,D) gradient of the residual stream */
    float *dbig;    /* (N,max(qkv width, MLP width)) dqkv / dfch */
    float *dsmall;  /* (N,D) datty / dln */
    float *datt;    /* attention scratch: ed_att_scratch_floats(T, hd) per OpenMP thread */
    float *dlogits; /* (CE_CHUNK,V) */
} gpt_acts;

struct ed_gpt {
    ed_model_config cfg;
    ed_gemm_ctx *gemm; /* backend + precision of every matmul (ed_gpt_set_compute) */
    int varying_rows;  /* ed_gpt_set_varying_rows: the gemm context's shapes setting */
    size_t num_params;
    float *params, *grads;
    ed_tensor *tensors;
    int num_tensors;
    gpt_params p, g; /* views into params and grads */

    float *act_mem;   /* one allocation holding every activation */
    size_t act_bytes; /* its capacity */
    gpt_acts a;       /* laid out for (B, T) of the last forward */
    int B, T, have_targets;
    int packed;       /* the last forward had seg/pos: a->seg, a->pos hold them */
    float label_smoothing;
    int train;        /* dropout active in the last forward */
    int att_threads;  /* OpenMP threads the attention scratch was sized for (both passes) */
    int recompute;      /* ed_gpt_set_recompute: applies from the next forward */
    int acts_recompute; /* the layout of the last forward: blocks share intermediates */
    int acts_form;      /* the last forward kept the GEMM-only activations in operand form
                         * (gpt_act_form; the backward reads them so): its bytes per
                         * element, 0 when they are plain float32 (fp32) */
    long n_correct;     /* arg-max hits of the last forward with targets */
    double nll_sum;     /* plain cross-entropy sum of the last forward with targets */
    float *rope;        /* llama: cos [Tmax][hd/2] then sin [Tmax][hd/2] (gpt_rope_table) */
    void *wform;        /* the parameters in the GEMMs' operand form (bf16 / fp16 only):
                         * registered with the context, rounded once per change of the
                         * parameters instead of at every product (gpt_weights_form) */
    size_t wform_bytes;
    long params_gen;    /* bumped by ed_gpt_params (the writable view) and set_compute */
    long wform_gen;     /* params_gen that wform was made from */
    uint64_t *seeds;    /* [3L] dropout seeds of the last training forward, per layer
                         * (attention, residual 1, residual 2), so a recomputed block
                         * draws the same masks */
};

/* The last forward's segment starts and positions for the kernels, NULL when its rows
 * were plain causal sequences (ed_gpt_forward). */
static inline const int *gpt_seg(const ed_gpt *m) { return m->packed ? m->a.seg : NULL; }
static inline const int *gpt_pos(const ed_gpt *m) { return m->packed ? m->a.pos : NULL; }

/* Rows of logits per cross-entropy chunk (bounds dlogits, and the logits themselves
 * under recomputation, to CE_CHUNK*V). */
#define ED_CE_CHUNK 256

/* Points v (whose blocks array has L entries) at the tensors inside buf (params or grads),
 * using the tensor table of config c. params.c */
void gpt_bind_views(gpt_params *v, float *buf, const ed_tensor *t, const ed_model_config *c);
/* The RoPE table of a llama config (malloc'd; layout as ed_gpt.rope). params.c */
float *gpt_rope_table(const ed_model_config *c);

/* The tensor table's layout (params.c builds it, gpt.h documents it):
 *   gpt2:  wte, wpe, GPT_BLOCK_TENSORS per block, ln_f.weight, ln_f.bias;
 *   llama: embed, LLAMA_BLOCK_TENSORS per block, norm_f.weight, [lm_head.weight]. */
enum { GPT_BLOCK_TENSORS = 12, LLAMA_BLOCK_TENSORS = 9 };
/* Index of block l's first tensor; for l = L, of the final norm's weight. */
static inline int gpt_block_tensor(const ed_model_config *c, int l) {
    return c->arch == ED_ARCH_LLAMA ? 1 + l * LLAMA_BLOCK_TENSORS : 2 + l * GPT_BLOCK_TENSORS;
}
static inline int gpt_num_tensors(const ed_model_config *c) {
    return gpt_block_tensor(c, c->n_layers) + (c->arch == ED_ARCH_LLAMA ? 2 - ed_model_tied(c) : 2);
}
/* Width of the fused qkv rows: (H + 2G) * hd (3D for a GPT-2). */
static inline int gpt_qkv_width(const ed_model_config *c) {
    return c->d_model + 2 * ed_model_kv_heads(c) * (c->d_model / c->n_heads);
}
/* Width of the first MLP matmul's output: FF, or 2FF for llama's gate|up. */
static inline int gpt_mlp_width(const ed_model_config *c) {
    return c->arch == ED_ARCH_LLAMA ? 2 * c->d_ff : c->d_ff;
}

/* Brings m->wform up to date with the parameters (when they may have changed since it
 * was made) and registers it with the GEMM context; nothing for fp32. Called at the
 * start of every forward pass (training, evaluation, cached decoding). compute.c */
void gpt_weights_form(ed_gpt *m);

/* Activations only GEMMs read (ln1, ln2, the MLP's hidden fch_gelu, lnf) are kept in the
 * GEMMs' operand form when the products round their operands (bf16, fp16): rounded once
 * where they are made, instead of by their forward product and again by their
 * weight-gradient product. Their layer writes float32 to gpt_act_out(m, slot) (the
 * backward scratch dbig, free during every forward, a recomputed one inside the backward
 * included; the slot itself for fp32) and gpt_act_form(m, slot, rows, cols) then rounds
 * it into the slot (which holds rows x cols elements of ed_gemm_operand_bytes each) and
 * returns the `ready` flag for matmul_forward_in / matmul_backward_in. The products see
 * the same values bit for bit: they rounded these floats the same way. compute.c */
float *gpt_act_out(ed_gpt *m, float *slot);
int gpt_act_form(ed_gpt *m, float *slot, int rows, int cols);
/* Row r of such a slot (cols elements per row, in the last forward's form). */
const void *gpt_act_row(const ed_gpt *m, const float *slot, size_t r, int cols);

/* llama.c: a llama block's forward from input x into m->a.blocks[l], and its backward
 * (m->a.dres holds the gradient of the block output on entry, of x on return); the same
 * contracts as gpt.c's GPT-2 block. */
void llama_block_forward(ed_gpt *m, int l, const float *x);
void llama_block_backward(ed_gpt *m, int l, const float *x);

#endif
