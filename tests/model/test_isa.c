/* test_isa.c — every ISA path of the dispatched kernels (src/kernels/kernels.h) computes what
 * the baseline path computes, to fp32 rounding; and the choice of path from ED_ISA.
 *
 * Each path this build holds and this CPU runs is called directly through its table on
 * the same inputs as the baseline table (sizes chosen to leave vector tails: 37 rows, 75
 * columns, T = 67 across the 64-row attention blocks, n = 100003). A path the CPU lacks
 * is reported as SKIPPED, not failed; a path the build lacks likewise. The vector width
 * changes the order of reductions, so results agree to a few ulp, not bit for bit;
 * integer results (dropout masks, arg-max hits) must be identical. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "expert/half.h"
#include "expert/isa.h"
#include "expert/rng.h"
#include "kernels.h"
#include "../gemm/gemm.h"

/* |a-b| <= tol * (|b| + scale), element by element; scale = RMS of b keeps entries near
 * zero (differences of cancelling sums) from demanding relative accuracy they cannot have. */
static void expect_close(const char *what, const float *a, const float *b, size_t n, double tol) {
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (double)b[i] * b[i];
    double scale = sqrt(ss / (double)(n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= tol * (fabs((double)b[i]) + scale))) {
            print_error("%s[%zu]: %.9g vs baseline %.9g (tol %g)\n", what, i, a[i], b[i], tol);
            fail();
        }
    }
}

static float *randn(ed_rng *r, size_t n, float sd) {
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = sd * (float)ed_rng_normal(r);
    return x;
}

static float *copy(const float *x, size_t n) {
    float *y = malloc(n * sizeof *y);
    memcpy(y, x, n * sizeof *y);
    return y;
}

#define TOL 2e-5

