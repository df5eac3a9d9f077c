/* gpt.c — the model's forward and backward passes, and its activation memory.
 *
 * The passes read top to bottom like the math; the layer functions live in their own
 * files (layers.h). All activations sit in one allocation laid out by act_layout() for
 * the current (B, T): it is allocated on the first forward and only regrown when a
 * larger shape arrives, so a training step never calls malloc. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "expert/common.h"
#include "gpt_internal.h"
#include "layers.h"

/* Hands out 64-byte aligned slices of base (or only counts when base is NULL). */
typedef struct {
    char *base;
    size_t used;
} carver;

static void *carve(carver *c, size_t bytes) {
    void *p = c->base ? c->base + c->used : NULL;
    c->used += (bytes + 63) & ~(size_t)63;
    return p;
}
#define CARVE_F(c, n) ((float *)carve((c), (size_t)(n) * sizeof(float)))

/* One block's intermediates: everything the backward reads except the block output.
 * QKV and MLP are the widths of the fused qkv rows and of the first MLP matmul's output
 * (gpt_qkv_width, gpt_mlp_width); a llama (rms) keeps no means. The activations only GEMMs
 * read (ln1, ln2, fch_gelu; lnf in act_layout) take fes bytes per element: the GEMMs'
 * operand form (gpt_act_form; 4 for fp32 and the emulation, 2 for native bf16 / fp16). */
static void carve_block(carver *cv, gpt_block_acts *b, size_t N, size_t D, size_t QKV, size_t FF, size_t MLP,
                        size_t lse, int drop, int rms, size_t fes) {
    b->ln1 = carve(cv, N * D * fes);
    b->ln1_mean = rms ? NULL : CARVE_F(cv, N);
    b->ln1_rstd = CARVE_F(cv, N);
    b->qkv = CARVE_F(cv, N * QKV);
    b->lse = CARVE_F(cv, lse);
    b->atty = CARVE_F(cv, N * D);
    b->res2 = CARVE_F(cv, N * D);
    b->ln2 = carve(cv, N * D * fes);
    b->ln2_mean = rms ? NULL : CARVE_F(cv, N);
    b->ln2_rstd = CARVE_F(cv, N);
    b->fch = CARVE_F(cv, N * MLP);
    b->fch_gelu = carve(cv, N * FF * fes);
    b->mask1 = drop ? carve(cv, N * D) : NULL;
    b->mask2 = drop ? carve(cv, N * D) : NULL;
}

/* The one place that knows what the engine keeps per (B, T): used both to allocate and
 * to report ed_gpt_activation_bytes, so the two cannot drift apart. `threads` sizes the
 * per-thread attention scratch. With `recompute` every block gets its own output (res3,
 * the next block's input) but all blocks share one set of intermediates, which the
 * backward refills block by block. Without `keep_logits` (a training forward under
 * recomputation) the head runs in chunks of ED_CE_CHUNK rows through the dlogits scratch
 * and no (N,V) logits exist. Returns the bytes needed. */
