/* decode.c — inference with a key/value cache: the forward pass for new tokens only.
 *
 * A training forward recomputes every position; a decoder that has already seen positions
 * [0, len) only needs, per layer, their keys and values. The cache keeps them as
 * kv[L][2][T][G*hd] (k rows, then v rows, of every layer; a llama's keys after RoPE), so a new token costs one row
 * through each GEMM and one dot product per cached position in attention, instead of a
 * forward over the whole context. The layer functions are the training engine's
 * (layers.h): the same matmul_forward/ed_gemm, LayerNorm, GELU and residual code in the
 * same order as block_forward's inference branch (ed_gemm turns a single row into a
 * GEMV, see gemm.c), so logits agree with ed_gpt_forward to float rounding (tests/generate/test_generate.c checks the ids it leads to).
 *
 * New tokens go through in chunks of at most KV_ROWS rows (a long prompt is one batched
 * forward per chunk), so the scratch below is bounded by KV_ROWS whatever the context. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "expert/common.h"
#include "gpt_internal.h"
#include "layers.h"
#include "../kernels/vmath.h"

#define KV_ROWS GPT_KV_ROWS

struct ed_kv_cache {
    ed_model_config cfg;
    int cap, len;    /* positions held / filled */
    int threads;     /* OpenMP threads the attention scratch was sized for */
    float *kv;       /* [L][2][cap][G*hd]: G key/value heads (G = H for a GPT-2) */
    float *scratch;  /* one allocation: the chunk activations below */
    float *x, *ln, *mean, *rstd, *qkv, *atty, *res2, *fch, *fch_gelu; /* KV_ROWS rows each */
    float *att;      /* KV_ROWS * cap floats per thread: one head's score rows */
    float *logits;   /* [V] of the last token fed */
    size_t scratch_floats;
};

/* Floats of the chunk scratch, in the order ed_kv_cache_create hands them out. */
static size_t scratch_floats(const ed_model_config *c, int cap, int threads) {
    size_t R = KV_ROWS, D = (size_t)c->d_model, FF = (size_t)c->d_ff;
    return R * D * 4 /* x ln atty res2 */ + 2 * R /* mean rstd */ + R * (size_t)gpt_qkv_width(c) +
           R * (size_t)gpt_mlp_width(c) + R * FF + (size_t)threads * R * (size_t)cap + (size_t)c->vocab_size;
}

/* Floats of one position's keys (or values) in one layer: G heads of hd. */
static size_t kv_width(const ed_model_config *c) {
    return (size_t)ed_model_kv_heads(c) * (size_t)(c->d_model / c->n_heads);
}

size_t ed_kv_cache_bytes(const ed_model_config *c, int positions) {
    return (size_t)c->n_layers * 2 * (size_t)positions * kv_width(c) * sizeof(float);
}

size_t ed_kv_scratch_bytes(const ed_model_config *c, int positions) {
    return scratch_floats(c, positions, omp_get_max_threads()) * sizeof(float);
}

ed_kv_cache *ed_kv_cache_create(const ed_gpt *m, int positions) {
    const ed_model_config *c = &m->cfg;
    ED_CHECK(positions >= 1 && positions <= c->max_seq_len,
             "kv cache of %d positions for a model of %d positions", positions, c->max_seq_len);
    ed_kv_cache *k = ed_calloc(1, sizeof *k);
    k->cfg = *c;
    k->cap = positions;
    k->threads = omp_get_max_threads();
    k->kv = ed_alloc_floats(ed_kv_cache_bytes(c, positions) / sizeof(float));
    k->scratch_floats = scratch_floats(c, positions, k->threads);
    k->scratch = ed_alloc_floats(k->scratch_floats);
    size_t R = KV_ROWS, D = (size_t)c->d_model, FF = (size_t)c->d_ff;
    float *p = k->scratch;
    k->x = p, p += R * D;
    k->ln = p, p += R * D;
    k->atty = p, p += R * D;
    k->res2 = p, p += R * D;
    k->mean = p, p += R;
    k->rstd = p, p += R;
    k->qkv = p, p += R * (size_t)gpt_qkv_width(c);
    k->fch = p, p += R * (size_t)gpt_mlp_width(c);
    k->fch_gelu = p, p += R * FF;
    k->att = p, p += (size_t)k->threads * R * (size_t)positions;
    k->logits = p;
    return k;
}

void ed_kv_cache_free(ed_kv_cache *k) {
    if (!k) return;
    free(k->kv);
    free(k->scratch);
    free(k);
}

void ed_kv_cache_reset(ed_kv_cache *k) { k->len = 0; }
int ed_kv_cache_len(const ed_kv_cache *k) { return k->len; }
int ed_kv_cache_capacity(const ed_kv_cache *k) { return k->cap; }