/* Runs kernel family by family on path k and on the baseline b. */
static void compare_paths(const ed_kernels *k, const ed_kernels *b) {
    ed_rng r;
    ed_rng_seed(&r, 11, 0);
    const int N = 37, C = 75, V = 1003, B = 2, T = 67, D = 48, H = 4;
    const size_t n = 100003;

    /* LayerNorm: an offset mean exercises the two-pass variance. */
    float *x = randn(&r, (size_t)N * C, 1.0f), *w = randn(&r, C, 1.0f), *bias = randn(&r, C, 0.1f);
    for (int i = 0; i < N * C; i++) x[i] += 3.0f;
    float *o1 = malloc((size_t)N * C * 4), *o2 = malloc((size_t)N * C * 4);
    float m1[37], m2[37], s1[37], s2[37];
    k->layernorm_forward(o1, m1, s1, x, w, bias, N, C);
    b->layernorm_forward(o2, m2, s2, x, w, bias, N, C);
    expect_close("layernorm out", o1, o2, (size_t)N * C, TOL);
    expect_close("layernorm mean", m1, m2, N, TOL);
    expect_close("layernorm rstd", s1, s2, N, TOL);
    float *dout = randn(&r, (size_t)N * C, 1.0f);
    float *dx1 = randn(&r, (size_t)N * C, 1.0f), *dx2 = copy(dx1, (size_t)N * C);
    float *dw1 = calloc(C, 4), *dw2 = calloc(C, 4), *db1 = calloc(C, 4), *db2 = calloc(C, 4);
    k->layernorm_backward(dx1, dw1, db1, dout, x, w, m2, s2, N, C);
    b->layernorm_backward(dx2, dw2, db2, dout, x, w, m2, s2, N, C);
    expect_close("layernorm dinp", dx1, dx2, (size_t)N * C, TOL);
    expect_close("layernorm dw", dw1, dw2, C, TOL);
    expect_close("layernorm db", db1, db2, C, TOL);
    free(x), free(w), free(bias), free(o1), free(o2), free(dout), free(dx1), free(dx2);
    free(dw1), free(dw2), free(db1), free(db2);

    /* GELU, residual dropout, scaling and the sum of squares on a long flat vector. */
    float *u = randn(&r, n, 2.0f), *g = randn(&r, n, 1.0f), *res = randn(&r, n, 1.0f);
    float *y1 = malloc(n * 4), *y2 = malloc(n * 4);
    k->gelu_forward(y1, u, n);
    b->gelu_forward(y2, u, n);
    expect_close("gelu", y1, y2, n, TOL);
    k->gelu_backward(y1, u, g, n);
    b->gelu_backward(y2, u, g, n);
    expect_close("gelu backward", y1, y2, n, TOL);
    uint8_t *mk1 = malloc(n), *mk2 = malloc(n);
    k->dropout_mask(mk1, n, 0.3f, 99);
    b->dropout_mask(mk2, n, 0.3f, 99);
    assert_memory_equal(mk1, mk2, n);
    k->residual_dropout_forward(y1, res, u, mk2, 0.3f, n);
    b->residual_dropout_forward(y2, res, u, mk2, 0.3f, n);
    expect_close("residual dropout", y1, y2, n, TOL);
    k->dropout_backward(y1, g, mk2, 0.3f, n);
    b->dropout_backward(y2, g, mk2, 0.3f, n);
    expect_close("dropout backward", y1, y2, n, TOL);
    k->residual_bias_init(y1, res, u, 1001, 99);
    b->residual_bias_init(y2, res, u, 1001, 99);
    expect_close("residual+bias", y1, y2, 1001 * 99, TOL);
    double q1 = k->ed_sumsq(g, n), q2 = b->ed_sumsq(g, n);
    assert_true(fabs(q1 - q2) <= 1e-12 * q2);
    memcpy(y1, g, n * 4);
    memcpy(y2, g, n * 4);
    k->ed_scale(y1, n, 0.37f);
    b->ed_scale(y2, n, 0.37f);
    expect_close("scale", y1, y2, n, TOL);
    free(mk1), free(mk2);

    /* Optimizers: three steps so the moments matter. */
    float *p1 = copy(res, n), *p2 = copy(res, n), *mm1 = calloc(n, 4), *mm2 = calloc(n, 4);
    float *v1 = calloc(n, 4), *v2 = calloc(n, 4);
    for (long s = 1; s <= 3; s++) {
        k->adamw_update(p1, g, mm1, v1, n, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, s);
        b->adamw_update(p2, g, mm2, v2, n, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, s);
    }
    expect_close("adamw params", p1, p2, n, TOL);
    expect_close("adamw m", mm1, mm2, n, TOL);
    expect_close("adamw v", v1, v2, n, TOL);
    for (int s = 0; s < 3; s++) {
        k->sgd_update(p1, g, mm1, n, 1e-2f, 0.9f, 0.01f);
        b->sgd_update(p2, g, mm2, n, 1e-2f, 0.9f, 0.01f);
    }
    expect_close("sgd params", p1, p2, n, TOL);
    free(p1), free(p2), free(mm1), free(mm2), free(v1), free(v2);
    free(u), free(g), free(res), free(y1), free(y2);

    /* Embeddings. */
    int32_t ids[2 * 67];
    for (int i = 0; i < B * T; i++) ids[i] = (int32_t)(ed_rng_u64(&r) % 50);
    float *wte = randn(&r, 50 * (size_t)D, 1.0f), *wpe = randn(&r, (size_t)T * D, 1.0f);
    float *e1 = malloc((size_t)B * T * D * 4), *e2 = malloc((size_t)B * T * D * 4);
    k->encoder_forward(e1, ids, NULL, wte, wpe, B, T, D);
    b->encoder_forward(e2, ids, NULL, wte, wpe, B, T, D);
    expect_close("encoder", e1, e2, (size_t)B * T * D, TOL);
    float *gw1 = calloc(50 * (size_t)D, 4), *gw2 = calloc(50 * (size_t)D, 4);
    float *gp1 = calloc((size_t)T * D, 4), *gp2 = calloc((size_t)T * D, 4);
    k->encoder_backward(gw1, gp1, e2, ids, NULL, B, T, D);
    b->encoder_backward(gw2, gp2, e2, ids, NULL, B, T, D);
    expect_close("encoder dwte", gw1, gw2, 50 * (size_t)D, TOL);
    expect_close("encoder dwpe", gp1, gp2, (size_t)T * D, TOL);
    free(wte), free(wpe), free(e1), free(e2), free(gw1), free(gw2), free(gp1), free(gp2);

    /* Attention with dropout (its masks must match too: a different mask moves the output
     * far beyond TOL), forward and backward, in fp32 and with bf16-rounded operands (there
     * a probability a few ulp apart can round to the other bf16 neighbour: looser). */
    size_t nq = (size_t)B * T * 3 * D, no = (size_t)B * T * D, nl = (size_t)B * H * T;
    float *scratch = malloc((size_t)4 * ed_att_scratch_floats(T, D / H) * 4);
    char gmsg[256];
    ed_gemm_ctx *gc = ed_gemm_ctx_create(ED_GEMM_OPENBLAS, ED_PREC_FP32, gmsg, sizeof gmsg);
    assert_non_null(gc);
    for (int prec = ED_PREC_FP32; prec <= ED_PREC_BF16; prec++) {
        ed_gemm_ctx *pc = ed_gemm_ctx_create(ED_GEMM_OPENBLAS, (ed_precision)prec, gmsg, sizeof gmsg);
        double tol = prec == ED_PREC_FP32 ? TOL : 1e-2;
        float *qkv = randn(&r, nq, 1.0f), *l1 = malloc(nl * 4), *l2 = malloc(nl * 4);
        float *ao1 = malloc(no * 4), *ao2 = malloc(no * 4);
        k->attention_forward(pc, ao1, l1, qkv, NULL, B, T, D, H, H, 0.1f, 5, scratch, 4);
        b->attention_forward(pc, ao2, l2, qkv, NULL, B, T, D, H, H, 0.1f, 5, scratch, 4);
        expect_close("attention out", ao1, ao2, no, tol);
        expect_close("attention lse", l1, l2, nl, tol);
        float *dy = randn(&r, no, 1.0f), *dq1 = malloc(nq * 4), *dq2 = malloc(nq * 4);
        k->attention_backward(pc, dq1, scratch, dy, qkv, ao2, l2, NULL, B, T, D, H, H, 0.1f, 5, 1);
        b->attention_backward(pc, dq2, scratch, dy, qkv, ao2, l2, NULL, B, T, D, H, H, 0.1f, 5, 1);
        expect_close("attention dqkv", dq1, dq2, nq, tol);
        free(qkv), free(l1), free(l2), free(ao1), free(ao2), free(dy), free(dq1), free(dq2);
        ed_gemm_ctx_free(pc);
    }

    /* Llama's layers: RMSNorm, RoPE, SwiGLU, and grouped-query attention (G = 2 of H = 4,
     * fused rows of (H + 2G) hd). */
    {
        const int G = 2, hd = D / H, ld = D + 2 * G * hd, half = hd / 2;
        float *x = randn(&r, (size_t)N * C, 1.0f), *w = randn(&r, C, 1.0f), *o1 = malloc((size_t)N * C * 4);
        float *o2 = malloc((size_t)N * C * 4), s1[37], s2[37], *dout = randn(&r, (size_t)N * C, 1.0f);
        k->rmsnorm_forward(o1, s1, x, w, N, C, 1e-5f);
        b->rmsnorm_forward(o2, s2, x, w, N, C, 1e-5f);
        expect_close("rmsnorm out", o1, o2, (size_t)N * C, TOL);
        expect_close("rmsnorm rstd", s1, s2, N, TOL);
        float *dw1 = calloc(C, 4), *dw2 = calloc(C, 4);
        memset(o1, 0, (size_t)N * C * 4), memset(o2, 0, (size_t)N * C * 4);
        k->rmsnorm_backward(o1, dw1, dout, x, w, s2, N, C);
        b->rmsnorm_backward(o2, dw2, dout, x, w, s2, N, C);
        expect_close("rmsnorm dinp", o1, o2, (size_t)N * C, TOL);
        expect_close("rmsnorm dw", dw1, dw2, C, TOL);
        free(x), free(w), free(o1), free(o2), free(dout), free(dw1), free(dw2);

        size_t nq = (size_t)B * T * ld, no = (size_t)B * T * D;
        float *tab = randn(&r, (size_t)2 * T * half, 1.0f), *q1 = randn(&r, nq, 1.0f), *q2 = copy(q1, nq);
        k->rope_forward(q1, tab, tab + T * half, NULL, B, T, H + G, hd, ld);
        b->rope_forward(q2, tab, tab + T * half, NULL, B, T, H + G, hd, ld);
        expect_close("rope", q1, q2, nq, TOL);
        k->rope_backward(q1, tab, tab + T * half, NULL, B, T, H + G, hd, ld);
        b->rope_backward(q2, tab, tab + T * half, NULL, B, T, H + G, hd, ld);
        expect_close("rope backward", q1, q2, nq, TOL);
        size_t nl = (size_t)B * H * T;
        float *l1 = malloc(nl * 4), *l2 = malloc(nl * 4), *ao1 = malloc(no * 4), *ao2 = malloc(no * 4);
        k->attention_forward(gc, ao1, l1, q2, NULL, B, T, D, H, G, 0.0f, 5, scratch, 4);
        b->attention_forward(gc, ao2, l2, q2, NULL, B, T, D, H, G, 0.0f, 5, scratch, 4);
        expect_close("gqa attention out", ao1, ao2, no, TOL);
        float *dy = randn(&r, no, 1.0f);
        k->attention_backward(gc, q1, scratch, dy, q2, ao2, l2, NULL, B, T, D, H, G, 0.0f, 5, 1);
        float *dq2 = malloc(nq * 4);
        b->attention_backward(gc, dq2, scratch, dy, q2, ao2, l2, NULL, B, T, D, H, G, 0.0f, 5, 1);
        expect_close("gqa attention dqkv", q1, dq2, nq, TOL);
        free(tab), free(q1), free(q2), free(l1), free(l2), free(ao1), free(ao2), free(dy), free(dq2);

        float *gu = randn(&r, 2 * (size_t)N * C, 2.0f), *y1 = malloc((size_t)N * C * 4), *y2 = malloc((size_t)N * C * 4);
        k->swiglu_forward(y1, gu, N, C);
        b->swiglu_forward(y2, gu, N, C);
        expect_close("swiglu", y1, y2, (size_t)N * C, TOL);
        float *d1 = malloc(2 * (size_t)N * C * 4), *d2 = malloc(2 * (size_t)N * C * 4);
        k->swiglu_backward(d1, gu, y2, N, C);
        b->swiglu_backward(d2, gu, y2, N, C);
        expect_close("swiglu backward", d1, d2, 2 * (size_t)N * C, TOL);
        free(gu), free(y1), free(y2), free(d1), free(d2);
    }
    ed_gemm_ctx_free(gc);
    free(scratch);

    /* Cross-entropy with label smoothing and an ignored row. */
    float *z = randn(&r, (size_t)N * V, 3.0f), *l1 = malloc(N * 4), *l2 = malloc(N * 4);
    int32_t tg[37];
    for (int i = 0; i < N; i++) tg[i] = (int32_t)(ed_rng_u64(&r) % V);
    tg[5] = -100;
    double loss1[37], loss2[37];
    uint8_t h1[37], h2[37];
    k->crossentropy_forward(l1, loss1, h1, z, tg, N, V, 0.1f);
    b->crossentropy_forward(l2, loss2, h2, z, tg, N, V, 0.1f);
    expect_close("cross-entropy lse", l1, l2, N, TOL);
    for (int i = 0; i < N; i++) assert_true(fabs(loss1[i] - loss2[i]) <= TOL * (fabs(loss2[i]) + 1.0));
    assert_memory_equal(h1, h2, N);
    float *dz1 = malloc((size_t)N * V * 4), *dz2 = malloc((size_t)N * V * 4);
    k->crossentropy_backward(dz1, z, l2, tg, N, V, 0.1f, 0.5f);
    b->crossentropy_backward(dz2, z, l2, tg, N, V, 0.1f, 0.5f);
    expect_close("cross-entropy dlogits", dz1, dz2, (size_t)N * V, TOL);
    free(z), free(l1), free(l2), free(dz1), free(dz2);
}

