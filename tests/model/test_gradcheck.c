/* test_gradcheck.c — every layer's backward and the whole model's backward against
 * double-sided finite differences of its own forward.
 *
 * Each check perturbs every element of an input/weight by +-h, evaluates a scalar
 * objective (sum(out * R) for a fixed random R, or the model's loss sum), and compares
 * the numerical gradient with the analytic one by the norm-relative error
 * ||fd - an|| / ||an||. Weights are drawn larger than the GPT-2 init so that every
 * gradient is well above float rounding; a swapped transpose or a missing term gives
 * errors of order 1, the bounds are ~1e-2 and below. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <omp.h>

#include "expert/half.h"
#include "expert/common.h"
#include "expert/gpt.h"
#include "expert/rng.h"
#include "gpt_internal.h"
#include "layers.h"

#define H_STEP 1e-2f

static void fill_normal(float *x, size_t n, ed_rng *r, float std, float mean) {
    for (size_t i = 0; i < n; i++) x[i] = mean + std * (float)ed_rng_normal(r);
}

static float *randn(size_t n, ed_rng *r, float std) {
    float *x = malloc(n * sizeof(float));
    fill_normal(x, n, r, std, 0.0f);
    return x;
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

typedef double (*objective_fn)(void *ctx);

/* Norm-relative error between analytic gradient an[n] and central differences of f
 * with respect to x[n]. */
static double fd_error(float *x, size_t n, const float *an, objective_fn f, void *ctx, float h) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        float keep = x[i];
        x[i] = keep + h;
        double fp = f(ctx);
        x[i] = keep - h;
        double fm = f(ctx);
        x[i] = keep;
        double fd = (fp - fm) / (2.0 * h);
        num += (fd - an[i]) * (fd - an[i]);
        den += (double)an[i] * an[i];
    }
    return sqrt(num) / (sqrt(den) + 1e-30);
}

static void expect_small(const char *what, double err, double bound) {
    printf("  %-28s rel.err %.2e (bound %.0e)\n", what, err, bound);
    if (!(err <= bound)) fail_msg("%s: gradient mismatch %.3e > %.1e", what, err, bound);
}

/* ---------------------------------------------------------------- ed_gemm */
/* The context of the layer checks: OpenBLAS, or the backend named by ED_TEST_GEMM (CI
 * runs this file with both). Set up in main. */
static ed_gemm_ctx *G;

static ed_gemm_backend test_backend(void) {
    const char *e = getenv("ED_TEST_GEMM");
    int b = e ? ed_name_index(ed_gemm_backend_names, e) : ED_GEMM_OPENBLAS;
    if (b < 0) fail_msg("ED_TEST_GEMM=%s is not openblas|onednn", e);
    return (ed_gemm_backend)b;
}

/* x as the GEMM of precision p sees it: rounded to bf16 / fp16, or unchanged. */
static double operand_value(ed_precision p, float x) {
    float y = x;
    if (p != ED_PREC_FP32) ed_half_round(p == ED_PREC_BF16 ? ED_HALF_BF16 : ED_HALF_FP16, &y, &x, 1);
    return y;
}

/* One context against a naive double loop (on bf16- / fp16-rounded inputs in those modes:
 * the products are then exact, only the fp32 sums differ), for every transpose combination,
 * shapes that split along M and along N into uneven slabs (3 threads), leading dimensions
 * wider than the matrices, and the same products issued from inside a parallel region
 * (one per thread, as attention does). */
static void check_gemm_ctx(ed_gemm_ctx *g, ed_rng *r) {
    const int shapes[][3] = {{301, 67, 45}, {37, 513, 29}, {64, 64, 64}, {5, 3, 2}};
    ed_precision p = ed_gemm_ctx_precision(g);
    for (int s = 0; s < 4; s++)
        for (int ta = 0; ta <= 1; ta++)
            for (int tb = 0; tb <= 1; tb++) {
                int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
                float *A = randn((size_t)(ta ? K : M) * lda, r, 1.0f);
                float *B = randn((size_t)(tb ? N : K) * ldb, r, 1.0f);
                float *C0 = randn((size_t)M * ldc, r, 1.0f);
                double *ref = malloc((size_t)M * N * sizeof(double));
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double acc = 0.0;
                        for (int k = 0; k < K; k++) {
                            float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                            float b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                            acc += operand_value(p, a) * operand_value(p, b);
                        }
                        ref[(size_t)i * N + j] = 0.5 * acc + 2.0 * C0[(size_t)i * ldc + j];
                    }
                for (int nested = 0; nested <= 1; nested++) {
                    int copies = nested ? 3 : 1;
                    float *C = malloc((size_t)copies * M * ldc * sizeof(float));
                    for (int t = 0; t < copies; t++) memcpy(C + (size_t)t * M * ldc, C0, (size_t)M * ldc * sizeof(float));
                    if (nested) {
#pragma omp parallel num_threads(3)
                        {
                            int t = omp_get_thread_num();
                            ed_gemm(g, ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 2.0f, C + (size_t)t * M * ldc, ldc);
                        }
                    } else {
                        ed_gemm(g, ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 2.0f, C, ldc);
                    }
                    for (int t = 0; t < copies; t++) {
                        const float *c = C + (size_t)t * M * ldc;
                        for (int i = 0; i < M; i++)
                            for (int j = 0; j < N; j++)
                                assert_true(fabs(c[(size_t)i * ldc + j] - ref[(size_t)i * N + j]) <=
                                            1e-4 * (1.0 + fabs(ref[(size_t)i * N + j])));
                        assert_true(c[N] == C0[N]); /* beyond the N columns: untouched */
                    }
                    free(C);
                }
                free(A), free(B), free(C0), free(ref);
            }
}

