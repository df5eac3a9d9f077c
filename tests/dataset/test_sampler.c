/* test_sampler.c — the sharding contract of dataset.h: every window exactly once per epoch
 * for any world size, batch size, accumulation and dataset size; the same window set per
 * optimizer step whenever B*A*W is the same; slot-by-slot filling of the last step; and a
 * permutation that is a pure function of (seed, epoch). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "expert/dataset.h"

static void test_each_window_once(void **state) {
    (void)state;
    const int worlds[] = {1, 2, 3, 4, 8}, Bs[] = {1, 3, 8}, As[] = {1, 2, 3};
    const size_t Ns[] = {1, 7, 24, 64, 101, 1000};
    uint32_t ids[8];
    for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++) {
        size_t n = Ns[ni];
        int *seen = calloc(n, sizeof *seen);
        for (int wi = 0; wi < 5; wi++)
            for (int bi = 0; bi < 3; bi++)
                for (int ai = 0; ai < 3; ai++)
                    for (int shuffle = 0; shuffle < 2; shuffle++) {
                        int W = worlds[wi], B = Bs[bi], A = As[ai];
                        long G = (long)B * A * W;
                        memset(seen, 0, n * sizeof *seen);
                        long steps = -1;
                        for (int r = 0; r < W; r++) {
                            ed_sampler s;
                            ed_sampler_init(&s, n, B, A, r, W, 1234, shuffle);
                            ed_sampler_set_epoch(&s, 2);
                            if (steps < 0) steps = ed_sampler_steps(&s);
                            assert_int_equal(ed_sampler_steps(&s), steps); /* all ranks agree */
                            assert_int_equal(steps, ((long)n + G - 1) / G);
                            for (long st = 0; st < steps; st++)
                                for (int a = 0; a < A; a++) {
                                    int got = ed_sampler_micro(&s, st, a, ids);
                                    /* slot k gets positions [st*G + k*B, +B) clipped to n */
                                    long begin = st * G + ((long)a * W + r) * B;
                                    long want = begin >= (long)n ? 0 : ((long)n - begin < B ? (long)n - begin : B);
                                    assert_int_equal(got, want);
                                    for (int i = 0; i < got; i++) {
                                        assert_true(ids[i] < n);
                                        seen[ids[i]]++;
                                    }
                                }
                            /* past the end there is nothing */
                            assert_int_equal(ed_sampler_micro(&s, steps, 0, ids), 0);
                            ed_sampler_free(&s);
                        }
                        for (size_t i = 0; i < n; i++)
                            if (seen[i] != 1) fail_msg("n=%zu W=%d B=%d A=%d: window %zu used %d times", n, W, B, A, i, seen[i]);
                    }
        free(seen);
    }
}

/* Sorted window ids of optimizer step `step` over all ranks and micro-batches. */
static size_t step_set(size_t n, int B, int A, int W, long step, uint32_t *out) {
    size_t m = 0;
    uint32_t ids[16];
    for (int r = 0; r < W; r++) {
        ed_sampler s;
        ed_sampler_init(&s, n, B, A, r, W, 99, 1);
        ed_sampler_set_epoch(&s, 5);
        for (int a = 0; a < A; a++) {
            int got = ed_sampler_micro(&s, step, a, ids);
            memcpy(out + m, ids, (size_t)got * sizeof *ids);
            m += (size_t)got;
        }
        ed_sampler_free(&s);
    }
    for (size_t i = 1; i < m; i++) /* insertion sort: sets are small */
        for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
            uint32_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return m;
}

static void test_same_set_per_step(void **state) {
    (void)state;
    const size_t n = 37; /* 37 = 4 full steps of 8 and a partial one of 5 */
    const int cfg[3][2] = {{1, 4}, {2, 2}, {4, 1}}; /* (W, A), B = 2: G = 8 */
    ed_sampler s;
    ed_sampler_init(&s, n, 2, 4, 0, 1, 99, 1);
    long steps = ed_sampler_steps(&s);
    ed_sampler_free(&s);
    assert_int_equal(steps, 5);
    for (long st = 0; st < steps; st++) {
        uint32_t ref[16], got[16];
        size_t m0 = step_set(n, 2, cfg[0][1], cfg[0][0], st, ref);
        assert_int_equal(m0, st < 4 ? 8 : 5);
        for (int c = 1; c < 3; c++) {
            size_t m = step_set(n, 2, cfg[c][1], cfg[c][0], st, got);
            assert_int_equal(m, m0);
            assert_memory_equal(got, ref, m * sizeof *ref);
        }
    }
}