/* Attention of n new rows (positions p0..p0+n-1) over cached keys/values [0, p0+n):
 * per head, S = scale Q K^T over the keys each row may see, softmax as in
 * attention_forward, Y = P V. Heads run on the OpenMP threads. */
static void cached_attention(ed_gemm_ctx *g, ed_kv_cache *k, const float *K, const float *Vv, int n, int p0) {
    const int D = k->cfg.d_model, H = k->cfg.n_heads, hd = D / H, ld = gpt_qkv_width(&k->cfg), keys = p0 + n;
    const int kvw = (int)kv_width(&k->cfg), group = H / ed_model_kv_heads(&k->cfg);
    const float scale = 1.0f / sqrtf((float)hd);
    int nb = ed_blas_serial_begin();
    /* the key count grows by one a token: one oneDNN primitive for all counts (gemm.h),
     * not a JIT compilation and a primitive kept per generated token */
    ed_gemm_shapes shapes = ed_gemm_ctx_set_shapes(g, ED_GEMM_SHAPES_ANY);
#pragma omp parallel for schedule(dynamic, 1) num_threads(k->threads)
    for (int h = 0; h < H; h++) {
        float *S = k->att + (size_t)omp_get_thread_num() * KV_ROWS * k->cap;
        const float *Q = k->qkv + (size_t)h * hd;
        const size_t kh = (size_t)(h / group) * hd;
        ed_gemm(g, 0, 1, n, keys, hd, scale, Q, ld, K + kh, kvw, 0.0f, S, keys);
        for (int i = 0; i < n; i++) {
            float *s = S + (size_t)i * keys;
            int seen = p0 + i + 1; /* causal: row i sees keys [0, p0 + i] */
            float mx = ed_vmax(s, seen);
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j < seen; j++) {
                s[j] = ed_expf(s[j] - mx);
                sum += s[j];
            }
            float inv = 1.0f / sum;
            for (int j = 0; j < seen; j++) s[j] *= inv;
            memset(s + seen, 0, (size_t)(keys - seen) * sizeof(float));
        }
        ed_gemm(g, 0, 0, n, hd, keys, 1.0f, S, keys, Vv + kh, kvw, 0.0f, k->atty + (size_t)h * hd, D);
    }
    ed_gemm_ctx_set_shapes(g, shapes);
    ed_blas_serial_end(nb);
}

/* A llama block on the chunk, in the order of llama_block_forward's inference branch. */
static void llama_chunk_block(ed_gpt *m, ed_kv_cache *k, int l, int n, int p0) {
    const ed_model_config *c = &m->cfg;
    const int D = c->d_model, FF = c->d_ff, H = c->n_heads, G = ed_model_kv_heads(c), hd = D / H;
    const int QKV = gpt_qkv_width(c), half = hd / 2;
    const size_t kvw = kv_width(c);
    const gpt_block_params *w = &m->p.blocks[l];
    float *K = k->kv + (size_t)l * 2 * k->cap * kvw, *V = K + (size_t)k->cap * kvw;
    rmsnorm_forward(k->ln, k->rstd, k->x, w->ln1w, n, D, c->rms_eps);
    matmul_forward(m->gemm, k->qkv, k->ln, w->qkvw, NULL, n, D, QKV, 0);
    const float *cosv = m->rope + (size_t)p0 * half, *sinv = m->rope + ((size_t)c->max_seq_len + p0) * half;
    rope_forward(k->qkv, cosv, sinv, NULL, 1, n, H + G, hd, QKV);
    for (int i = 0; i < n; i++) {
        const float *row = k->qkv + (size_t)i * QKV;
        memcpy(K + (size_t)(p0 + i) * kvw, row + D, kvw * sizeof(float));
        memcpy(V + (size_t)(p0 + i) * kvw, row + D + kvw, kvw * sizeof(float));
    }
    cached_attention(m->gemm, k, K, V, n, p0);
    memcpy(k->res2, k->x, (size_t)n * D * sizeof(float));
    matmul_forward(m->gemm, k->res2, k->atty, w->projw, NULL, n, D, D, 1);
    rmsnorm_forward(k->ln, k->rstd, k->res2, w->ln2w, n, D, c->rms_eps);
    matmul_forward(m->gemm, k->fch, k->ln, w->fcw, NULL, n, D, 2 * FF, 0);
    swiglu_forward(k->fch_gelu, k->fch, n, FF);
    memcpy(k->x, k->res2, (size_t)n * D * sizeof(float)); /* the block output, in place */
    matmul_forward(m->gemm, k->x, k->fch_gelu, w->fcow, NULL, n, FF, D, 1);
}