static void test_gemm_split(void **state) {
    (void)state;
    ed_rng r;
    ed_rng_seed(&r, 9, 1);
    int saved_threads = omp_get_max_threads();
    omp_set_num_threads(3);
    int blas = ed_blas_serial_begin();
    ed_machine mach;
    ed_machine_probe(&mach);
    for (int b = ED_GEMM_OPENBLAS; b <= ED_GEMM_ONEDNN; b++)
        for (int p = ED_PREC_FP32; p <= ED_PREC_FP16; p++)
            for (int emulate = 0; emulate <= (p != ED_PREC_FP32); emulate++) {
                if (b == ED_GEMM_ONEDNN && !mach.have_onednn) continue;
                const char *var = ed_precision_emulate_var((ed_precision)p);
                if (emulate) setenv(var, "1", 1);
                ed_gemm_ctx *g = ed_gemm_ctx_create((ed_gemm_backend)b, (ed_precision)p, NULL, 0);
                if (emulate) unsetenv(var);
                assert_non_null(g);
                char d[160];
                ed_gemm_ctx_describe(g, d, sizeof d);
                printf("  gemm: %s\n", d);
                if (emulate) assert_false(ed_gemm_ctx_half_native(g));
                check_gemm_ctx(g, &r);
                /* a second round reuses every primitive */
                long made = ed_gemm_ctx_primitives(g);
                check_gemm_ctx(g, &r);
                assert_int_equal(ed_gemm_ctx_primitives(g), made);
                if (b == ED_GEMM_ONEDNN) { /* oneDNN inside the engine's slabs (ed-bench's onednn-split) */
                    ed_gemm_ctx_set_onednn_split(g, 1);
                    check_gemm_ctx(g, &r);
                }
                ed_gemm_ctx_free(g);
            }
    ed_blas_serial_end(blas);
    omp_set_num_threads(saved_threads);
}

/* ---------------------------------------------------------------- matmul */
typedef struct {
    float *out, *inp, *w, *bias, *R;
    int N, C, OC, accumulate;
} mm_ctx;

static double mm_obj(void *p) {
    mm_ctx *c = p;
    size_t n = (size_t)c->N * c->OC;
    /* with accumulate the previous contents of out (here R*0.5) are part of out */
    for (size_t i = 0; i < n; i++) c->out[i] = c->accumulate ? 0.5f * c->R[i] : 0.0f;
    matmul_forward(G, c->out, c->inp, c->w, c->bias, c->N, c->C, c->OC, c->accumulate);
    return dot(c->out, c->R, n);
}

static void test_matmul(void **state) {
    (void)state;
    ed_rng r;
    ed_rng_seed(&r, 1, 1);
    for (int acc = 0; acc <= 1; acc++) {
        mm_ctx c = {.N = 7, .C = 5, .OC = 6, .accumulate = acc};
        c.inp = randn(35, &r, 1.0f);
        c.w = randn(30, &r, 1.0f);
        c.bias = randn(6, &r, 1.0f);
        c.R = randn(42, &r, 1.0f);
        c.out = malloc(42 * sizeof(float));
        float *dinp = malloc(35 * sizeof(float)), *dw = calloc(30, sizeof(float)),
              *db = calloc(6, sizeof(float));
        matmul_backward(G, dinp, dw, db, c.R, c.inp, c.w, c.N, c.C, c.OC);
        expect_small("matmul dinp", fd_error(c.inp, 35, dinp, mm_obj, &c, H_STEP), 1e-3);
        expect_small("matmul dweight", fd_error(c.w, 30, dw, mm_obj, &c, H_STEP), 1e-3);
        expect_small("matmul dbias", fd_error(c.bias, 6, db, mm_obj, &c, H_STEP), 1e-3);
        /* weight gradients accumulate: a second backward doubles them */
        matmul_backward(G, NULL, dw, db, c.R, c.inp, c.w, c.N, c.C, c.OC);
        for (int i = 0; i < 30; i++) dw[i] *= 0.5f;
        expect_small("matmul dweight (accumulated)", fd_error(c.w, 30, dw, mm_obj, &c, H_STEP), 1e-3);
        free(c.inp), free(c.w), free(c.bias), free(c.R), free(c.out), free(dinp), free(dw), free(db);
    }
}

/* ---------------------------------------------------------------- layernorm */
typedef struct {
    float *out, *mean, *rstd, *inp, *w, *b, *R;
    int N, C;
} ln_ctx;