static size_t act_layout(gpt_acts *a, char *base, const ed_model_config *c, int B, int T,
                         int threads, int recompute, int keep_logits, size_t fes) {
    carver cv = {base, 0};
    size_t N = (size_t)B * T, D = (size_t)c->d_model, FF = (size_t)c->d_ff;
    size_t V = (size_t)c->vocab_size, H = (size_t)c->n_heads, lse = (size_t)B * H * T;
    size_t QKV = (size_t)gpt_qkv_width(c), MLP = (size_t)gpt_mlp_width(c);
    int drop = c->dropout > 0.0f, rms = c->arch == ED_ARCH_LLAMA;
    /* backward scratch dbig: dqkv, or the MLP's gradients (llama: d(gate|up) and, after
     * them, the gradient of silu(gate)*up) */
    size_t big = rms ? (QKV > 3 * FF ? QKV : 3 * FF) : (3 * D > FF ? 3 * D : FF);
    gpt_acts dummy;
    gpt_block_acts dblk;
    if (!a) a = &dummy;
    a->encoded = CARVE_F(&cv, N * D);
    for (int l = 0; l < c->n_layers; l++) {
        gpt_block_acts *b = base ? &a->blocks[l] : &dblk;
        if (!recompute || l == 0)
            carve_block(&cv, b, N, D, QKV, FF, MLP, lse, drop, rms, fes);
        else if (base)
            *b = a->blocks[0];
        b->res3 = CARVE_F(&cv, N * D);
    }
    a->lnf = carve(&cv, N * D * fes);
    a->lnf_mean = rms ? NULL : CARVE_F(&cv, N);
    a->lnf_rstd = CARVE_F(&cv, N);
    a->logits = keep_logits ? CARVE_F(&cv, N * V) : NULL;
    a->lse = CARVE_F(&cv, N);
    a->row_loss = carve(&cv, N * sizeof(double));
    a->row_nll = carve(&cv, N * sizeof(double));
    a->row_hit = carve(&cv, N);
    a->inputs = carve(&cv, N * sizeof(int32_t));
    a->targets = carve(&cv, N * sizeof(int32_t));
    a->seg = carve(&cv, N * sizeof(int));
    a->pos = carve(&cv, N * sizeof(int));
    a->dres = CARVE_F(&cv, N * D);
    a->dbig = CARVE_F(&cv, N * big);
    a->dsmall = CARVE_F(&cv, N * D);
    a->datt = CARVE_F(&cv, (size_t)threads * ed_att_scratch_floats(T, (int)(D / H)));
    a->dlogits = CARVE_F(&cv, (N < ED_CE_CHUNK ? N : ED_CE_CHUNK) * V);
    return cv.used;
}

size_t ed_gpt_activation_bytes(const ed_model_config *cfg, int B, int T, int recompute) {
    return act_layout(NULL, NULL, cfg, B, T, omp_get_max_threads(), recompute, !recompute, sizeof(float));
}

size_t ed_gpt_model_activation_bytes(const ed_gpt *m, int B, int T) {
    return act_layout(NULL, NULL, &m->cfg, B, T, omp_get_max_threads(), m->recompute, !m->recompute,
                      ed_gemm_operand_bytes(m->gemm));
}

long ed_gpt_correct(const ed_gpt *m) { return m->n_correct; }
double ed_gpt_nll_sum(const ed_gpt *m) { return m->nll_sum; }

/* -log p(target) of rows [0, rows) from their logits z and log-sum-exps, in double as the
 * cross-entropy kernel computes it; read while the chunk's logits are still there. */
static void rows_nll(double *nll, const float *z, const float *lse, const int32_t *targets, int rows, int V) {
    for (int n = 0; n < rows; n++)
        nll[n] = targets[n] == ED_IGNORE_INDEX ? 0.0 : (double)lse[n] - z[(size_t)n * V + targets[n]];
}

void ed_gpt_set_recompute(ed_gpt *m, int on) { m->recompute = on != 0; }

/* Grows the activation allocation to `need` bytes (never shrinks it). */
static void grow_acts(ed_gpt *m, size_t need) {
    if (need > m->act_bytes) {
        free(m->act_mem);
        m->act_mem = ed_alloc_floats(need / sizeof(float));
        m->act_bytes = need;
    }
}

void ed_gpt_reserve(ed_gpt *m, int B, int T) {
    /* Every term of act_layout grows with the tokens B*T or with T (the attention
     * matrices: rows x T^2 = tokens x T), so this bound covers any batch within it. */
    grow_acts(m, ed_gpt_model_activation_bytes(m, B, T));
}

static void ensure_acts(ed_gpt *m, int B, int T, int keep_logits) {
    int threads = omp_get_max_threads();
    size_t fes = ed_gemm_operand_bytes(m->gemm);
    grow_acts(m, act_layout(NULL, NULL, &m->cfg, B, T, threads, m->recompute, keep_logits, fes));
    act_layout(&m->a, (char *)m->act_mem, &m->cfg, B, T, threads, m->recompute, keep_logits, fes);
    m->att_threads = threads;
    m->acts_recompute = m->recompute;
}

/* Block l's forward from its input x into a->blocks[l]: x + attn(ln1(x)), then
 * + mlp(ln2(.)). Dropout (m->train) draws from the layer's seeds, so running it again
 * during the backward (recomputation) reproduces every value bit for bit. */