/* One chunk of n <= KV_ROWS new tokens at positions len..len+n-1. */
static void forward_chunk(ed_gpt *m, ed_kv_cache *k, const int32_t *tok, int n) {
    const ed_model_config *c = &m->cfg;
    const int D = c->d_model, FF = c->d_ff, L = c->n_layers, p0 = k->len;
    const int llama = c->arch == ED_ARCH_LLAMA;
    for (int i = 0; i < n; i++) {
        const float *e = m->p.wte + (size_t)tok[i] * D;
        float *o = k->x + (size_t)i * D;
        if (llama) {
            memcpy(o, e, (size_t)D * sizeof(float));
            continue;
        }
        const float *p = m->p.wpe + (size_t)(p0 + i) * D;
        for (int j = 0; j < D; j++) o[j] = e[j] + p[j];
    }
    for (int l = 0; l < L; l++) {
        if (llama) {
            llama_chunk_block(m, k, l, n, p0);
            continue;
        }
        const gpt_block_params *w = &m->p.blocks[l];
        float *K = k->kv + (size_t)l * 2 * k->cap * D, *V = K + (size_t)k->cap * D;
        layernorm_forward(k->ln, k->mean, k->rstd, k->x, w->ln1w, w->ln1b, n, D);
        matmul_forward(m->gemm, k->qkv, k->ln, w->qkvw, w->qkvb, n, D, 3 * D, 0);
        for (int i = 0; i < n; i++) {
            const float *row = k->qkv + (size_t)i * 3 * D;
            memcpy(K + (size_t)(p0 + i) * D, row + D, (size_t)D * sizeof(float));
            memcpy(V + (size_t)(p0 + i) * D, row + 2 * D, (size_t)D * sizeof(float));
        }
        cached_attention(m->gemm, k, K, V, n, p0);
        residual_bias_init(k->res2, k->x, w->projb, n, D);
        matmul_forward(m->gemm, k->res2, k->atty, w->projw, NULL, n, D, D, 1);
        layernorm_forward(k->ln, k->mean, k->rstd, k->res2, w->ln2w, w->ln2b, n, D);
        matmul_forward(m->gemm, k->fch, k->ln, w->fcw, w->fcb, n, D, FF, 0);
        gelu_forward(k->fch_gelu, k->fch, (size_t)n * FF);
        residual_bias_init(k->x, k->res2, w->fcob, n, D); /* the block output, in place */
        matmul_forward(m->gemm, k->x, k->fch_gelu, w->fcow, NULL, n, FF, D, 1);
    }
    k->len += n;
}

const float *ed_gpt_forward_cached(ed_gpt *m, ed_kv_cache *k, const int32_t *tokens, int n) {
    const ed_model_config *c = &m->cfg;
    const int V = c->vocab_size, D = c->d_model;
    ED_CHECK(n >= 1 && k->len + n <= k->cap, "kv cache holds %d of %d positions: cannot add %d",
             k->len, k->cap, n);
    ED_CHECK(k->cfg.d_model == D && k->cfg.n_layers == c->n_layers && k->cfg.vocab_size == V &&
                 k->cfg.d_ff == c->d_ff && k->cfg.n_heads == c->n_heads && k->cfg.arch == c->arch &&
                 ed_model_kv_heads(&k->cfg) == ed_model_kv_heads(c),
             "kv cache was made for another model shape");
    ED_CHECK(k->threads >= omp_get_max_threads(), "kv cache sized for %d threads, now %d",
             k->threads, omp_get_max_threads());
    for (int i = 0; i < n; i++)
        ED_CHECK(tokens[i] >= 0 && tokens[i] < V, "token id %d at position %d is outside the vocabulary [0, %d)",
                 tokens[i], k->len + i, V);
    gpt_weights_form(m);
    int blas_saved = ed_blas_serial_begin();
    int last = 0;
    for (int done = 0; done < n; done += last) {
        last = n - done < KV_ROWS ? n - done : KV_ROWS;
        forward_chunk(m, k, tokens + done, last);
    }
    /* Only the newest position's logits are wanted: the final norm and the head on one row. */
    const float *x = k->x + (size_t)(last - 1) * D;
    if (c->arch == ED_ARCH_LLAMA)
        rmsnorm_forward(k->ln, k->rstd, x, m->p.lnfw, 1, D, c->rms_eps);
    else
        layernorm_forward(k->ln, k->mean, k->rstd, x, m->p.lnfw, m->p.lnfb, 1, D);
    matmul_forward(m->gemm, k->logits, k->ln, m->p.head, NULL, 1, D, V, 0);
    ed_blas_serial_end(blas_saved);
    return k->logits;
}