static double ln_obj(void *p) {
    ln_ctx *c = p;
    layernorm_forward(c->out, c->mean, c->rstd, c->inp, c->w, c->b, c->N, c->C);
    return dot(c->out, c->R, (size_t)c->N * c->C);
}

static void test_layernorm(void **state) {
    (void)state;
    ed_rng r;
    ed_rng_seed(&r, 2, 1);
    ln_ctx c = {.N = 6, .C = 8};
    size_t n = 48;
    c.inp = randn(n, &r, 1.0f);
    for (size_t i = 0; i < n; i++) c.inp[i] += 3.0f; /* an offset mean, as in a residual stream */
    c.w = randn(8, &r, 0.5f);
    for (int i = 0; i < 8; i++) c.w[i] += 1.0f;
    c.b = randn(8, &r, 0.5f);
    c.R = randn(n, &r, 1.0f);
    c.out = malloc(n * sizeof(float));
    c.mean = malloc(6 * sizeof(float));
    c.rstd = malloc(6 * sizeof(float));
    float *dinp = calloc(n, sizeof(float)), *dw = calloc(8, sizeof(float)), *db = calloc(8, sizeof(float));
    ln_obj(&c);
    layernorm_backward(dinp, dw, db, c.R, c.inp, c.w, c.mean, c.rstd, c.N, c.C);
    expect_small("layernorm dinp", fd_error(c.inp, n, dinp, ln_obj, &c, H_STEP), 5e-3);
    expect_small("layernorm dweight", fd_error(c.w, 8, dw, ln_obj, &c, H_STEP), 1e-3);
    expect_small("layernorm dbias", fd_error(c.b, 8, db, ln_obj, &c, H_STEP), 1e-3);
    free(c.inp), free(c.w), free(c.b), free(c.R), free(c.out), free(c.mean), free(c.rstd);
    free(dinp), free(dw), free(db);
}

/* ---------------------------------------------------------------- gelu */
typedef struct {
    float *out, *inp, *R;
    size_t n;
} gelu_ctx;

static double gelu_obj(void *p) {
    gelu_ctx *c = p;
    gelu_forward(c->out, c->inp, c->n);
    return dot(c->out, c->R, c->n);
}

static void test_gelu(void **state) {
    (void)state;
    ed_rng r;
    ed_rng_seed(&r, 3, 1);
    gelu_ctx c = {.n = 64};
    c.inp = randn(c.n, &r, 2.0f);
    c.R = randn(c.n, &r, 1.0f);
    c.out = malloc(c.n * sizeof(float));
    float *d = malloc(c.n * sizeof(float));
    gelu_backward(d, c.inp, c.R, c.n);
    expect_small("gelu", fd_error(c.inp, c.n, d, gelu_obj, &c, 1e-3f), 1e-3);
    /* and the forward is the tanh formula itself (double precision reference) */
    gelu_forward(c.out, c.inp, c.n);
    for (size_t i = 0; i < c.n; i++) {
        double x = c.inp[i];
        double ref = 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
        assert_true(fabs(c.out[i] - ref) <= 1e-6 * (1.0 + fabs(ref)));
    }
    free(c.inp), free(c.R), free(c.out), free(d);
}

/* ---------------------------------------------------------------- attention */
typedef struct {
    float *out, *lse, *qkv, *R, *scratch;
    int *seg; /* NULL: plain causal; else block-diagonal windows (see attention_forward) */
    int B, T, D, H, KV, threads;
    float p;
} att_ctx;

static double att_obj(void *pp) {
    att_ctx *c = pp;
    attention_forward(G, c->out, c->lse, c->qkv, c->seg, c->B, c->T, c->D, c->H, c->KV, c->p, 99, c->scratch,
                      c->threads);
    return dot(c->out, c->R, (size_t)c->B * c->T * c->D);
}

/* Naive double-precision causal attention, the definition written out: rows of
 * (H + 2 KV) hd, query head h reading key/value head h / (H / KV); query i sees keys
 * [seg[i], i] (seg NULL: [0, i]). */
static void attention_naive(double *out, const float *qkv, const int *seg, int B, int T, int D, int H, int KV) {
    int hd = D / H, ld = D + 2 * KV * hd;
    double *w = malloc((size_t)T * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                const float *q = qkv + ((size_t)b * T + i) * ld + h * hd;
                int ko = D + h / (H / KV) * hd, vo = ko + KV * hd;
                double mx = -INFINITY, s = 0.0;
                int lo = seg ? seg[(size_t)b * T + i] : 0;
                for (int j = lo; j <= i; j++) {
                    const float *k = qkv + ((size_t)b * T + j) * ld + ko;
                    double a = 0.0;
                    for (int e = 0; e < hd; e++) a += (double)q[e] * k[e];
                    w[j] = a / sqrt((double)hd);
                    if (w[j] > mx) mx = w[j];
                }
                for (int j = lo; j <= i; j++) s += (w[j] = exp(w[j] - mx));
                for (int e = 0; e < hd; e++) {
                    double y = 0.0;
                    for (int j = lo; j <= i; j++)
                        y += w[j] / s * qkv[((size_t)b * T + j) * ld + vo + e];
                    out[((size_t)b * T + i) * D + h * hd + e] = y;
                }
            }
    free(w);
}