static int is_permutation(const uint32_t *p, size_t n) {
    char *seen = calloc(n, 1);
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        if (p[i] >= n || seen[p[i]]) ok = 0;
        else seen[p[i]] = 1;
    }
    free(seen);
    return ok;
}

static void test_permutation_determinism(void **state) {
    (void)state;
    const size_t n = 500;
    ed_sampler a, b, c;
    ed_sampler_init(&a, n, 4, 1, 0, 1, 42, 1);
    ed_sampler_init(&b, n, 4, 1, 0, 1, 42, 1);
    ed_sampler_init(&c, n, 4, 1, 0, 1, 43, 1);
    assert_true(is_permutation(a.perm, n));
    assert_int_equal(a.epoch, 0);
    assert_memory_equal(a.perm, b.perm, n * sizeof *a.perm);
    /* a different seed gives a different order (500! orders: equal only by a bug) */
    assert_memory_not_equal(a.perm, c.perm, n * sizeof *a.perm);
    /* epochs differ from each other, and an epoch's order does not depend on history */
    uint32_t *e1 = malloc(n * sizeof *e1);
    ed_sampler_set_epoch(&a, 1);
    memcpy(e1, a.perm, n * sizeof *e1);
    assert_memory_not_equal(e1, b.perm, n * sizeof *e1);
    ed_sampler_set_epoch(&b, 7);
    ed_sampler_set_epoch(&b, 3);
    ed_sampler_set_epoch(&b, 1);
    assert_int_equal(b.epoch, 1);
    assert_memory_equal(e1, b.perm, n * sizeof *e1);
    /* not shuffled: the identity, in every epoch */
    ed_sampler_free(&c);
    ed_sampler_init(&c, n, 4, 1, 0, 1, 42, 0);
    ed_sampler_set_epoch(&c, 4);
    for (size_t i = 0; i < n; i++) assert_int_equal(c.perm[i], i);
    /* the order does not depend on batch size, accumulation, rank or world */
    ed_sampler d;
    ed_sampler_init(&d, n, 7, 3, 2, 5, 42, 1);
    ed_sampler_set_epoch(&d, 1);
    assert_memory_equal(e1, d.perm, n * sizeof *e1);
    ed_sampler_free(&d);
    free(e1);
    ed_sampler_free(&a);
    ed_sampler_free(&b);
    ed_sampler_free(&c);
}

/* Mid-epoch resume: a fresh sampler told (seed, epoch) gives the same micro-batches at
 * step s as the one that has been running since the start. */
static void test_resume(void **state) {
    (void)state;
    const size_t n = 203;
    ed_sampler run, fresh;
    ed_sampler_init(&run, n, 3, 2, 1, 2, 5, 1);
    uint32_t x[3], y[3];
    for (int epoch = 0; epoch < 3; epoch++) {
        ed_sampler_set_epoch(&run, epoch);
        for (long st = 0; st < ed_sampler_steps(&run); st++) {
            if (st % 5 != 2) continue;
            ed_sampler_init(&fresh, n, 3, 2, 1, 2, 5, 1);
            ed_sampler_set_epoch(&fresh, epoch);
            for (int a = 0; a < 2; a++) {
                int g1 = ed_sampler_micro(&run, st, a, x), g2 = ed_sampler_micro(&fresh, st, a, y);
                assert_int_equal(g1, g2);
                assert_memory_equal(x, y, (size_t)g1 * sizeof *x);
            }
            ed_sampler_free(&fresh);
        }
    }
    ed_sampler_free(&run);
}

static void test_empty(void **state) {
    (void)state;
    ed_sampler s;
    uint32_t ids[4];
    ed_sampler_init(&s, 0, 4, 1, 0, 2, 1, 1);
    assert_int_equal(ed_sampler_steps(&s), 0);
    assert_int_equal(ed_sampler_micro(&s, 0, 0, ids), 0);
    ed_sampler_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_window_once), cmocka_unit_test(test_same_set_per_step),
        cmocka_unit_test(test_permutation_determinism), cmocka_unit_test(test_resume), cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
