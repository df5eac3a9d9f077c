/* compute.c — the model's GEMM setting (ed_gpt_set_compute, ed_gpt_set_varying_rows),
 * the weights' operand form and the GEMM scratch a (B, T) step needs. */
#include <stdio.h>
#include <stdlib.h>

#include "expert/common.h"
#include "../gemm/gemm.h"
#include "gpt_internal.h"
#include "layers.h"

int ed_gpt_set_compute(ed_gpt *m, ed_gemm_backend b, ed_precision p, char *msg, size_t msg_len) {
    if (b == ED_GEMM_AUTO) {
        if (msg && msg_len) snprintf(msg, msg_len, "ed_gpt_set_compute needs a resolved backend, not auto");
        return -1;
    }
    if (m->gemm && ed_gemm_ctx_backend(m->gemm) == b && ed_gemm_ctx_precision(m->gemm) == p) return 0;
    ed_gemm_ctx *g = ed_gemm_ctx_create(b, p, msg, msg_len);
    if (!g) return -1;
    ed_gemm_ctx_free(m->gemm);
    m->gemm = g;
    ed_gemm_ctx_set_shapes(g, m->varying_rows ? ED_GEMM_SHAPES_TOKENS : ED_GEMM_SHAPES_FIXED);
    m->params_gen++; /* another operand form (or none): made again at the next forward */
    return 0;
}

void ed_gpt_set_varying_rows(ed_gpt *m, int on) {
    m->varying_rows = on != 0;
    ed_gemm_ctx_set_shapes(m->gemm, m->varying_rows ? ED_GEMM_SHAPES_TOKENS : ED_GEMM_SHAPES_FIXED);
}

void gpt_weights_form(ed_gpt *m) {
    if (!ed_gemm_rounds(m->gemm)) return;
    size_t n = m->num_params, es = ed_gemm_operand_bytes(m->gemm);
    if (m->wform_bytes != n * es) {
        free(m->wform);
        m->wform = ed_malloc(n * es);
        m->wform_bytes = n * es;
        m->wform_gen = m->params_gen - 1;
    }
    if (m->wform_gen != m->params_gen) {
        /* about 0.1 ns per parameter and thread: ~1 ms for small, against a step of
         * hundreds (docs/memory.md has the memory) */
        const size_t chunk = 1 << 16;
        long nchunks = (long)((n + chunk - 1) / chunk);
        char *dst = m->wform;
        const ed_gemm_ctx *g = m->gemm;
#pragma omp parallel for schedule(static)
        for (long c = 0; c < nchunks; c++) {
            size_t lo = (size_t)c * chunk, len = n - lo < chunk ? n - lo : chunk;
            ed_gemm_prepare(g, dst + lo * es, m->params + lo, 1, (int)len, (int)len);
        }
        m->wform_gen = m->params_gen;
    }
    ed_gemm_register_form(m->gemm, m->params, n, m->wform);
}

float *gpt_act_out(ed_gpt *m, float *slot) { return ed_gemm_rounds(m->gemm) ? m->a.dbig : slot; }

int gpt_act_form(ed_gpt *m, float *slot, int rows, int cols) {
    if (!ed_gemm_rounds(m->gemm)) return 0;
    ed_gemm_prepare(m->gemm, slot, m->a.dbig, rows, cols, cols);
    return 1;
}

const void *gpt_act_row(const ed_gpt *m, const float *slot, size_t r, int cols) {
    size_t es = m->acts_form ? (size_t)m->acts_form : sizeof(float);
    return (const char *)slot + r * (size_t)cols * es;
}

void ed_gpt_compute_describe(const ed_gpt *m, char *buf, size_t len) { ed_gemm_ctx_describe(m->gemm, buf, len); }

ed_gemm_backend ed_gpt_backend(const ed_gpt *m) { return ed_gemm_ctx_backend(m->gemm); }

int ed_gpt_half_native(const ed_gpt *m) { return ed_gemm_ctx_half_native(m->gemm); }

size_t ed_gpt_gemm_scratch_bytes(const ed_gpt *m, int B, int T) {
    if (ed_gemm_ctx_precision(m->gemm) == ED_PREC_FP32) return 0;
    const ed_model_config *c = &m->cfg;
    size_t N = (size_t)B * T, D = (size_t)c->d_model, FF = (size_t)c->d_ff, V = (size_t)c->vocab_size;
    size_t rows = N < ED_CE_CHUNK ? N : ED_CE_CHUNK;
    size_t QKV = (size_t)gpt_qkv_width(c), MLP = (size_t)gpt_mlp_width(c);
    size_t cand[] = {N * D + V * D,      /* head forward (all rows) */
                     rows * V + V * D,   /* head backward: dlnf = dlogits wte */
                     rows * V + rows * D, /* dwte = dlogits^T lnf */
                     N * QKV + QKV * D, N * FF + FF * D, N * FF + N * D, N * QKV + N * D,
                     N * MLP + MLP * D, N * MLP + N * D};
    size_t big = 0;
    for (size_t i = 0; i < sizeof cand / sizeof *cand; i++) big = cand[i] > big ? cand[i] : big;
    /* a layer's output gradient rounded once for its two backward products (matmul.c) */
    size_t dout = rows * V > N * (QKV > MLP ? QKV : MLP) ? rows * V : N * (QKV > MLP ? QKV : MLP);
    big += dout + m->num_params; /* + the parameters' operand form (gpt_weights_form) */
    /* attention's products do not go through ed_gemm (its tiles round their own operands,
     * in the attention scratch of the activations) */
    size_t es = ed_gemm_ctx_half_native(m->gemm) ? 2 : 4;
    return big * es + 64;
}