static void block_forward(ed_gpt *m, int l, const float *x) {
    const ed_model_config *c = &m->cfg;
    const int D = c->d_model, H = c->n_heads, FF = c->d_ff, B = m->B, T = m->T, N = B * T;
    const float p = m->train ? c->dropout : 0.0f;
    const uint64_t *s = m->seeds + 3 * (size_t)l;
    const gpt_block_params *w = &m->p.blocks[l];
    gpt_block_acts *b = &m->a.blocks[l];
    layernorm_forward(gpt_act_out(m, b->ln1), b->ln1_mean, b->ln1_rstd, x, w->ln1w, w->ln1b, N, D);
    int ready = gpt_act_form(m, b->ln1, N, D);
    matmul_forward_in(m->gemm, b->qkv, b->ln1, ready, w->qkvw, w->qkvb, N, D, 3 * D, 0);
    attention_forward(m->gemm, b->atty, b->lse, b->qkv, gpt_seg(m), B, T, D, H, H, p, s[0], m->a.datt, m->att_threads);
    if (m->train) {
        matmul_forward(m->gemm, b->res2, b->atty, w->projw, w->projb, N, D, D, 0);
        dropout_mask(b->mask1, (size_t)N * D, p, s[1]);
        residual_dropout_forward(b->res2, x, b->res2, b->mask1, p, (size_t)N * D);
    } else {
        /* residual fused into the GEMM: res2 = x + bias, then res2 += atty @ W^T */
        residual_bias_init(b->res2, x, w->projb, N, D);
        matmul_forward(m->gemm, b->res2, b->atty, w->projw, NULL, N, D, D, 1);
    }
    layernorm_forward(gpt_act_out(m, b->ln2), b->ln2_mean, b->ln2_rstd, b->res2, w->ln2w, w->ln2b, N, D);
    gpt_act_form(m, b->ln2, N, D);
    matmul_forward_in(m->gemm, b->fch, b->ln2, ready, w->fcw, w->fcb, N, D, FF, 0);
    gelu_forward(gpt_act_out(m, b->fch_gelu), b->fch, (size_t)N * FF);
    gpt_act_form(m, b->fch_gelu, N, FF);
    if (m->train) {
        matmul_forward_in(m->gemm, b->res3, b->fch_gelu, ready, w->fcow, w->fcob, N, FF, D, 0);
        dropout_mask(b->mask2, (size_t)N * D, p, s[2]);
        residual_dropout_forward(b->res3, b->res2, b->res3, b->mask2, p, (size_t)N * D);
    } else {
        residual_bias_init(b->res3, b->res2, w->fcob, N, D);
        matmul_forward_in(m->gemm, b->res3, b->fch_gelu, ready, w->fcow, NULL, N, FF, D, 1);
    }
}

const float *ed_gpt_logits(const ed_gpt *m) { return m->a.logits; }

void ed_gpt_forward(ed_gpt *m, const int32_t *inputs, const int32_t *targets, int B, int T,
                    float label_smoothing, int train, ed_rng *rng, double *loss_sum,
                    long *count) {
    ed_gpt_forward_rows(m, inputs, targets, NULL, NULL, B, T, label_smoothing, train, rng, loss_sum, count);
}