/* seg_len > 0: each row is cut into windows of seg_len, seg_len + 7, seg_len, ... tokens
 * (block-diagonal causal attention, the packed-window layout). */
static void run_attention_check_seg(int B, int T, int D, int H, int KV, float p, double bound, int seg_len) {
    ed_rng r;
    ed_rng_seed(&r, 4, (uint64_t)T);
    att_ctx c = {.B = B, .T = T, .D = D, .H = H, .KV = KV, .p = p, .threads = 4};
    if (seg_len > 0) {
        c.seg = malloc((size_t)B * T * sizeof(int));
        for (int b = 0; b < B; b++)
            for (int i = 0, start = 0, k = 0; i < T; i++) {
                int len = seg_len + (k % 2) * 7;
                if (i - start >= len) start = i, k++;
                c.seg[(size_t)b * T + i] = start;
            }
    }
    size_t nq = (size_t)B * T * (D + 2 * KV * (D / H)), no = (size_t)B * T * D;
    c.qkv = randn(nq, &r, 1.0f);
    c.R = randn(no, &r, 1.0f);
    c.out = malloc(no * sizeof(float));
    c.lse = malloc((size_t)B * H * T * sizeof(float));
    c.scratch = malloc((size_t)c.threads * ed_att_scratch_floats(T, D / H) * sizeof(float));
    float *dqkv = malloc(nq * sizeof(float));
    att_obj(&c);
    if (p == 0.0f) {
        double *ref = malloc(no * sizeof(double));
        attention_naive(ref, c.qkv, c.seg, B, T, D, H, KV);
        double num = 0.0, den = 0.0;
        for (size_t i = 0; i < no; i++) {
            num += (c.out[i] - ref[i]) * (c.out[i] - ref[i]);
            den += ref[i] * ref[i];
        }
        expect_small("attention forward vs naive", sqrt(num / den), 1e-5);
        free(ref);
    }
    attention_backward(G, dqkv, c.scratch, c.R, c.qkv, c.out, c.lse, c.seg, B, T, D, H, KV, p, 99, c.threads);
    char what[64];
    snprintf(what, sizeof what, "attention T=%d H=%d G=%d p=%.1f seg %d", T, H, KV, p, seg_len);
    expect_small(what, fd_error(c.qkv, nq, dqkv, att_obj, &c, H_STEP), bound);
    free(c.qkv), free(c.R), free(c.out), free(c.lse), free(c.scratch), free(dqkv), free(c.seg);
}

static void run_attention_check(int B, int T, int D, int H, int KV, float p, double bound) {
    run_attention_check_seg(B, T, D, H, KV, p, bound, 0);
}

static void test_attention(void **state) {
    (void)state;
    run_attention_check(2, 5, 8, 2, 2, 0.0f, 5e-3);
    /* T > ED_ATT_BLOCK: several causal row blocks, the last one partial */
    run_attention_check(1, 2 * ED_ATT_BLOCK + 3, 8, 2, 2, 0.0f, 5e-3);
    run_attention_check(2, 7, 8, 2, 2, 0.3f, 5e-3);
    /* packed windows (block-diagonal), across row blocks, with grouped heads and dropout */
    run_attention_check_seg(2, 2 * ED_ATT_BLOCK + 3, 8, 2, 2, 0.0f, 5e-3, 23);
    run_attention_check_seg(1, 2 * ED_ATT_BLOCK + 3, 8, 4, 2, 0.0f, 5e-3, 50);
    run_attention_check_seg(2, 19, 8, 2, 1, 0.3f, 5e-3, 4);
}

/* Grouped-query attention: 2 query heads per key/value head, and multi-query (G = 1),
 * where several heads add into one dK/dV; across row blocks and with dropout. */
static void test_attention_gqa(void **state) {
    (void)state;
    run_attention_check(2, 5, 16, 4, 2, 0.0f, 5e-3);
    run_attention_check(2, 6, 12, 3, 1, 0.0f, 5e-3);
    run_attention_check(1, ED_ATT_BLOCK + 5, 16, 4, 2, 0.0f, 5e-3);
    run_attention_check(2, 7, 16, 4, 1, 0.3f, 5e-3);
}

/* ---------------------------------------------------------------- llama layers */
typedef struct {
    float *out, *rstd, *inp, *w, *R;
    int N, C;
    float eps;
} rms_ctx;

static double rms_obj(void *p) {
    rms_ctx *c = p;
    rmsnorm_forward(c->out, c->rstd, c->inp, c->w, c->N, c->C, c->eps);
    return dot(c->out, c->R, (size_t)c->N * c->C);
}

