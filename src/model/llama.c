/* llama.c — a Llama block (Hugging Face LlamaDecoderLayer), forward and backward:
 *   h   = x + o(attn(rope(q(n1)), rope(k(n1)), v(n1))),  n1 = rmsnorm(x) * attn_norm
 *   out = h + down(silu(gate(n2)) * up(n2)),             n2 = rmsnorm(h) * mlp_norm
 * with grouped-query attention (G key/value heads) and no biases. The activations use
 * the GPT-2 block's slots (gpt_internal.h); the embedding, final norm, head, loss and the
 * recomputation and dropout schemes are gpt.c's, shared by both architectures. */
#include <string.h>

#include "expert/common.h"
#include "gpt_internal.h"
#include "layers.h"

void llama_block_forward(ed_gpt *m, int l, const float *x) {
    const ed_model_config *c = &m->cfg;
    const int D = c->d_model, H = c->n_heads, G = ed_model_kv_heads(c), hd = D / H, FF = c->d_ff;
    const int QKV = gpt_qkv_width(c), B = m->B, T = m->T, N = B * T;
    const float p = m->train ? c->dropout : 0.0f;
    const float *cosv = m->rope, *sinv = m->rope + (size_t)c->max_seq_len * (hd / 2);
    const uint64_t *s = m->seeds + 3 * (size_t)l;
    const gpt_block_params *w = &m->p.blocks[l];
    gpt_block_acts *b = &m->a.blocks[l];
    rmsnorm_forward(gpt_act_out(m, b->ln1), b->ln1_rstd, x, w->ln1w, N, D, c->rms_eps);
    int ready = gpt_act_form(m, b->ln1, N, D);
    matmul_forward_in(m->gemm, b->qkv, b->ln1, ready, w->qkvw, NULL, N, D, QKV, 0);
    rope_forward(b->qkv, cosv, sinv, gpt_pos(m), B, T, H + G, hd, QKV); /* q and k heads are adjacent */
    attention_forward(m->gemm, b->atty, b->lse, b->qkv, gpt_seg(m), B, T, D, H, G, p, s[0], m->a.datt, m->att_threads);
    if (m->train) {
        matmul_forward(m->gemm, b->res2, b->atty, w->projw, NULL, N, D, D, 0);
        dropout_mask(b->mask1, (size_t)N * D, p, s[1]);
        residual_dropout_forward(b->res2, x, b->res2, b->mask1, p, (size_t)N * D);
    } else { /* the residual as the GEMM's start value, as the GPT-2 block does */
        memcpy(b->res2, x, (size_t)N * D * sizeof(float));
        matmul_forward(m->gemm, b->res2, b->atty, w->projw, NULL, N, D, D, 1);
    }
    rmsnorm_forward(gpt_act_out(m, b->ln2), b->ln2_rstd, b->res2, w->ln2w, N, D, c->rms_eps);
    gpt_act_form(m, b->ln2, N, D);
    matmul_forward_in(m->gemm, b->fch, b->ln2, ready, w->fcw, NULL, N, D, 2 * FF, 0); /* gate | up */
    swiglu_forward(gpt_act_out(m, b->fch_gelu), b->fch, N, FF);
    gpt_act_form(m, b->fch_gelu, N, FF);
    if (m->train) {
        matmul_forward_in(m->gemm, b->res3, b->fch_gelu, ready, w->fcow, NULL, N, FF, D, 0);
        dropout_mask(b->mask2, (size_t)N * D, p, s[2]);
        residual_dropout_forward(b->res3, b->res2, b->res3, b->mask2, p, (size_t)N * D);
    } else {
        memcpy(b->res3, b->res2, (size_t)N * D * sizeof(float));
        matmul_forward_in(m->gemm, b->res3, b->fch_gelu, ready, w->fcow, NULL, N, FF, D, 1);
    }
}

void llama_block_backward(ed_gpt *m, int l, const float *x) {
    const ed_model_config *c = &m->cfg;
    const int D = c->d_model, H = c->n_heads, G = ed_model_kv_heads(c), hd = D / H, FF = c->d_ff;
    const int QKV = gpt_qkv_width(c), B = m->B, T = m->T, N = B * T, L = c->n_layers;
    const float p = m->train ? c->dropout : 0.0f;
    const float *cosv = m->rope, *sinv = m->rope + (size_t)c->max_seq_len * (hd / 2);
    const gpt_block_params *w = &m->p.blocks[l];
    gpt_block_params *g = &m->g.blocks[l];
    gpt_block_acts *b = &m->a.blocks[l];
    gpt_acts *a = &m->a;
    /* The top block's intermediates are still in place from the forward. */
    if (m->acts_recompute && l < L - 1) llama_block_forward(m, l, x);
    /* out = h + drop(down(swiglu(gate|up(n2)))) */
    const float *ddown = a->dres;
    if (p > 0.0f) {
        dropout_backward(a->dsmall, a->dres, b->mask2, p, (size_t)N * D);
        ddown = a->dsmall;
    }
    float *dswi = a->dbig + (size_t)N * 2 * FF; /* dbig holds d(gate|up), then this */
    matmul_backward_in(m->gemm, dswi, g->fcow, NULL, ddown, b->fch_gelu, m->acts_form, w->fcow, N, FF, D);
    swiglu_backward(a->dbig, b->fch, dswi, N, FF);
    matmul_backward_in(m->gemm, a->dsmall, g->fcw, NULL, a->dbig, b->ln2, m->acts_form, w->fcw, N, D, 2 * FF);
    rmsnorm_backward(a->dres, g->ln2w, a->dsmall, b->res2, w->ln2w, b->ln2_rstd, N, D);
    /* h = x + drop(o(attn(rope(qkv(n1))))) */
    const float *dproj = a->dres;
    if (p > 0.0f) {
        dropout_backward(a->dbig, a->dres, b->mask1, p, (size_t)N * D);
        dproj = a->dbig;
    }
    matmul_backward(m->gemm, a->dsmall, g->projw, NULL, dproj, b->atty, w->projw, N, D, D);
    attention_backward(m->gemm, a->dbig, a->datt, a->dsmall, b->qkv, b->atty, b->lse, gpt_seg(m), B, T, D, H, G, p,
                       m->seeds[3 * (size_t)l], m->att_threads);
    rope_backward(a->dbig, cosv, sinv, gpt_pos(m), B, T, H + G, hd, QKV);
    matmul_backward_in(m->gemm, a->dsmall, g->qkvw, NULL, a->dbig, b->ln1, m->acts_form, w->qkvw, N, D, QKV);
    rmsnorm_backward(a->dres, g->ln1w, a->dsmall, x, w->ln1w, b->ln1_rstd, N, D);
}
