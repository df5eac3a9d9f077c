/* test_recompute.c — activation recomputation changes memory, not results.
 *
 * Two models with the same weights, one with ed_gpt_set_recompute on, take the same
 * batches (with a padded tail, label smoothing, and with and without dropout): the
 * losses, every gradient bit and the order of the "gradient ready" ranges must be
 * identical, because the backward re-runs the very same forward code with the same
 * dropout seeds (and the head's logits, recomputed chunk by chunk, are the same GEMM rows).
 * The number of arg-max hits agrees too. The memory side: with recomputation each extra
 * layer costs exactly one block output (N*D floats), and the saving against the plain
 * layout is (L-1) blocks of intermediates plus the (N,V) logits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "expert/gpt.h"
#include "expert/rng.h"

enum { B = 3, T = 16, V = 64, MAX_RANGES = 64 };
/* More rows than the head's chunk (ED_CE_CHUNK = 256): the chunked head's second chunk. */
enum { BIG_B = 5, BIG_T = 64 };

typedef struct {
    size_t off[MAX_RANGES], cnt[MAX_RANGES];
    int n;
} ranges;

static void record(void *ctx, size_t offset, size_t count) {
    ranges *r = ctx;
    assert_true(r->n < MAX_RANGES);
    r->off[r->n] = offset;
    r->cnt[r->n] = count;
    r->n++;
}

static ed_model_config config(float dropout, int layers, int max_seq_len) {
    ed_model_config c = {.vocab_size = V, .d_model = 32, .n_layers = layers, .n_heads = 2,
                         .d_ff = 96, .max_seq_len = max_seq_len, .dropout = dropout};
    return c;
}

/* Runs `steps` forward/backward passes on both models (gradients accumulate across
 * them, as with --grad-accum) and demands bit-identical losses, gradients and ranges.
 * llama: the same on a Llama (multi-query, untied head). */