static void test_rmsnorm(void **state) {
    (void)state;
    ed_rng r;
    ed_rng_seed(&r, 12, 1);
    rms_ctx c = {.N = 6, .C = 8, .eps = 1e-5f};
    size_t n = 48;
    c.inp = randn(n, &r, 1.0f);
    for (size_t i = 0; i < n; i++) c.inp[i] += 0.5f;
    c.w = randn(8, &r, 0.5f);
    for (int i = 0; i < 8; i++) c.w[i] += 1.0f;
    c.R = randn(n, &r, 1.0f);
    c.out = malloc(n * sizeof(float));
    c.rstd = malloc(6 * sizeof(float));
    float *dinp = calloc(n, sizeof(float)), *dw = calloc(8, sizeof(float));
    rms_obj(&c);
    /* the forward is the definition: w x / sqrt(mean(x^2) + eps) */
    for (int i = 0; i < c.N; i++) {
        double ms = 0.0;
        for (int k = 0; k < c.C; k++) ms += (double)c.inp[i * c.C + k] * c.inp[i * c.C + k] / c.C;
        for (int k = 0; k < c.C; k++) {
            double ref = c.w[k] * c.inp[i * c.C + k] / sqrt(ms + c.eps);
            assert_true(fabs(c.out[i * c.C + k] - ref) <= 1e-6 * (1.0 + fabs(ref)));
        }
    }
    rmsnorm_backward(dinp, dw, c.R, c.inp, c.w, c.rstd, c.N, c.C);
    expect_small("rmsnorm dinp", fd_error(c.inp, n, dinp, rms_obj, &c, H_STEP), 5e-3);
    expect_small("rmsnorm dweight", fd_error(c.w, 8, dw, rms_obj, &c, H_STEP), 1e-3);
    free(c.inp), free(c.w), free(c.R), free(c.out), free(c.rstd), free(dinp), free(dw);
}

typedef struct {
    float *x, *y, *R;
    const float *cos, *sin;
    const int *pos; /* NULL: position row % T */
    int B, T, heads, hd, ld;
} rope_ctx;

static double rope_obj(void *p) {
    rope_ctx *c = p;
    size_t n = (size_t)c->B * c->T * c->ld;
    memcpy(c->y, c->x, n * sizeof(float));
    rope_forward(c->y, c->cos, c->sin, c->pos, c->B, c->T, c->heads, c->hd, c->ld);
    return dot(c->y, c->R, n);
}

/* RoPE on 3 of 4 heads of each row (the 4th, like a llama's v heads, is left alone),
 * against the rotate-half definition and by finite differences, with positions t = row
 * % T and with per-token positions (packed windows restarting at 0); and the table
 * against cos/sin of t / theta^(2i/hd). */
static void test_rope(void **state) {
    (void)state;
    ed_rng r;
    ed_rng_seed(&r, 13, 1);
    ed_model_config cfg = {.vocab_size = 5, .d_model = 24, .n_layers = 1, .n_heads = 4, .d_ff = 4,
                           .max_seq_len = 9, .arch = ED_ARCH_LLAMA, .rope_theta = 100.0f, .rms_eps = 1e-6f};
    float *tab = gpt_rope_table(&cfg);
    const int hd = 6, half = 3, T = 7, B = 2, ld = 4 * hd;
    for (int t = 0; t < cfg.max_seq_len; t++)
        for (int i = 0; i < half; i++) {
            double a = t / pow(100.0, 2.0 * i / hd);
            assert_true(fabs(tab[t * half + i] - cos(a)) < 1e-6 && fabs(tab[(cfg.max_seq_len + t) * half + i] - sin(a)) < 1e-6);
        }
    size_t n = (size_t)B * T * ld;
    static const int packed[2 * 7] = {0, 1, 2, 0, 1, 0, 1, 0, 1, 2, 3, 4, 5, 6};
    for (int variant = 0; variant < 2; variant++) {
    rope_ctx c = {.B = B, .T = T, .heads = 3, .hd = hd, .ld = ld, .cos = tab, .sin = tab + cfg.max_seq_len * half,
                  .pos = variant ? packed : NULL};
    c.x = randn(n, &r, 1.0f);
    c.R = randn(n, &r, 1.0f);
    c.y = malloc(n * sizeof(float));
    rope_obj(&c);
    for (int row = 0; row < B * T; row++)
        for (int h = 0; h < 4; h++)
            for (int i = 0; i < half; i++) {
                const float *x = c.x + row * ld + h * hd, *y = c.y + row * ld + h * hd;
                double a = h < 3 ? (c.pos ? c.pos[row] : row % T) / pow(100.0, 2.0 * i / hd) : 0.0;
                assert_true(fabs(y[i] - (x[i] * cos(a) - x[i + half] * sin(a))) < 1e-5);
                assert_true(fabs(y[i + half] - (x[i + half] * cos(a) + x[i] * sin(a))) < 1e-5);
            }
    float *d = malloc(n * sizeof(float));
    memcpy(d, c.R, n * sizeof(float));
    rope_backward(d, c.cos, c.sin, c.pos, B, T, 3, hd, ld);
    expect_small(variant ? "rope (packed positions)" : "rope", fd_error(c.x, n, d, rope_obj, &c, H_STEP), 1e-3);
    free(c.x), free(c.R), free(c.y), free(d);
    }
    free(tab);
}