static void check_path(ed_isa isa) {
    const ed_kernels *base = ed_kernels_for(ED_ISA_BASELINE);
    if (!ed_isa_built(isa) || !base) {
        printf("SKIPPED %s: not in this build\n", ed_isa_name(isa));
        skip();
    }
    if (!ed_isa_runs(isa)) {
        printf("SKIPPED %s: this CPU lacks it\n", ed_isa_name(isa));
        skip();
    }
    printf("comparing %s with baseline\n", ed_isa_name(isa));
    compare_paths(ed_kernels_for(isa), base);
}

static void test_avx2(void **state) {
    (void)state;
    check_path(ED_ISA_AVX2);
}

static void test_avx512(void **state) {
    (void)state;
    check_path(ED_ISA_AVX512);
}

/* max |a - b| over the RMS of b: a whole array's deviation as one number. */
static double rel_dev(const float *a, const float *b, size_t n) {
    double ss = 0.0, mx = 0.0;
    for (size_t i = 0; i < n; i++) {
        ss += (double)b[i] * b[i];
        double d = fabs((double)a[i] - (double)b[i]);
        mx = d > mx ? d : mx;
    }
    return mx / sqrt(ss / (double)n);
}

/* bf16 attention on path k against the baseline b. On the AVX-512 paths of a CPU with
 * AVX512-BF16 the tile products run on vdpbf16ps (attention.c), elsewhere as fp32 FMA on
 * the rounded operands, the baseline's way: the same contract (operands rounded to bf16,
 * fp32 accumulation), so the two agree up to fp32 reduction order, except where a
 * probability or dS a few ulp apart rounds to the other bf16 neighbour (hence 1e-2
 * elementwise); and k's distance from the fp32 result must be the baseline's, not more
 * (an operand left unrounded, or one rounded twice, would move it). Three row blocks, the
 * last partial; a causal row and a row of 40-token windows; grouped-query heads (hd 32 and
 * 64); dropout. */
