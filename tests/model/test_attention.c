/* test_attention.c — the tiled attention kernel (src/kernels/attention.c) at context
 * lengths where finite differences are too slow: forward, log-sum-exp and every gradient
 * against the definition written out in double precision, at T = 2048 with plain causal
 * attention, grouped-query heads, and rows packed with many short windows (seg); and its
 * dropout: independent of the thread count, about p dropped, a different pattern per
 * seed. (test_gradcheck checks the same kernel against finite differences at small T.) */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "expert/rng.h"
#include "kernels.h"
#include "../gemm/gemm.h"

static ed_gemm_ctx *G; /* fp32: only its precision is read */

static float *randn(size_t n, ed_rng *r) {
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)ed_rng_normal(r);
    return x;
}

/* Forward and backward of causal (or block-diagonal: query i sees keys [seg[i], i])
 * attention in double, straight from the definition: out, lse and, for the upstream
 * gradient dout, dqkv (accumulated over the query heads sharing a key/value head). */
static void naive(double *out, double *lse, double *dqkv, const float *qkv, const float *dout, const int *seg, int B,
                  int T, int D, int H, int KV) {
    int hd = D / H, ld = D + 2 * KV * hd;
    double sc = 1.0 / sqrt((double)hd);
    double *p = malloc((size_t)T * sizeof(double)), *dp = malloc((size_t)T * sizeof(double));
    memset(dqkv, 0, (size_t)B * T * ld * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int qo = h * hd, ko = D + h / (H / KV) * hd, vo = ko + KV * hd;
            const float *row = qkv + (size_t)b * T * ld;
            double *drow = dqkv + (size_t)b * T * ld;
            for (int i = 0; i < T; i++) {
                int lo = seg ? seg[(size_t)b * T + i] : 0;
                double mx = -INFINITY, s = 0.0;
                for (int j = lo; j <= i; j++) {
                    double a = 0.0;
                    for (int e = 0; e < hd; e++) a += (double)row[(size_t)i * ld + qo + e] * row[(size_t)j * ld + ko + e];
                    p[j] = a * sc;
                    mx = p[j] > mx ? p[j] : mx;
                }
                for (int j = lo; j <= i; j++) s += (p[j] = exp(p[j] - mx));
                for (int j = lo; j <= i; j++) p[j] /= s;
                lse[((size_t)b * H + h) * T + i] = mx + log(s);
                const float *dy = dout + ((size_t)b * T + i) * D + h * hd;
                double dsum = 0.0;
                for (int e = 0; e < hd; e++) {
                    double y = 0.0;
                    for (int j = lo; j <= i; j++) y += p[j] * row[(size_t)j * ld + vo + e];
                    out[((size_t)b * T + i) * D + h * hd + e] = y;
                }
                for (int j = lo; j <= i; j++) {
                    double a = 0.0;
                    for (int e = 0; e < hd; e++) a += (double)dy[e] * row[(size_t)j * ld + vo + e];
                    dp[j] = a;
                    dsum += p[j] * a;
                }
                for (int j = lo; j <= i; j++) {
                    double ds = p[j] * (dp[j] - dsum) * sc;
                    for (int e = 0; e < hd; e++) {
                        drow[(size_t)i * ld + qo + e] += ds * row[(size_t)j * ld + ko + e];
                        drow[(size_t)j * ld + ko + e] += ds * row[(size_t)i * ld + qo + e];
                        drow[(size_t)j * ld + vo + e] += p[j] * dy[e];
                    }
                }
            }
        }
    free(p), free(dp);
}

/* ||a - ref|| / ||ref|| */
static double rel_err(const float *a, const double *ref, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) num += (a[i] - ref[i]) * (a[i] - ref[i]), den += ref[i] * ref[i];
    return sqrt(num / (den + 1e-300));
}

static void expect(const char *what, double err, double bound) {
    printf("  %-44s rel.err %.2e (bound %.0e)\n", what, err, bound);
    if (!(err <= bound)) fail_msg("%s: %.3e > %.1e", what, err, bound);
}

/* window > 0: rows cut into windows of window, window + 9, window, ... tokens */
static void check_vs_naive(int B, int T, int D, int H, int KV, int window) {
    ed_rng r;
    ed_rng_seed(&r, 24, (uint64_t)T * 31 + window);
    int hd = D / H, ld = D + 2 * KV * hd, threads = 3;
    size_t nq = (size_t)B * T * ld, no = (size_t)B * T * D, nl = (size_t)B * H * T;
    int *seg = NULL;
    if (window > 0) {
        seg = malloc((size_t)B * T * sizeof(int));
        for (int b = 0; b < B; b++)
            for (int i = 0, start = 0, k = 0; i < T; i++) {
                if (i - start >= window + (k % 2) * 9) start = i, k++;
                seg[(size_t)b * T + i] = start;
            }
    }
    float *qkv = randn(nq, &r), *dout = randn(no, &r), *out = malloc(no * 4), *lse = malloc(nl * 4);
    float *dqkv = malloc(nq * 4), *scr = malloc((size_t)threads * ed_att_scratch_floats(T, hd) * 4);
    double *rout = malloc(no * 8), *rlse = malloc(nl * 8), *rd = malloc(nq * 8);
    attention_forward(G, out, lse, qkv, seg, B, T, D, H, KV, 0.0f, 1, scr, threads);
    attention_backward(G, dqkv, scr, dout, qkv, out, lse, seg, B, T, D, H, KV, 0.0f, 1, threads);
    naive(rout, rlse, rd, qkv, dout, seg, B, T, D, H, KV);
    char what[96];
    snprintf(what, sizeof what, "T=%d H=%d G=%d window %d: out", T, H, KV, window);
    expect(what, rel_err(out, rout, no), 1e-5);
    snprintf(what, sizeof what, "T=%d H=%d G=%d window %d: lse", T, H, KV, window);
    expect(what, rel_err(lse, rlse, nl), 1e-6);
    snprintf(what, sizeof what, "T=%d H=%d G=%d window %d: dqkv", T, H, KV, window);
    expect(what, rel_err(dqkv, rd, nq), 1e-4);
    free(qkv), free(dout), free(out), free(lse), free(dqkv), free(scr), free(rout), free(rlse), free(rd), free(seg);
}