static void compare_arch(float dropout, int train, int B, int T, int llama) {
    ed_model_config cfg = config(dropout, 4, T);
    if (llama) {
        cfg.arch = ED_ARCH_LLAMA;
        cfg.n_kv_heads = 1;
        cfg.rope_theta = 10000.0f;
        cfg.rms_eps = 1e-6f;
    }
    char msg[128];
    ed_gpt *plain = ed_gpt_create(&cfg, 7, msg, sizeof msg);
    ed_gpt *rec = ed_gpt_create(&cfg, 7, msg, sizeof msg);
    assert_non_null(plain);
    assert_non_null(rec);
    ed_gpt_set_recompute(rec, 1);
    size_t n = ed_gpt_num_params(plain);
    assert_int_equal(ed_model_num_params(&cfg), n); /* the count `inspect` prints, from the shape alone */
    ed_rng data, rng_a, rng_b;
    ed_rng_seed(&data, 11, 0);
    ed_rng_seed(&rng_a, 99, 3);
    ed_rng_seed(&rng_b, 99, 3);
    int32_t *x = malloc((size_t)B * T * sizeof *x), *y = malloc((size_t)B * T * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    for (int step = 0; step < 3; step++) {
        for (int i = 0; i < B * T; i++) {
            x[i] = (int32_t)ed_rng_below(&data, V);
            y[i] = (int32_t)ed_rng_below(&data, V);
        }
        for (int t = 10; t < T; t++) y[(B - 1) * T + t] = ED_IGNORE_INDEX;
        double la, lb;
        long ca, cb;
        ed_gpt_forward(plain, x, y, B, T, 0.1f, train, &rng_a, &la, &ca);
        ed_gpt_forward(rec, x, y, B, T, 0.1f, train, &rng_b, &lb, &cb);
        assert_int_equal(ca, cb);
        assert_memory_equal(&la, &lb, sizeof la);
        assert_int_equal(ed_gpt_correct(plain), ed_gpt_correct(rec));
        assert_non_null(ed_gpt_logits(plain));
        assert_null(ed_gpt_logits(rec)); /* the head ran in chunks */
        ranges ra = {0}, rb = {0};
        ed_gpt_backward(plain, 0.5f, record, &ra);
        ed_gpt_backward(rec, 0.5f, record, &rb);
        assert_int_equal(ra.n, rb.n);
        assert_memory_equal(ra.off, rb.off, sizeof ra.off);
        assert_memory_equal(ra.cnt, rb.cnt, sizeof ra.cnt);
        /* the gradients must also be non-trivial, or equality proves nothing */
        double norm = 0.0;
        const float *g = ed_gpt_grads(rec);
        for (size_t i = 0; i < n; i++) norm += (double)g[i] * g[i];
        assert_true(norm > 0.0);
        assert_memory_equal(ed_gpt_grads(plain), ed_gpt_grads(rec), n * sizeof(float));
        /* and the rng streams advanced alike (3 words per layer when dropout is on) */
        assert_int_equal(ed_rng_u64(&rng_a), ed_rng_u64(&rng_b));
    }
    /* switching recomputation off again on the same model takes effect at the next forward */
    ed_gpt_set_recompute(rec, 0);
    for (int i = 0; i < B * T; i++) x[i] = y[i] = (int32_t)(i % V);
    double la, lb;
    long ca, cb;
    ed_gpt_zero_grad(plain);
    ed_gpt_zero_grad(rec);
    ed_gpt_forward(plain, x, y, B, T, 0.0f, train, &rng_a, &la, &ca);
    ed_gpt_forward(rec, x, y, B, T, 0.0f, train, &rng_b, &lb, &cb);
    ed_gpt_backward(plain, 1.0f, NULL, NULL);
    ed_gpt_backward(rec, 1.0f, NULL, NULL);
    assert_memory_equal(ed_gpt_grads(plain), ed_gpt_grads(rec), n * sizeof(float)); /* both plain now */
    free(x);
    free(y);
    ed_gpt_free(plain);
    ed_gpt_free(rec);
}

static void compare_shape(float dropout, int train, int B, int T) { compare_arch(dropout, train, B, T, 0); }

static void compare(float dropout, int train) { compare_shape(dropout, train, B, T); }

static void test_identical_llama(void **state) {
    (void)state;
    compare_arch(0.0f, 1, B, T, 1);
    compare_arch(0.2f, 1, B, T, 1);
    compare_arch(0.2f, 0, B, T, 1);
}

static void test_identical_without_dropout(void **state) {
    (void)state;
    compare(0.0f, 1);
}

static void test_identical_with_dropout(void **state) {
    (void)state;
    compare(0.2f, 1);
}

/* More rows than one chunk of the head: the backward's later chunks must not touch the
 * absent logits (no pointer arithmetic on NULL: clang's UBSan, model_recompute_clang_ubsan),
 * and the result is still bit-identical (both layouts run the head's GEMM on the same
 * 256-row chunks; on all rows at once the plain one rounded differently). */
static void test_identical_over_one_head_chunk(void **state) {
    (void)state;
    assert_true(BIG_B * BIG_T > 256);
    compare_shape(0.1f, 1, BIG_B, BIG_T);
}

static void test_identical_eval_mode(void **state) {
    (void)state;
    compare(0.2f, 0); /* eval-mode forward fuses the residual into the GEMM: another path */
}

static size_t round64(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

static void test_memory(void **state) {
    (void)state;
    for (int b = 1; b <= 8; b *= 2) {
        size_t N = (size_t)b * T, block_out = round64(N * 32 * sizeof(float));
        size_t logits = round64(N * V * sizeof(float));
        for (int drop = 0; drop <= 1; drop++) {
            ed_model_config c1 = config(drop ? 0.1f : 0.0f, 1, T);
            ed_model_config c8 = config(drop ? 0.1f : 0.0f, 8, T);
            size_t r1 = ed_gpt_activation_bytes(&c1, b, T, 1), r8 = ed_gpt_activation_bytes(&c8, b, T, 1);
            size_t p1 = ed_gpt_activation_bytes(&c1, b, T, 0), p8 = ed_gpt_activation_bytes(&c8, b, T, 0);
            /* one layer: only the logits are saved */
            assert_int_equal(p1 - r1, logits);
            /* recomputation: an extra layer costs one block output */
            assert_int_equal(r8 - r1, 7 * block_out);
            /* plain: an extra layer costs a whole block (intermediates + output) */
            size_t block = (p8 - p1) / 7;
            assert_int_equal(p8 - p1, 7 * block);
            assert_true(block > 8 * block_out);
            assert_int_equal(p8 - r8, 7 * (block - block_out) + logits);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_identical_without_dropout),
                                       cmocka_unit_test(test_identical_with_dropout),
                                       cmocka_unit_test(test_identical_eval_mode),
                                       cmocka_unit_test(test_identical_over_one_head_chunk),
                                       cmocka_unit_test(test_identical_llama),
                                       cmocka_unit_test(test_memory)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