typedef struct {
    float *out, *gu, *R;
    int N, FF;
} swiglu_ctx;

static double swiglu_obj(void *p) {
    swiglu_ctx *c = p;
    swiglu_forward(c->out, c->gu, c->N, c->FF);
    return dot(c->out, c->R, (size_t)c->N * c->FF);
}

static void test_swiglu(void **state) {
    (void)state;
    ed_rng r;
    ed_rng_seed(&r, 14, 1);
    swiglu_ctx c = {.N = 5, .FF = 7};
    size_t n = 35;
    c.gu = randn(2 * n, &r, 2.0f);
    c.R = randn(n, &r, 1.0f);
    c.out = malloc(n * sizeof(float));
    float *d = malloc(2 * n * sizeof(float));
    swiglu_obj(&c);
    for (int i = 0; i < c.N; i++)
        for (int k = 0; k < c.FF; k++) {
            double g = c.gu[i * 14 + k], u = c.gu[i * 14 + 7 + k], ref = g / (1.0 + exp(-g)) * u;
            assert_true(fabs(c.out[i * 7 + k] - ref) <= 1e-6 * (1.0 + fabs(ref)));
        }
    swiglu_backward(d, c.gu, c.R, c.N, c.FF);
    expect_small("swiglu", fd_error(c.gu, 2 * n, d, swiglu_obj, &c, 1e-3f), 1e-3);
    free(c.gu), free(c.R), free(c.out), free(d);
}

/* ---------------------------------------------------------------- cross-entropy */
typedef struct {
    float *logits, *lse;
    int32_t *targets;
    int N, V;
    float eps;
    double row_loss[8];
    uint8_t hit[8];
} ce_ctx;

/* The loss sum and count over the rows, as gpt.c adds them up. */
static double ce_forward(ce_ctx *c, long *cnt) {
    crossentropy_forward(c->lse, c->row_loss, c->hit, c->logits, c->targets, c->N, c->V, c->eps);
    double loss = 0.0;
    *cnt = 0;
    for (int i = 0; i < c->N; i++)
        if (c->targets[i] != ED_IGNORE_INDEX) loss += c->row_loss[i], ++*cnt;
    return loss;
}

static double ce_obj(void *p) {
    long cnt;
    return ce_forward(p, &cnt);
}

static void test_crossentropy(void **state) {
    (void)state;
    ed_rng r;
    ed_rng_seed(&r, 5, 1);
    ce_ctx c = {.N = 6, .V = 11};
    size_t n = 66;
    int32_t tg[6] = {3, ED_IGNORE_INDEX, 0, 10, ED_IGNORE_INDEX, 7};
    c.targets = tg;
    c.logits = randn(n, &r, 2.0f);
    c.lse = malloc(6 * sizeof(float));
    float *d = malloc(n * sizeof(float));
    for (int k = 0; k < 2; k++) {
        c.eps = k ? 0.1f : 0.0f;
        long cnt;
        if (k) c.logits[5 * c.V + 7] = 50.0f; /* make row 5's target its arg-max */
        double loss = ce_forward(&c, &cnt);
        assert_int_equal(cnt, 4);
        /* arg-max hits against a plain scan (first maximum wins) */
        for (int i = 0; i < c.N; i++) {
            int best = 0;
            for (int j = 1; j < c.V; j++)
                if (c.logits[i * c.V + j] > c.logits[i * c.V + best]) best = j;
            assert_int_equal(c.hit[i], tg[i] != ED_IGNORE_INDEX && best == tg[i]);
        }
        if (k) assert_int_equal(c.hit[5], 1);
        /* loss against the definition in double */
        double ref = 0.0;
        for (int i = 0; i < c.N; i++) {
            if (tg[i] == ED_IGNORE_INDEX) continue;
            double mx = -INFINITY, s = 0.0, mean_nlp = 0.0;
            for (int j = 0; j < c.V; j++) mx = fmax(mx, c.logits[i * c.V + j]);
            for (int j = 0; j < c.V; j++) s += exp(c.logits[i * c.V + j] - mx);
            double lse = mx + log(s);
            for (int j = 0; j < c.V; j++) mean_nlp += (lse - c.logits[i * c.V + j]) / c.V;
            ref += (1.0 - c.eps) * (lse - c.logits[i * c.V + tg[i]]) + c.eps * mean_nlp;
        }
        assert_true(fabs(loss - ref) <= 1e-5 * fabs(ref));
        crossentropy_backward(d, c.logits, c.lse, c.targets, c.N, c.V, c.eps, 1.0f);
        expect_small(k ? "cross-entropy (smoothing 0.1)" : "cross-entropy",
                     fd_error(c.logits, n, d, ce_obj, &c, H_STEP), 2e-3);
        for (int j = 0; j < c.V; j++) assert_true(d[1 * c.V + j] == 0.0f); /* ignored row */
    }
    free(c.logits), free(c.lse), free(d);
}

