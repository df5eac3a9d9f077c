/* test_overfit.c — the engine can learn: one fixed batch of random tokens is memorised
 * (mean loss < 0.1) by a tiny model with AdamW within a few hundred steps. Also checks
 * that the logits after a forward without targets equal those with targets, and that
 * ed_gpt_activation_bytes grows with the batch. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <omp.h>

#include "expert/gpt.h"
#include "expert/optim.h"
#include "expert/rng.h"

enum { B = 4, T = 16 };

static void test_overfit(void **state) {
    (void)state;
    ed_model_config cfg = {.vocab_size = 32, .d_model = 32, .n_layers = 2, .n_heads = 2,
                           .d_ff = 64, .max_seq_len = T, .dropout = 0.0f};
    char msg[128];
    ed_gpt *m = ed_gpt_create(&cfg, 1, msg, sizeof msg);
    assert_non_null(m);
    int32_t x[B * T], y[B * T];
    ed_rng r;
    ed_rng_seed(&r, 5, 0);
    for (int i = 0; i < B * T; i++) {
        x[i] = (int32_t)ed_rng_below(&r, 32);
        y[i] = (int32_t)ed_rng_below(&r, 32);
    }
    for (int t = 12; t < T; t++) y[3 * T + t] = ED_IGNORE_INDEX; /* a padded tail */
    size_t n = ed_gpt_num_params(m);
    ed_optim o;
    ed_optim_init(&o, ED_OPT_ADAMW, 0, n, 0.9f, 0.95f, 1e-8f, 0.0f, 0.0f);
    double first = 0.0, mean = 0.0;
    int step;
    for (step = 0; step < 600; step++) {
        double loss;
        long cnt;
        ed_gpt_zero_grad(m);
        ed_gpt_forward(m, x, y, B, T, 0.0f, 0, NULL, &loss, &cnt);
        assert_int_equal(cnt, B * T - 4);
        mean = loss / (double)cnt;
        if (step == 0) first = mean;
        if (mean < 0.1) break;
        ed_gpt_backward(m, 1.0f / (float)cnt, NULL, NULL);
        float f = ed_clip_factor(sqrt(ed_sumsq(ed_gpt_grads(m), n)), 1.0f);
        if (f < 1.0f) ed_scale(ed_gpt_grads(m), n, f);
        ed_optim_step(&o, ed_gpt_params(m), ed_gpt_grads(m), ed_gpt_tensors(m), ed_gpt_num_tensors(m), 1e-2f);
    }
    printf("  overfit: loss %.3f -> %.4f in %d steps\n", first, mean, step);
    assert_true(fabs(first - log(32.0)) < 0.3); /* starts near uniform */
    assert_true(mean < 0.1);

    /* logits do not depend on whether targets were given */
    size_t nv = (size_t)B * T * 32;
    float *l1 = malloc(nv * sizeof(float));
    memcpy(l1, ed_gpt_logits(m), nv * sizeof(float));
    ed_gpt_forward(m, x, NULL, B, T, 0.0f, 0, NULL, NULL, NULL);
    assert_memory_equal(l1, ed_gpt_logits(m), nv * sizeof(float));
    /* a smaller shape after a bigger one reuses the buffer and gives the same prefix logits */
    ed_gpt_forward(m, x, NULL, 1, 8, 0.0f, 0, NULL, NULL, NULL);
    for (int t = 0; t < 8; t++)
        for (int v = 0; v < 32; v++)
            assert_true(fabsf(ed_gpt_logits(m)[t * 32 + v] - l1[t * 32 + v]) < 1e-4f);
    free(l1);
    assert_true(ed_gpt_activation_bytes(&cfg, 2 * B, T, 0) > ed_gpt_activation_bytes(&cfg, B, T, 0));
    ed_optim_free(&o);
    ed_gpt_free(m);
}

/* docs/memory.md's formula, in bytes, without the per-slice alignment padding. */
/* docs/memory.md's formula. With recomputation one block of intermediates is shared and
 * the (N,V) logits are not kept. */
static double act_formula(const ed_model_config *c, int B, int T, int threads, int rc) {
    double N = (double)B * T, D = c->d_model, FF = c->d_ff, V = c->vocab_size, H = c->n_heads;
    double L = c->n_layers, big = 3 * D > FF ? 3 * D : FF, chunk = N < 256 ? N : 256;
    double blocks = rc ? 1 : L; /* sets of block intermediates */
    /* attention: lse per (b, h, row) kept per block; per thread a scratch of 8 T x hd copies
     * (T to whole 64-row blocks, hd to 16 floats), four per-row vectors, five 64 x 64 tiles
     * and two 64 x hd accumulators */
    double TP = ceil(T / 64.0) * 64, HDP = ceil(D / H / 16.0) * 16;
    double att_scratch = 8 * TP * HDP + 4 * TP + 5 * 64.0 * 64 + 2 * 64 * HDP;
    double fl = blocks * (7 * N * D + 4 * N + 2 * N * FF + B * H * (double)T) + L * N * D + 4 * N * D + 5 * N +
                (rc ? 0 : N * V) + N * big + chunk * V + threads * att_scratch;
    /* + per-row loss and plain cross-entropy (doubles), arg-max hit (byte), the batch's
     * segment starts and positions (ints, kept for the backward) */
    double bytes = 4 * fl + 25 * N;
    if (c->dropout > 0.0f) bytes += blocks * 2 * N * D; /* residual dropout masks (bytes) */
    return bytes;
}

static void test_activation_bytes(void **state) {
    (void)state;
    ed_model_config cfg = {.vocab_size = 1000, .d_model = 96, .n_layers = 3, .n_heads = 4,
                           .d_ff = 200, .max_seq_len = 300};
    for (int rc = 0; rc <= 1; rc++)
        for (int drop = 0; drop <= 1; drop++) {
            cfg.dropout = drop ? 0.1f : 0.0f;
            const int shapes[][2] = {{1, 1}, {3, 77}, {8, 300}};
            for (int i = 0; i < 3; i++) {
                int B = shapes[i][0], T = shapes[i][1];
                double want = act_formula(&cfg, B, T, omp_get_max_threads(), rc);
                double got = (double)ed_gpt_activation_bytes(&cfg, B, T, rc);
                double slices = 13.0 * cfg.n_layers + 16 + (drop ? 2.0 * cfg.n_layers : 0);
                assert_true(got >= want && got < want + 64 * slices);
            }
        }
}

static void test_bad_config(void **state) {
    (void)state;
    ed_model_config cfg = {.vocab_size = 32, .d_model = 30, .n_layers = 2, .n_heads = 4,
                           .d_ff = 64, .max_seq_len = 8};
    char msg[128] = "";
    assert_null(ed_gpt_create(&cfg, 1, msg, sizeof msg));
    assert_non_null(strstr(msg, "n-heads 4 does not divide d-model 30"));
    cfg.n_heads = 3;
    cfg.dropout = 1.0f;
    assert_int_equal(ed_model_config_check(&cfg, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "dropout"));
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_overfit), cmocka_unit_test(test_bad_config),
                                       cmocka_unit_test(test_activation_bytes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