static void compare_bf16_attention(const ed_kernels *k, const ed_kernels *b) {
    static const int shapes[2][3] = {{128, 4, 2}, {128, 2, 1}}; /* D, H, G */
    ed_rng r;
    ed_rng_seed(&r, 13, 0);
    const int B = 2, T = 150;
    int seg[2 * 150];
    for (int t = 0; t < T; t++) seg[t] = 0, seg[T + t] = t / 40 * 40;
    char gmsg[256];
    ed_gemm_ctx *bf = ed_gemm_ctx_create(ED_GEMM_OPENBLAS, ED_PREC_BF16, gmsg, sizeof gmsg);
    ed_gemm_ctx *fp = ed_gemm_ctx_create(ED_GEMM_OPENBLAS, ED_PREC_FP32, gmsg, sizeof gmsg);
    assert_non_null(bf), assert_non_null(fp);
    for (int c = 0; c < 2; c++) {
        const int D = shapes[c][0], H = shapes[c][1], G = shapes[c][2], hd = D / H, ld = D + 2 * G * hd;
        size_t nq = (size_t)B * T * ld, no = (size_t)B * T * D, nl = (size_t)B * H * T;
        float *scratch = malloc((size_t)2 * ed_att_scratch_floats(T, hd) * 4);
        float *qkv = randn(&r, nq, 1.5f), *dy = randn(&r, no, 1.0f);
        float *o[3], *l[3], *dq[3]; /* k bf16, baseline bf16, baseline fp32 */
        for (int v = 0; v < 3; v++) {
            const ed_kernels *kk = v == 0 ? k : b;
            ed_gemm_ctx *g = v == 2 ? fp : bf;
            o[v] = malloc(no * 4), l[v] = malloc(nl * 4), dq[v] = malloc(nq * 4);
            kk->attention_forward(g, o[v], l[v], qkv, seg, B, T, D, H, G, 0.1f, 9, scratch, 2);
            kk->attention_backward(g, dq[v], scratch, dy, qkv, o[v], l[v], seg, B, T, D, H, G, 0.1f, 9, 2);
        }
        expect_close("bf16 attention out", o[0], o[1], no, 1e-2);
        expect_close("bf16 attention lse", l[0], l[1], nl, 1e-3);
        expect_close("bf16 attention dqkv", dq[0], dq[1], nq, 1e-2);
        double ko = rel_dev(o[0], o[2], no), bo = rel_dev(o[1], o[2], no);
        double kd = rel_dev(dq[0], dq[2], nq), bd = rel_dev(dq[1], dq[2], nq);
        printf("  hd %d, %d of %d kv heads: path vs baseline out %.2e dqkv %.2e; from fp32: path %.2e/%.2e, "
               "baseline %.2e/%.2e\n",
               hd, G, H, rel_dev(o[0], o[1], no), rel_dev(dq[0], dq[1], nq), ko, kd, bo, bd);
        assert_true(ko <= 1.5 * bo + 1e-4);
        assert_true(kd <= 1.5 * bd + 1e-4);
        for (int v = 0; v < 3; v++) free(o[v]), free(l[v]), free(dq[v]);
        free(scratch), free(qkv), free(dy);
    }
    ed_gemm_ctx_free(bf), ed_gemm_ctx_free(fp);
}