/* ---------------------------------------------------------------- embedding, dropout */
typedef struct {
    float *out, *wte, *wpe, *R;
    int32_t *inp;
    const int *pos; /* NULL: position t */
    int B, T, D;
} enc_ctx;

static double enc_obj(void *p) {
    enc_ctx *c = p;
    encoder_forward(c->out, c->inp, c->pos, c->wte, c->wpe, c->B, c->T, c->D);
    return dot(c->out, c->R, (size_t)c->B * c->T * c->D);
}

/* With positions t, and with per-token positions (packed windows: 0 1 0 1 | 0 1 2 0),
 * whose repeated positions must add up in dwpe. */
static void test_embedding(void **state) {
    (void)state;
    ed_rng r;
    ed_rng_seed(&r, 6, 1);
    static const int packed[8] = {0, 1, 0, 1, 0, 1, 2, 0};
    for (int variant = 0; variant < 2; variant++) {
    enc_ctx c = {.B = 2, .T = 4, .D = 5, .pos = variant ? packed : NULL};
    int32_t ids[8] = {1, 2, 1, 0, 3, 3, 2, 1}; /* repeated ids: gradients must add up */
    c.inp = ids;
    c.wte = randn(20, &r, 1.0f);
    c.wpe = randn(30, &r, 1.0f); /* Tmax 6 > T */
    c.R = randn(40, &r, 1.0f);
    c.out = malloc(40 * sizeof(float));
    float *dwte = calloc(20, sizeof(float)), *dwpe = calloc(30, sizeof(float));
    encoder_backward(dwte, dwpe, c.R, c.inp, c.pos, c.B, c.T, c.D);
    expect_small("embedding dwte", fd_error(c.wte, 20, dwte, enc_obj, &c, H_STEP), 1e-3);
    expect_small("embedding dwpe", fd_error(c.wpe, 30, dwpe, enc_obj, &c, H_STEP), 1e-3);
    if (variant) /* position 3 never occurs: no gradient */
        for (int i = 15; i < 20; i++) assert_true(dwpe[i] == 0.0f);
    free(c.wte), free(c.wpe), free(c.R), free(c.out), free(dwte), free(dwpe);
    }
}

static void test_dropout(void **state) {
    (void)state;
    size_t n = 10000;
    uint8_t *m1 = malloc(n), *m2 = malloc(n);
    dropout_mask(m1, n, 0.25f, 7);
    dropout_mask(m2, n, 0.25f, 7);
    assert_memory_equal(m1, m2, n); /* deterministic */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) kept += m1[i];
    assert_true(fabs((double)kept / n - 0.75) < 0.03);
    float res[4] = {1, 2, 3, 4}, br[4] = {1, 1, 1, 1}, out[4], db[4];
    uint8_t mk[4] = {1, 0, 1, 0};
    residual_dropout_forward(out, res, br, mk, 0.5f, 4);
    dropout_backward(db, br, mk, 0.5f, 4);
    for (int i = 0; i < 4; i++) {
        assert_true(out[i] == res[i] + (mk[i] ? 2.0f : 0.0f));
        assert_true(db[i] == (mk[i] ? 2.0f : 0.0f));
    }
    free(m1), free(m2);
}

/* ---------------------------------------------------------------- whole model */
typedef struct {
    ed_gpt *m;
    int32_t *inp, *tgt;
    int B, T, train;
    float eps;
} model_ctx;

static double model_obj(void *p) {
    model_ctx *c = p;
    double loss;
    long cnt;
    ed_rng rng;
    ed_rng_seed(&rng, 1234, 0); /* the same dropout draws at every evaluation */
    ed_gpt_forward(c->m, c->inp, c->tgt, c->B, c->T, c->eps, c->train, &rng, &loss, &cnt);
    return loss;
}

typedef struct {
    size_t next_end; /* ranges must arrive from the end backwards, contiguous */
    int calls;
} ready_log;

static void on_ready(void *ctx, size_t off, size_t count) {
    ready_log *l = ctx;
    assert_int_equal(off + count, l->next_end);
    l->next_end = off;
    l->calls++;
}

