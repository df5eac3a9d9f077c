/* compute.c — the model's GEMM setting (ed_gpt_set_compute) and the measurement of its
 * speed at the shapes of a training step (the MFU reference). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The operands of the Linear-layer and head products of one (N rows) training step,
 * forward and both backward products (product_run). Inputs stay constant and every
 * product overwrites o: values cannot drift into denormals or infinities over the
 * repetitions. */
typedef struct {
    int N, D, V, lin[4][2];
    size_t nx, nw, no;
    float *x, *w, *o;
} products;

static void products_init(products *pr, const ed_model_config *c, int N) {
    const int D = c->d_model, FF = c->d_ff, QKV = gpt_qkv_width(c), MLP = gpt_mlp_width(c);
    /* (in, out) of the Linear layers of one block, then the tied head (in chunks of rows
     * as the engine runs it under recomputation: the same products either way). */
    const int lin[4][2] = {{D, QKV}, {D, D}, {D, MLP}, {FF, D}};
    memcpy(pr->lin, lin, sizeof lin);
    pr->N = N, pr->D = D, pr->V = c->vocab_size;
    size_t maxw = (size_t)(QKV > MLP ? QKV : MLP) * D;
    if ((size_t)pr->V * D > maxw) maxw = (size_t)pr->V * D;
    int big = QKV > MLP ? QKV : MLP;
    if (pr->V > big) big = pr->V;
    pr->nx = (size_t)N * big, pr->nw = maxw, pr->no = pr->nx > maxw ? pr->nx : maxw;
    pr->x = ed_alloc_floats(pr->nx), pr->w = ed_alloc_floats(pr->nw), pr->o = ed_alloc_floats(pr->no);
    for (size_t i = 0; i < pr->nx; i++) pr->x[i] = 0.001f * (float)(i % 97);
    for (size_t i = 0; i < pr->nw; i++) pr->w[i] = 0.001f * (float)(i % 89);
}

static void products_free(products *pr) { free(pr->x), free(pr->w), free(pr->o); }

/* Product k of the set (k < PRODUCTS) through g; returns its FLOPs. */
enum { PRODUCTS = 15 };
static double product_run(ed_gemm_ctx *g, const products *pr, int k) {
    const int N = pr->N, D = pr->D, V = pr->V, rows = N < ED_CE_CHUNK ? N : ED_CE_CHUNK;
    float *x = pr->x, *w = pr->w, *o = pr->o;
    if (k < 12) { /* the Linear layers */
        int C = pr->lin[k / 3][0], OC = pr->lin[k / 3][1];
        if (k % 3 == 0) ed_gemm(g, 0, 1, N, OC, C, 1.0f, x, C, w, C, 0.0f, o, OC); /* out = x w^T */
        if (k % 3 == 1) ed_gemm(g, 0, 0, N, C, OC, 1.0f, x, OC, w, C, 0.0f, o, C); /* dx = dy w */
        if (k % 3 == 2) ed_gemm(g, 1, 0, OC, C, N, 1.0f, x, OC, x, C, 0.0f, o, C); /* dw = dy^T x */
        return 2.0 * N * (double)C * OC;
    }
    if (k == 12) ed_gemm(g, 0, 1, rows, V, D, 1.0f, x, D, w, D, 0.0f, o, V); /* the tied head */
    if (k == 13) ed_gemm(g, 0, 0, rows, D, V, 1.0f, x, V, w, D, 0.0f, o, D);
    if (k == 14) ed_gemm(g, 1, 0, V, D, rows, 1.0f, x, V, x, D, 0.0f, o, D);
    return 2.0 * rows * (double)V * D;
}

static double products_run(ed_gemm_ctx *g, const products *pr) {
    double flops = 0.0;
    for (int k = 0; k < PRODUCTS; k++) flops += product_run(g, pr, k);
    return flops;
}

double ed_gpt_gemm_gflops(ed_gpt *m, int B, int T, double seconds) {
    products pr;
    products_init(&pr, &m->cfg, B * T);
    int saved = ed_blas_serial_begin();
    double flops = 0.0, t0 = 0.0;
    for (int round = 0;; round++) {
        if (round == 1) t0 = ed_now(), flops = 0.0; /* round 0: warm-up (primitive creation) */
        flops += products_run(m->gemm, &pr);
        if (round >= 1 && ed_now() - t0 >= seconds) break;
    }
    double dt = ed_now() - t0;
    ed_blas_serial_end(saved);
    products_free(&pr);
    return dt > 0 ? flops / dt / 1e9 : 0.0;
}

int ed_gpt_gemm_compare_rows(int B, int T) {
    int N = B * T;
    return N < 256 ? N : 256;
}

void ed_gpt_gemm_compare(const ed_gpt *m, int B, int T, ed_precision p, double gflops[ED_GEMM_N]) {
    ed_gemm_ctx *g[ED_GEMM_N] = {0};
    double best[ED_GEMM_N][PRODUCTS], flops[PRODUCTS] = {0};
    for (int b = ED_GEMM_OPENBLAS; b < ED_GEMM_N; b++) {
        g[b] = ed_gemm_ctx_create((ed_gemm_backend)b, p, NULL, 0);
        if (g[b]) ed_gemm_ctx_set_shapes(g[b], ed_gemm_ctx_shapes(m->gemm)); /* what the run will execute */
    }
    products pr;
    products_init(&pr, &m->cfg, ed_gpt_gemm_compare_rows(B, T));
    int saved = ed_blas_serial_begin();
    /* Each product in turn on each backend, so the two timings of a product are
     * milliseconds apart and a burst of load from another process hits both; the best
     * time of each (backend, product) counts. Round 0 is the warm-up (oneDNN creates its
     * primitives). At least 3 timed rounds and 0.1 s in all, at most 0.5 s (then at least
     * one timed round). */
    double t_start = ed_now();
    for (int round = 0;; round++) {
        for (int k = 0; k < PRODUCTS; k++)
            for (int b = ED_GEMM_OPENBLAS; b < ED_GEMM_N; b++) {
                if (!g[b]) continue;
                double t0 = ed_now();
                flops[k] = product_run(g[b], &pr, k);
                double dt = ed_now() - t0;
                if (round == 1 || (round > 1 && dt < best[b][k])) best[b][k] = dt;
            }
        double spent = ed_now() - t_start;
        if (round >= 1 && (spent >= 0.5 || (round >= 3 && spent >= 0.1))) break;
    }
    ed_blas_serial_end(saved);
    products_free(&pr);
    for (int b = 0; b < ED_GEMM_N; b++) {
        double total = 0.0, secs = 0.0;
        for (int k = 0; g[b] && k < PRODUCTS; k++) total += flops[k], secs += best[b][k];
        gflops[b] = g[b] && secs > 0 ? total / secs / 1e9 : 0.0;
        ed_gemm_ctx_free(g[b]);
    }
}