static void test_bf16_attention(void **state) {
    (void)state;
    const ed_kernels *base = ed_kernels_for(ED_ISA_BASELINE);
    int ran = 0;
    for (int i = 0; i < ED_ISA_COUNT && base; i++) {
        if (i == ED_ISA_BASELINE || !ed_isa_runs((ed_isa)i)) continue;
#if defined(__x86_64__)
        __builtin_cpu_init();
        int dpbf = (i == ED_ISA_AVX512 || i == ED_ISA_NATIVE) && __builtin_cpu_supports("avx512bf16");
#else
        int dpbf = 0;
#endif
        printf("bf16 attention, %s (%s) against baseline:\n", ed_isa_name((ed_isa)i),
               dpbf ? "vdpbf16ps products" : "fp32 FMA on rounded operands");
        compare_bf16_attention(ed_kernels_for((ed_isa)i), base);
        ran = 1;
    }
    if (!ran) {
        printf("SKIPPED: no path besides baseline runs here (or no baseline in this build)\n");
        skip();
    }
}

/* The float32 -> bf16 / fp16 conversions (convert.c) on every path this CPU runs, bit
 * for bit against the scalar functions of half.h: for bf16 every upper half (sign,
 * exponent, 7 mantissa bits: all of NaN, Inf, zero, denormal and normal ranges) with the
 * lower halves that decide the rounding (0, 1, just below / at / above the tie, all ones)
 * plus random ones; for fp16 every sign, exponent and 10-bit mantissa with the same kinds
 * of 13-bit tails. In input order, so most 32-value blocks hold no denormal (the
 * AVX512-BF16 instruction's fast case) while the denormal range falls on blocks that
 * hold one (its fallback); odd offsets and lengths leave unaligned starts and tails. */