static void run_model_check_cfg(ed_model_config cfg, float eps, int train, float h) {
    float dropout = cfg.dropout;
    char msg[128];
    ed_gpt *m = ed_gpt_create(&cfg, 42, msg, sizeof msg);
    assert_non_null(m);
    assert_int_equal(ed_gpt_set_compute(m, test_backend(), ED_PREC_FP32, msg, sizeof msg), 0);
    /* Larger-than-init weights so every gradient is far above rounding noise. */
    ed_rng r;
    ed_rng_seed(&r, 8, 1);
    float *P = ed_gpt_params(m);
    const ed_tensor *t = ed_gpt_tensors(m);
    for (int i = 0; i < ed_gpt_num_tensors(m); i++) {
        int is_ln_w = t[i].ndim == 1 && (strstr(t[i].name, "ln") || strstr(t[i].name, "norm")) &&
                      strstr(t[i].name, "weight");
        fill_normal(P + t[i].offset, t[i].numel, &r, t[i].ndim == 2 ? 0.3f : 0.1f,
                    is_ln_w ? 1.0f : 0.0f);
    }
    /* B=2, T=5, right-padded: row 1 has 3 real tokens, then pads (id 0, target -100);
     * row 0 also has one ignored target in the middle. */
    int32_t inp[10] = {1, 5, 9, 2, 7, 4, 3, 8, 0, 0};
    int32_t tgt[10] = {5, 9, ED_IGNORE_INDEX, 7, 10, 3, 8, 6, ED_IGNORE_INDEX, ED_IGNORE_INDEX};
    model_ctx c = {.m = m, .inp = inp, .tgt = tgt, .B = 2, .T = 5, .train = train, .eps = eps};
    model_obj(&c);
    ed_gpt_zero_grad(m);
    ready_log log = {.next_end = ed_gpt_num_params(m)};
    ed_gpt_backward(m, 1.0f, on_ready, &log);
    assert_int_equal(log.next_end, 0);
    assert_int_equal(log.calls, cfg.n_layers + 2);
    size_t np = ed_gpt_num_params(m);
    float *an = malloc(np * sizeof(float));
    memcpy(an, ed_gpt_grads(m), np * sizeof(float));
    printf(" model %s G=%d tied=%d dropout=%.1f train=%d smoothing=%.1f\n", ed_arch_names[cfg.arch],
           ed_model_kv_heads(&cfg), ed_model_tied(&cfg), dropout, train, eps);
    for (int i = 0; i < ed_gpt_num_tensors(m); i++) {
        double err = fd_error(P + t[i].offset, t[i].numel, an + t[i].offset, model_obj, &c, h);
        double nrm = sqrt(dot(an + t[i].offset, an + t[i].offset, t[i].numel));
        if (strcmp(t[i].name, "wpe.weight") == 0) {
            /* rows >= T are never used: their gradient must be exactly zero */
            for (size_t k = (size_t)c.T * cfg.d_model; k < t[i].numel; k++)
                assert_true(an[t[i].offset + k] == 0.0f);
        }
        assert_true(nrm > 1e-3); /* a real gradient, not a vacuous comparison */
        expect_small(t[i].name, err, 1e-2);
    }
    /* backward accumulates: a second backward (after a fresh forward at the unperturbed
     * point, since the checks above left perturbed activations) doubles the gradient */
    model_obj(&c);
    ed_gpt_backward(m, 1.0f, NULL, NULL);
    float *g = ed_gpt_grads(m);
    for (size_t k = 0; k < np; k++) assert_true(fabsf(g[k] - 2.0f * an[k]) <= 1e-5f * (1.0f + fabsf(an[k])));
    free(an);
    ed_gpt_free(m);
}

static void run_model_check(float dropout, float eps, int train) {
    ed_model_config cfg = {.vocab_size = 11, .d_model = 8, .n_layers = 2, .n_heads = 2,
                           .d_ff = 12, .max_seq_len = 7, .dropout = dropout};
    run_model_check_cfg(cfg, eps, train, H_STEP);
}

static void test_model(void **state) {
    (void)state;
    run_model_check(0.0f, 0.0f, 0);
    run_model_check(0.0f, 0.1f, 0);
    run_model_check(0.2f, 0.1f, 1); /* dropout on: masks fixed by the rng seed */
}

/* The whole llama: grouped-query with an untied head, multi-query with a tied head, and
 * dropout on. Every tensor, including both halves of the fused q|k|v and gate|up. The
 * step is smaller than the GPT-2's: with head size 2 and one key/value head the loss
 * curves enough that h = 1e-2 alone errs by ~2e-2 (the error falls with h as h^2). */
static void test_model_llama(void **state) {
    (void)state;
    ed_model_config cfg = {.vocab_size = 11, .d_model = 8, .n_layers = 2, .n_heads = 4, .d_ff = 6,
                           .max_seq_len = 7, .arch = ED_ARCH_LLAMA, .n_kv_heads = 2, .rope_theta = 50.0f,
                           .rms_eps = 1e-5f};
    run_model_check_cfg(cfg, 0.0f, 0, 3e-3f);
    cfg.n_kv_heads = 1;
    cfg.tie_embeddings = 1;
    run_model_check_cfg(cfg, 0.1f, 0, 3e-3f);
    cfg.dropout = 0.2f;
    run_model_check_cfg(cfg, 0.0f, 1, 3e-3f);
}

int main(void) {
    G = ed_gemm_ctx_create(test_backend(), ED_PREC_FP32, NULL, 0);
    if (!G) {
        fprintf(stderr, "test_gradcheck: backend %s not in this build\n", getenv("ED_TEST_GEMM"));
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_split),  cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_gelu),        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_crossentropy), cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_dropout),     cmocka_unit_test(test_model),
        cmocka_unit_test(test_attention_gqa), cmocka_unit_test(test_rmsnorm),
        cmocka_unit_test(test_rope),        cmocka_unit_test(test_swiglu),
        cmocka_unit_test(test_model_llama),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ed_gemm_ctx_free(G);
    return rc;
}