void ed_gpt_forward_rows(ed_gpt *m, const int32_t *inputs, const int32_t *targets, const int *seg, const int *pos,
                         int B, int T, float label_smoothing, int train, ed_rng *rng, double *loss_sum,
                         long *count) {
    const ed_model_config *c = &m->cfg;
    const int V = c->vocab_size, D = c->d_model, L = c->n_layers;
    ED_CHECK(B >= 1 && T >= 1 && T <= c->max_seq_len,
             "forward shape B=%d T=%d invalid (need T <= max_seq_len %d)", B, T, c->max_seq_len);
    const int N = B * T;
    for (int n = 0; n < N; n++) {
        ED_CHECK(inputs[n] >= 0 && inputs[n] < V,
                 "input token id %d at batch row %d position %d is outside the vocabulary [0, %d)",
                 inputs[n], n / T, n % T, V);
        ED_CHECK(!targets || targets[n] == ED_IGNORE_INDEX || (targets[n] >= 0 && targets[n] < V),
                 "target id %d at batch row %d position %d is neither -100 nor in [0, %d)",
                 targets ? targets[n] : 0, n / T, n % T, V);
    }
    ED_CHECK((seg == NULL) == (pos == NULL), "ed_gpt_forward_rows: seg and pos must both be given or both NULL");
    if (seg) /* what the attention and position kernels index by: a broken batch aborts here */
        for (int n = 0; n < N; n++) {
            int t = n % T;
            ED_CHECK(seg[n] >= 0 && seg[n] <= t && (t == 0 || seg[n] >= seg[n - 1]) && pos[n] >= 0 &&
                         pos[n] < c->max_seq_len,
                     "packed row %d position %d: segment start %d, position %d (need a non-decreasing start "
                     "<= the position and a position below max_seq_len %d)",
                     n / T, t, seg[n], pos[n], c->max_seq_len);
        }
    /* Under recomputation a forward with targets never materialises the (N,V) logits. */
    ensure_acts(m, B, T, !(m->recompute && targets));
    gpt_acts *a = &m->a;
    m->B = B;
    m->T = T;
    m->have_targets = targets != NULL;
    m->label_smoothing = label_smoothing;
    m->train = train && c->dropout > 0.0f;
    if (m->train) ED_CHECK(rng != NULL, "dropout %g needs an ed_rng in ed_gpt_forward", c->dropout);
    memcpy(a->inputs, inputs, (size_t)N * sizeof(int32_t));
    if (targets) memcpy(a->targets, targets, (size_t)N * sizeof(int32_t));
    m->packed = seg != NULL;
    m->acts_form = ed_gemm_rounds(m->gemm) ? (int)ed_gemm_operand_bytes(m->gemm) : 0;
    if (seg) {
        memcpy(a->seg, seg, (size_t)N * sizeof(int));
        memcpy(a->pos, pos, (size_t)N * sizeof(int));
    }

    gpt_weights_form(m);
    int blas_saved = ed_blas_serial_begin(); /* one thread pool: see gemm.c */
    encoder_forward(a->encoded, inputs, gpt_pos(m), m->p.wte, m->p.wpe, B, T, D);
    const float *x = a->encoded;
    for (int l = 0; l < L; l++) {
        if (m->train) /* 3 words per layer: attention, residual 1, residual 2 */
            for (int k = 0; k < 3; k++) m->seeds[3 * (size_t)l + k] = ed_rng_u64(rng);
        if (c->arch == ED_ARCH_LLAMA)
            llama_block_forward(m, l, x);
        else
            block_forward(m, l, x);
        x = a->blocks[l].res3;
    }
    if (c->arch == ED_ARCH_LLAMA)
        rmsnorm_forward(gpt_act_out(m, a->lnf), a->lnf_rstd, x, m->p.lnfw, N, D, c->rms_eps);
    else
        layernorm_forward(gpt_act_out(m, a->lnf), a->lnf_mean, a->lnf_rstd, x, m->p.lnfw, m->p.lnfb, N, D);
    int ready = gpt_act_form(m, a->lnf, N, D);
    /* The head in chunks of ED_CE_CHUNK rows whether the logits are kept or not: the same
     * GEMM shapes give the same logits bit for bit (a GEMM's rounding may depend on its
     * row count), so recomputation changes memory, never results. */
    for (int r0 = 0; r0 < N; r0 += ED_CE_CHUNK) {
        int rows = N - r0 < ED_CE_CHUNK ? N - r0 : ED_CE_CHUNK;
        float *z = a->logits ? a->logits + (size_t)r0 * V : a->dlogits;
        matmul_forward_in(m->gemm, z, gpt_act_row(m, a->lnf, r0, D), ready, m->p.head, NULL, rows, D, V, 0);
        if (targets) {
            crossentropy_forward(a->lse + r0, a->row_loss + r0, a->row_hit + r0, z, targets + r0, rows, V,
                                 label_smoothing);
            rows_nll(a->row_nll + r0, z, a->lse + r0, targets + r0, rows, V);
        }
    }
    double ls = 0.0, nll = 0.0;
    long cnt = 0, hits = 0;
    if (targets)
        for (int n = 0; n < N; n++) /* in row order: the same sum whatever the threads or chunks */
            if (targets[n] != ED_IGNORE_INDEX) {
                ls += a->row_loss[n];
                nll += a->row_nll[n];
                cnt++;
                hits += a->row_hit[n];
            }
    m->n_correct = hits;
    m->nll_sum = nll;
    ed_blas_serial_end(blas_saved);
    if (loss_sum) *loss_sum = ls;
    if (count) *count = cnt;
}