static void check_half(const ed_kernels *k, const char *path, ed_half_format fmt) {
    static const uint32_t bf16_low[] = {0x0000, 0x0001, 0x7ffe, 0x7fff, 0x8000, 0x8001, 0xffff};
    static const uint32_t fp16_low[] = {0x0000, 0x0001, 0x0ffe, 0x0fff, 0x1000, 0x1001, 0x1fff};
    const int extra = 3, nlow = 7 + extra, hb = fmt == ED_HALF_BF16 ? 16 : 19, sh = 32 - hb;
    size_t n = ((size_t)1 << hb) * (size_t)nlow;
    uint32_t *in = malloc(n * sizeof *in);
    ed_rng r;
    ed_rng_seed(&r, 21, (uint64_t)fmt);
    for (size_t hi = 0; hi < ((size_t)1 << hb); hi++)
        for (int j = 0; j < nlow; j++) {
            uint32_t low = j < 7 ? (fmt == ED_HALF_BF16 ? bf16_low[j] : fp16_low[j])
                                 : (uint32_t)ed_rng_u64(&r) & ((1u << sh) - 1u);
            in[hi * (size_t)nlow + (size_t)j] = (uint32_t)(hi << sh) | low;
        }
    float *x = malloc(n * sizeof *x), *rounded = malloc(n * sizeof *rounded);
    uint16_t *bits = malloc(n * sizeof *bits);
    memcpy(x, in, n * sizeof *x);
    for (size_t off = 0; off < 3; off++) {
        size_t m = n - 2 * off - (off ? 7 : 0);
        k->ed_half_from_f32(fmt, bits + off, x + off, m);
        k->ed_half_round(fmt, rounded + off, x + off, m);
        for (size_t i = off; i < off + m; i++) {
            uint16_t want = fmt == ED_HALF_BF16 ? ed_bf16_encode(x[i]) : ed_fp16_encode(x[i]);
            uint32_t wr = fmt == ED_HALF_BF16 ? ed_bf16_round_bits(in[i]) : ed_fp16_round_bits(in[i]), got;
            memcpy(&got, &rounded[i], sizeof got);
            if (bits[i] != want || got != wr)
                fail_msg("%s %s(0x%08x): encode 0x%04x want 0x%04x, round 0x%08x want 0x%08x", path,
                         fmt == ED_HALF_BF16 ? "bf16" : "fp16", in[i], bits[i], want, got, wr);
        }
    }
    printf("  %s %s: %zu inputs, 3 alignments, bit-identical to half.h\n", path, fmt == ED_HALF_BF16 ? "bf16" : "fp16",
           n);
    free(in), free(x), free(rounded), free(bits);
}

