/* params.c — the parameter table (state_dict order) of each architecture, GPT-2
 * initialisation, the RoPE table, and the ed_gpt object's lifetime and accessors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expert/common.h"
#include "gpt_internal.h"

/* Messages name the options (--d-model ...): options validation reports them as they are. */
int ed_model_config_check(const ed_model_config *c, char *msg, size_t msg_len) {
    char buf[160] = "";
    if (c->vocab_size < 1) snprintf(buf, sizeof buf, "vocab-size must be >= 1 (got %d)", c->vocab_size);
    else if (c->d_model < 1) snprintf(buf, sizeof buf, "d-model must be >= 1 (got %d)", c->d_model);
    else if (c->n_layers < 1) snprintf(buf, sizeof buf, "n-layers must be >= 1 (got %d)", c->n_layers);
    else if (c->n_heads < 1) snprintf(buf, sizeof buf, "n-heads must be >= 1 (got %d)", c->n_heads);
    else if (c->d_ff < 1) snprintf(buf, sizeof buf, "d-ff must be >= 1 (got %d)", c->d_ff);
    else if (c->max_seq_len < 1) snprintf(buf, sizeof buf, "max-seq-len must be >= 1 (got %d)", c->max_seq_len);
    else if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        snprintf(buf, sizeof buf, "dropout must be in [0, 1) (got %g)", (double)c->dropout);
    else if (c->d_model % c->n_heads != 0)
        snprintf(buf, sizeof buf, "n-heads %d does not divide d-model %d", c->n_heads, c->d_model);
    else if (c->arch != ED_ARCH_GPT2 && c->arch != ED_ARCH_LLAMA)
        snprintf(buf, sizeof buf, "arch %d is neither gpt2 nor llama", (int)c->arch);
    else if (c->n_kv_heads < 0 || (c->arch == ED_ARCH_GPT2 && c->n_kv_heads != 0 && c->n_kv_heads != c->n_heads))
        snprintf(buf, sizeof buf, "n-kv-heads %d: grouped-query attention needs --arch llama", c->n_kv_heads);
    else if (c->arch == ED_ARCH_LLAMA && c->n_heads % ed_model_kv_heads(c) != 0)
        snprintf(buf, sizeof buf, "n-kv-heads %d does not divide n-heads %d", c->n_kv_heads, c->n_heads);
    else if (c->arch == ED_ARCH_LLAMA && (c->d_model / c->n_heads) % 2 != 0)
        snprintf(buf, sizeof buf, "llama's RoPE needs an even head size d-model/n-heads (got %d)",
                 c->d_model / c->n_heads);
    else if (c->arch == ED_ARCH_LLAMA && !(c->rope_theta > 0.0f && c->rope_theta < 1e30f))
        snprintf(buf, sizeof buf, "rope-theta must be > 0 (got %g)", (double)c->rope_theta);
    else if (c->arch == ED_ARCH_LLAMA && !(c->rms_eps > 0.0f && c->rms_eps < 1.0f))
        snprintf(buf, sizeof buf, "rms-eps must be in (0, 1) (got %g)", (double)c->rms_eps);
    else if ((double)c->vocab_size * c->d_model > 1e10 || (double)c->d_ff * c->d_model > 1e10 ||
             (double)c->max_seq_len * c->d_model > 1e10)
        snprintf(buf, sizeof buf, "model too large (a weight matrix exceeds 1e10 elements)");
    if (!buf[0]) return 0;
    if (msg && msg_len) snprintf(msg, msg_len, "%s", buf);
    return -1;
}