static void tell_ready(ed_grad_ready_fn ready, void *ctx, size_t off, size_t n) {
    if (ready) ready(ctx, off, n);
}

/* The head's gradient dlogits for the `rows` rows of the chunk at r0 (logits z), straight
 * into its operand form dh, a block of rows at a time: a block's float32 gradient goes to
 * one window at the start of dlogits (or in place, where z is dlogits itself) and is
 * rounded while it is still in cache, so the chunk's float32 gradient (rows x V, 8 MB at
 * small) never makes the round trip through memory. The same kernels on the same rows
 * (each thread takes the same rows in both loops): dh holds what rounding the whole
 * chunk's crossentropy_backward output would give, bit for bit. */
static void head_grad_formed(ed_gpt *m, void *dh, const float *z, int r0, int rows, float scale) {
    gpt_acts *a = &m->a;
    const int V = m->cfg.vocab_size, nt = omp_get_max_threads();
    int sub = (1 << 17) / V; /* rows per block: ~512 KB of float32 */
    sub = ((sub < 1 ? 1 : sub) + nt - 1) / nt * nt;
    size_t es = ed_gemm_operand_bytes(m->gemm);
    for (int s = 0; s < rows; s += sub) {
        int n = rows - s < sub ? rows - s : sub;
        const float *zs = z + (size_t)s * V;
        float *dz = z == a->dlogits ? a->dlogits + (size_t)s * V : a->dlogits;
        crossentropy_backward(dz, zs, a->lse + r0 + s, a->targets + r0 + s, n, V, m->label_smoothing, scale);
        ed_gemm_prepare(m->gemm, (char *)dh + (size_t)s * V * es, dz, n, V, V);
    }
}