static void test_half_conversions(void **state) {
    (void)state;
    for (int i = 0; i < ED_ISA_COUNT; i++) {
        if (!ed_isa_runs((ed_isa)i)) continue;
        check_half(ed_kernels_for(i), ed_isa_name((ed_isa)i), ED_HALF_BF16);
        check_half(ed_kernels_for(i), ed_isa_name((ed_isa)i), ED_HALF_FP16);
    }
}

/* The request grammar and its errors; the process-wide choice follows ED_ISA. */
static void test_choose(void **state) {
    (void)state;
    char msg[256];
    ed_isa isa;
    assert_int_equal(ed_isa_choose(NULL, &isa, msg, sizeof msg), 0);
    assert_int_equal(isa, ed_isa_best());
    assert_int_equal(ed_isa_choose("auto", &isa, msg, sizeof msg), 0);
    assert_int_equal(isa, ed_isa_best());
    assert_true(ed_isa_runs(ed_isa_best()));
    assert_int_equal(ed_isa_choose("sse9", &isa, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "ED_ISA=sse9: unknown kernel path"));
    for (int i = 0; i < ED_ISA_COUNT; i++) {
        int rc = ed_isa_choose(ed_isa_name((ed_isa)i), &isa, msg, sizeof msg);
        if (ed_isa_runs((ed_isa)i)) {
            assert_int_equal(rc, 0);
            assert_int_equal(isa, i);
            assert_non_null(ed_kernels_for(i));
        } else {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(msg, ed_isa_name((ed_isa)i)));
            assert_null(strchr(msg, '\n'));
            printf("refused as expected: %s\n", msg);
        }
    }
    /* The portable build always holds baseline, the native build only native. */
    assert_true(ed_isa_built(ED_ISA_BASELINE) != ed_isa_built(ED_ISA_NATIVE));
    const char *env = getenv("ED_ISA");
    ed_isa want;
    if (ed_isa_choose(env, &want, msg, sizeof msg) == 0) {
        assert_int_equal(ed_isa_init(msg, sizeof msg), 0);
        assert_int_equal(ed_isa_active(), want);
        assert_ptr_equal(ed_kernels_active(), ed_kernels_for(want));
        char d[256];
        ed_isa_describe(d, sizeof d);
        printf("kernels: %s\n", d);
    } else {
        assert_int_equal(ed_isa_init(msg, sizeof msg), -1);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_choose),
        cmocka_unit_test(test_avx2),
        cmocka_unit_test(test_avx512),
        cmocka_unit_test(test_half_conversions),
        cmocka_unit_test(test_bf16_attention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