/* Long causal rows, grouped heads (2 query heads per key/value head), T not a multiple of
 * the 64-position block. */
static void test_long_causal(void **state) {
    (void)state;
    check_vs_naive(1, 2048, 32, 2, 1, 0);
    check_vs_naive(2, 333, 48, 3, 3, 0);
}

/* Rows packed with many short windows (block-diagonal): windows much shorter than a
 * block, windows straddling block edges, and windows longer than a block. */
static void test_long_windows(void **state) {
    (void)state;
    check_vs_naive(1, 2048, 32, 2, 2, 23);
    check_vs_naive(2, 700, 32, 4, 2, 100);
    check_vs_naive(1, 257, 16, 1, 1, 1); /* windows of 1 and 10 tokens */
}

/* Dropout: bit-identical at 1 and 3 threads; with uniform probabilities (Q = 0) and
 * V = 1 in one coordinate, out is (kept keys) / (visible keys) / (1-p) per row, so the
 * kept fraction is read off exactly; another seed gives another pattern. */
static void test_dropout(void **state) {
    (void)state;
    const int B = 2, T = 300, D = 16, H = 2, hd = 8, ld = 3 * D;
    const float p = 0.25f;
    ed_rng r;
    ed_rng_seed(&r, 25, 1);
    size_t nq = (size_t)B * T * ld, no = (size_t)B * T * D, nl = (size_t)B * H * T;
    float *qkv = randn(nq, &r), *dout = randn(no, &r);
    float *o1 = malloc(no * 4), *o3 = malloc(no * 4), *l1 = malloc(nl * 4), *l3 = malloc(nl * 4);
    float *d1 = malloc(nq * 4), *d3 = malloc(nq * 4), *scr = malloc((size_t)3 * ed_att_scratch_floats(T, hd) * 4);
    attention_forward(G, o1, l1, qkv, NULL, B, T, D, H, H, p, 77, scr, 1);
    attention_backward(G, d1, scr, dout, qkv, o1, l1, NULL, B, T, D, H, H, p, 77, 1);
    attention_forward(G, o3, l3, qkv, NULL, B, T, D, H, H, p, 77, scr, 3);
    attention_backward(G, d3, scr, dout, qkv, o3, l3, NULL, B, T, D, H, H, p, 77, 3);
    assert_memory_equal(o1, o3, no * 4);
    assert_memory_equal(d1, d3, nq * 4);
    /* Q = 0, V = e_0 */
    for (size_t n = 0; n < (size_t)B * T; n++)
        for (int c = 0; c < ld; c++)
            if (c < D) qkv[n * ld + c] = 0.0f;
            else if (c >= 2 * D) qkv[n * ld + c] = (c - 2 * D) % hd == 0 ? 1.0f : 0.0f;
    double kept = 0.0, seen = 0.0, diff = 0.0;
    attention_forward(G, o1, l1, qkv, NULL, B, T, D, H, H, p, 77, scr, 3);
    attention_forward(G, o3, l3, qkv, NULL, B, T, D, H, H, p, 78, scr, 3);
    for (int n = 0; n < B * T; n++)
        for (int h = 0; h < H; h++) {
            int i = n % T;
            double k = o1[(size_t)n * D + h * hd] * (i + 1) * (1.0 - p);
            assert_true(fabs(k - round(k)) < 1e-3); /* a whole number of kept keys */
            kept += k, seen += i + 1;
            diff += fabs(o1[(size_t)n * D + h * hd] - o3[(size_t)n * D + h * hd]);
        }
    printf("  dropout p=%.2f: dropped %.4f of %.0f probabilities\n", p, 1.0 - kept / seen, seen);
    assert_true(fabs(1.0 - kept / seen - p) < 0.01);
    assert_true(diff > 1.0); /* seed 78 drops other probabilities */
    free(qkv), free(dout), free(o1), free(o3), free(l1), free(l3), free(d1), free(d3), free(scr);
}

int main(void) {
    char msg[256];
    G = ed_gemm_ctx_create(ED_GEMM_OPENBLAS, ED_PREC_FP32, msg, sizeof msg);
    if (!G) {
        fprintf(stderr, "test_attention: %s\n", msg);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_causal),
        cmocka_unit_test(test_long_windows),
        cmocka_unit_test(test_dropout),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ed_gemm_ctx_free(G);
    return rc;
}