void ed_gpt_backward(ed_gpt *m, float scale, ed_grad_ready_fn ready, void *ready_ctx) {
    ED_CHECK(m->have_targets, "ed_gpt_backward called without a forward that had targets");
    const ed_model_config *c = &m->cfg;
    const int V = c->vocab_size, D = c->d_model, L = c->n_layers, H = c->n_heads, FF = c->d_ff;
    const int B = m->B, T = m->T, N = B * T;
    const float p = m->train ? c->dropout : 0.0f;
    gpt_acts *a = &m->a;
    const float *xL = a->blocks[L - 1].res3;
    const int formed = m->acts_form;
    ED_CHECK(formed == (ed_gemm_rounds(m->gemm) ? (int)ed_gemm_operand_bytes(m->gemm) : 0),
             "ed_gpt_backward: the GEMM precision changed since the forward");
    int blas_saved = ed_blas_serial_begin();

    /* The head, chunk by chunk: dlogits for CE_CHUNK rows -> dlnf rows and d(head weight). */
    for (int r0 = 0; r0 < N; r0 += ED_CE_CHUNK) {
        int rows = N - r0 < ED_CE_CHUNK ? N - r0 : ED_CE_CHUNK;
        const float *z;
        if (a->logits) {
            z = a->logits + (size_t)r0 * V;
        } else { /* the forward kept no logits (NULL: no arithmetic on it): this chunk's again */
            matmul_forward_in(m->gemm, a->dlogits, gpt_act_row(m, a->lnf, r0, D), formed, m->p.head, NULL, rows, D,
                              V, 0);
            z = a->dlogits;
        }
        const void *lnf = gpt_act_row(m, a->lnf, r0, D);
        if (formed) {
            void *dh = ed_gemm_form_buffer(m->gemm, (size_t)rows * V * ed_gemm_operand_bytes(m->gemm));
            head_grad_formed(m, dh, z, r0, rows, scale);
            matmul_backward_formed(m->gemm, a->dsmall + (size_t)r0 * D, m->g.head, dh, lnf, formed, m->p.head, rows,
                                   D, V);
        } else {
            crossentropy_backward(a->dlogits, z, a->lse + r0, a->targets + r0, rows, V, m->label_smoothing, scale);
            matmul_backward(m->gemm, a->dsmall + (size_t)r0 * D, m->g.head, NULL, a->dlogits, lnf, m->p.head, rows,
                            D, V);
        }
    }
    memset(a->dres, 0, (size_t)N * D * sizeof(float));
    if (c->arch == ED_ARCH_LLAMA)
        rmsnorm_backward(a->dres, m->g.lnfw, a->dsmall, xL, m->p.lnfw, a->lnf_rstd, N, D);
    else
        layernorm_backward(a->dres, m->g.lnfw, m->g.lnfb, a->dsmall, xL, m->p.lnfw, a->lnf_mean,
                           a->lnf_rstd, N, D);
    const ed_tensor *t = m->tensors;
    /* the final norm and an untied lm_head: the end of the buffer */
    size_t top = t[gpt_block_tensor(c, L)].offset;
    tell_ready(ready, ready_ctx, top, m->num_params - top);

    for (int l = L - 1; l >= 0; l--) {
        if (c->arch == ED_ARCH_LLAMA) {
            llama_block_backward(m, l, l == 0 ? a->encoded : a->blocks[l - 1].res3);
            size_t off = t[gpt_block_tensor(c, l)].offset;
            tell_ready(ready, ready_ctx, off, t[gpt_block_tensor(c, l + 1)].offset - off);
            continue;
        }
        const gpt_block_params *w = &m->p.blocks[l];
        gpt_block_params *g = &m->g.blocks[l];
        gpt_block_acts *b = &a->blocks[l];
        const float *x = l == 0 ? a->encoded : a->blocks[l - 1].res3;
        /* The top block's intermediates are still in place from the forward. */
        if (m->acts_recompute && l < L - 1) block_forward(m, l, x);
        /* res3 = res2 + drop(fc_out(gelu(fc(ln2(res2))))) */
        const float *dfco = a->dres;
        if (p > 0.0f) {
            dropout_backward(a->dsmall, a->dres, b->mask2, p, (size_t)N * D);
            dfco = a->dsmall;
        }
        matmul_backward_in(m->gemm, a->dbig, g->fcow, g->fcob, dfco, b->fch_gelu, formed, w->fcow, N, FF, D);
        gelu_backward(a->dbig, b->fch, a->dbig, (size_t)N * FF);
        matmul_backward_in(m->gemm, a->dsmall, g->fcw, g->fcb, a->dbig, b->ln2, formed, w->fcw, N, D, FF);
        layernorm_backward(a->dres, g->ln2w, g->ln2b, a->dsmall, b->res2, w->ln2w, b->ln2_mean,
                           b->ln2_rstd, N, D);
        /* res2 = x + drop(proj(attn(qkv(ln1(x))))) */
        const float *dproj = a->dres;
        if (p > 0.0f) {
            dropout_backward(a->dbig, a->dres, b->mask1, p, (size_t)N * D);
            dproj = a->dbig;
        }
        matmul_backward(m->gemm, a->dsmall, g->projw, g->projb, dproj, b->atty, w->projw, N, D, D);
        attention_backward(m->gemm, a->dbig, a->datt, a->dsmall, b->qkv, b->atty, b->lse, gpt_seg(m), B, T, D, H, H, p,
                           m->seeds[3 * (size_t)l], m->att_threads);
        matmul_backward_in(m->gemm, a->dsmall, g->qkvw, g->qkvb, a->dbig, b->ln1, formed, w->qkvw, N, D, 3 * D);
        layernorm_backward(a->dres, g->ln1w, g->ln1b, a->dsmall, x, w->ln1w, b->ln1_mean,
                           b->ln1_rstd, N, D);
        size_t off = t[gpt_block_tensor(c, l)].offset;
        tell_ready(ready, ready_ctx, off, t[gpt_block_tensor(c, l + 1)].offset - off);
    }
    encoder_backward(m->g.wte, m->g.wpe, a->dres, a->inputs, gpt_pos(m), B, T, D);
    ed_blas_serial_end(blas_saved);
    tell_ready(ready, ready_ctx, 0, t[gpt_block_tensor(c, 0)].offset);
}