static void add_tensor(ed_tensor *t, int *n, size_t *off, const char *name, int rows, int cols) {
    ed_tensor *x = &t[(*n)++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->ndim = cols ? 2 : 1;
    x->shape[0] = rows;
    x->shape[1] = cols ? cols : 1;
    x->numel = (size_t)rows * (size_t)(cols ? cols : 1);
    x->offset = *off;
    x->weight_decay = cols ? 1 : 0;
    *off += x->numel;
}

/* Fills the table; returns the total number of floats. */
static size_t build_tensor_table(ed_tensor *t, const ed_model_config *c) {
    int n = 0, V = c->vocab_size, D = c->d_model, FF = c->d_ff;
    size_t off = 0;
    char name[64];
    if (c->arch == ED_ARCH_LLAMA) {
        /* q, k, v and gate, up are adjacent: each group is one fused [out, D] matrix */
        int KVD = ed_model_kv_heads(c) * (D / c->n_heads);
        static const char *const names[LLAMA_BLOCK_TENSORS] = {
            "attn_norm.weight", "q.weight", "k.weight", "v.weight", "o.weight",
            "mlp_norm.weight", "gate.weight", "up.weight", "down.weight"};
        const int rows[LLAMA_BLOCK_TENSORS] = {D, D, KVD, KVD, D, D, FF, FF, D};
        const int cols[LLAMA_BLOCK_TENSORS] = {0, D, D, D, D, 0, D, D, FF};
        add_tensor(t, &n, &off, "embed.weight", V, D);
        for (int l = 0; l < c->n_layers; l++)
            for (int k = 0; k < LLAMA_BLOCK_TENSORS; k++) {
                snprintf(name, sizeof name, "blocks.%d.%s", l, names[k]);
                add_tensor(t, &n, &off, name, rows[k], cols[k]);
            }
        add_tensor(t, &n, &off, "norm_f.weight", D, 0);
        if (!c->tie_embeddings) add_tensor(t, &n, &off, "lm_head.weight", V, D);
        return off;
    }
    add_tensor(t, &n, &off, "wte.weight", V, D);
    add_tensor(t, &n, &off, "wpe.weight", c->max_seq_len, D);
    for (int l = 0; l < c->n_layers; l++) {
        static const char *const names[GPT_BLOCK_TENSORS] = {
            "ln1.weight", "ln1.bias", "qkv.weight", "qkv.bias", "proj.weight", "proj.bias",
            "ln2.weight", "ln2.bias", "fc.weight", "fc.bias", "fc_out.weight", "fc_out.bias"};
        const int rows[GPT_BLOCK_TENSORS] = {D, D, 3 * D, 3 * D, D, D, D, D, FF, FF, D, D};
        const int cols[GPT_BLOCK_TENSORS] = {0, 0, D, 0, D, 0, 0, 0, D, 0, FF, 0};
        for (int k = 0; k < GPT_BLOCK_TENSORS; k++) {
            snprintf(name, sizeof name, "blocks.%d.%s", l, names[k]);
            add_tensor(t, &n, &off, name, rows[k], cols[k]);
        }
    }
    add_tensor(t, &n, &off, "ln_f.weight", D, 0);
    add_tensor(t, &n, &off, "ln_f.bias", D, 0);
    return off;
}

size_t ed_model_num_params(const ed_model_config *c) {
    ed_tensor *t = ed_calloc((size_t)gpt_num_tensors(c), sizeof *t);
    size_t n = build_tensor_table(t, c);
    free(t);
    return n;
}

void gpt_bind_views(gpt_params *v, float *buf, const ed_tensor *t, const ed_model_config *c) {
    int L = c->n_layers;
    memset(v->blocks, 0, (size_t)L * sizeof *v->blocks);
    v->wte = buf + t[0].offset;
    for (int l = 0; l < L; l++) {
        const ed_tensor *b = t + gpt_block_tensor(c, l);
        gpt_block_params *w = &v->blocks[l];
        if (c->arch == ED_ARCH_LLAMA) {
            /* the GPT-2 slots a llama block shares; no biases (NULL) */
            float **dst[LLAMA_BLOCK_TENSORS] = {&w->ln1w, &w->qkvw, NULL, NULL, &w->projw,
                                                &w->ln2w, &w->fcw, NULL, &w->fcow};
            for (int k = 0; k < LLAMA_BLOCK_TENSORS; k++)
                if (dst[k]) *dst[k] = buf + b[k].offset;
            continue;
        }
        float **dst[GPT_BLOCK_TENSORS] = {&w->ln1w, &w->ln1b, &w->qkvw, &w->qkvb, &w->projw, &w->projb,
                                          &w->ln2w, &w->ln2b, &w->fcw,  &w->fcb,  &w->fcow,  &w->fcob};
        for (int k = 0; k < GPT_BLOCK_TENSORS; k++) *dst[k] = buf + b[k].offset;
    }
    const ed_tensor *f = t + gpt_block_tensor(c, L);
    v->lnfw = buf + f[0].offset;
    if (c->arch == ED_ARCH_LLAMA) {
        v->wpe = v->lnfb = NULL;
        v->head = ed_model_tied(c) ? v->wte : buf + f[1].offset;
    } else {
        v->wpe = buf + t[1].offset;
        v->lnfb = buf + f[1].offset;
        v->head = v->wte;
    }
}

const char *const ed_arch_names[] = {"gpt2", "llama", NULL};

/* cos and sin of every (position, frequency) as Hugging Face's LlamaRotaryEmbedding
 * computes them in float32: inv_freq_i = 1 / theta^(2i/hd), angle = (float)pos * inv_freq_i. */
float *gpt_rope_table(const ed_model_config *c) {
    int half = c->d_model / c->n_heads / 2, T = c->max_seq_len;
    float *tab = ed_alloc_floats((size_t)2 * T * half);
    for (int i = 0; i < half; i++) {
        float inv = (float)(1.0 / pow((double)c->rope_theta, (double)(2 * i) / (2.0 * half)));
        for (int t = 0; t < T; t++) {
            float a = (float)t * inv;
            tab[(size_t)t * half + i] = (float)cos((double)a);
            tab[(size_t)(T + t) * half + i] = (float)sin((double)a);
        }
    }
    return tab;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* GPT-2 init, tensor by tensor in state_dict order from one stream of the seed; a llama
 * gets the same recipe (its o and down are the residual projections, its norms start at 1). */
static void init_params(ed_gpt *m, uint64_t seed) {
    ed_rng rng;
    ed_rng_seed(&rng, seed, 0x696e6974 /* "init" */);
    double resid_std = 0.02 / sqrt(2.0 * m->cfg.n_layers);
    for (int i = 0; i < m->num_tensors; i++) {
        const ed_tensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        if (t->ndim == 1) {
            float v = ends_with(t->name, "bias") ? 0.0f : 1.0f;
            for (size_t k = 0; k < t->numel; k++) p[k] = v;
        } else {
            int resid = ends_with(t->name, "proj.weight") || ends_with(t->name, "fc_out.weight") ||
                        ends_with(t->name, ".o.weight") || ends_with(t->name, ".down.weight");
            double std = resid ? resid_std : 0.02;
            for (size_t k = 0; k < t->numel; k++) p[k] = (float)(std * ed_rng_normal(&rng));
        }
    }
}

ed_gpt *ed_gpt_create(const ed_model_config *cfg, uint64_t seed, char *msg, size_t msg_len) {
    if (ed_model_config_check(cfg, msg, msg_len) != 0) return NULL;
    ed_gpt *m = ed_calloc(1, sizeof *m);
    m->cfg = *cfg;
    /* normalised (gpt.h): a GPT-2 has no llama fields, a llama names its key/value heads */
    if (cfg->arch == ED_ARCH_GPT2) {
        m->cfg.n_kv_heads = m->cfg.tie_embeddings = 0;
        m->cfg.rope_theta = m->cfg.rms_eps = 0.0f;
    } else {
        m->cfg.n_kv_heads = ed_model_kv_heads(cfg);
        m->cfg.tie_embeddings = cfg->tie_embeddings != 0;
    }
    cfg = &m->cfg;
    int L = cfg->n_layers;
    m->num_tensors = gpt_num_tensors(cfg);
    m->tensors = ed_calloc((size_t)m->num_tensors, sizeof *m->tensors);
    m->num_params = build_tensor_table(m->tensors, cfg);
    m->params = ed_alloc_floats(m->num_params);
    m->grads = ed_alloc_floats(m->num_params);
    memset(m->grads, 0, m->num_params * sizeof(float));
    m->p.blocks = ed_calloc((size_t)L, sizeof *m->p.blocks);
    m->g.blocks = ed_calloc((size_t)L, sizeof *m->g.blocks);
    m->a.blocks = ed_calloc((size_t)L, sizeof *m->a.blocks);
    m->seeds = ed_calloc((size_t)3 * L, sizeof *m->seeds);
    gpt_bind_views(&m->p, m->params, m->tensors, cfg);
    gpt_bind_views(&m->g, m->grads, m->tensors, cfg);
    if (cfg->arch == ED_ARCH_LLAMA) m->rope = gpt_rope_table(cfg);
    init_params(m, seed);
    m->gemm = ed_gemm_ctx_create(ED_GEMM_OPENBLAS, ED_PREC_FP32, NULL, 0); /* ed_gpt_set_compute */
    return m;
}

void ed_gpt_free(ed_gpt *m) {
    if (!m) return;
    free(m->params);
    free(m->grads);
    free(m->tensors);
    free(m->p.blocks);
    free(m->g.blocks);
    free(m->a.blocks);
    free(m->act_mem);
    free(m->wform);
    free(m->seeds);
    free(m->rope);
    ed_gemm_ctx_free(m->gemm);
    free(m);
}

const ed_model_config *ed_gpt_config(const ed_gpt *m) { return &m->cfg; }
size_t ed_gpt_num_params(const ed_gpt *m) { return m->num_params; }
float *ed_gpt_params(ed_gpt *m) {
    m->params_gen++; /* may be written: the GEMMs' operand form is made again (gpt_weights_form) */
    return m->params;
}
float *ed_gpt_grads(ed_gpt *m) { return m->grads; }
int ed_gpt_num_tensors(const ed_gpt *m) { return m->num_tensors; }
const ed_tensor *ed_gpt_tensors(const ed_gpt *m) { return m->tensors; }

const ed_tensor *ed_gpt_find_tensor(const ed_gpt *m, const char *name) {
    for (int i = 0; i < m->num_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

void ed_gpt_zero_grad(ed_gpt *m) {
    float *g = m->grads;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < m->num_params; i++) g[i] = 0.0f;
}
