/* test_sampler.c — the sharding contract of dataset.h: every window exactly once per epoch
 * for any world size, batch size, accumulation and dataset size, with and without window
 * lengths; the same window set per optimizer step whenever B*A*W is the same; balanced
 * slots (the costliest slot as cheap as any assignment allows, never more than B rows
 * of the step's longest window, never a slower step than the unbalanced split, the same
 * micro-batches for -n 1 --grad-accum 2 and -n 2); and a permutation that is a pure
 * function of (seed, epoch). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "expert/dataset.h"
#include "expert/rng.h"

/* Heavy-tailed lengths in [2, max_len] like real documents: most short, some at the cap. */
static uint32_t *random_lengths(size_t n, uint32_t max_len, uint64_t seed) {
    uint32_t *len = malloc((n ? n : 1) * sizeof *len);
    ed_rng r;
    ed_rng_seed(&r, seed, 0);
    for (size_t i = 0; i < n; i++) {
        double u = ed_rng_uniform(&r);
        uint32_t l = 2 + (uint32_t)(u * u * u * (double)(max_len - 1));
        len[i] = l > max_len ? max_len : l;
    }
    return len;
}

static void test_each_window_once(void **state) {
    (void)state;
    const int worlds[] = {1, 2, 3, 4, 8}, Bs[] = {1, 3, 8}, As[] = {1, 2, 3};
    const size_t Ns[] = {1, 7, 24, 64, 101, 1000};
    uint32_t ids[8 * 3 * 8];
    for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++) {
        size_t n = Ns[ni];
        int *seen = calloc(n, sizeof *seen);
        uint32_t *len = random_lengths(n, 40, n);
        for (int wi = 0; wi < 5; wi++)
            for (int bi = 0; bi < 3; bi++)
                for (int ai = 0; ai < 3; ai++)
                    for (int mode = 0; mode < 6; mode++) { /* shuffle x (no lengths, lengths, packed) */
                        int W = worlds[wi], B = Bs[bi], A = As[ai], shuffle = mode & 1, lengths = mode >> 1;
                        int packed = mode >= 4;
                        long G = (long)B * A * W, S = (long)A * W;
                        memset(seen, 0, n * sizeof *seen);
                        long steps = -1;
                        for (int r = 0; r < W; r++) {
                            ed_sampler s;
                            ed_sampler_init(&s, n, B, A, r, W, 1234, shuffle);
                            if (lengths) ed_sampler_set_lengths(&s, len, 0);
                            if (packed) ed_sampler_set_packed(&s, 39); /* windows of up to 40 */
                            ed_sampler_set_epoch(&s, 2);
                            if (steps < 0) steps = ed_sampler_steps(&s);
                            assert_int_equal(ed_sampler_steps(&s), steps); /* all ranks agree */
                            assert_int_equal(steps, ((long)n + G - 1) / G);
                            assert_int_equal(ed_sampler_max_rows(&s), lengths ? G : B);
                            for (long st = 0; st < steps; st++)
                                for (int a = 0; a < A; a++) {
                                    int got = ed_sampler_micro(&s, st, a, ids);
                                    long m = (long)n - st * G < G ? (long)n - st * G : G; /* the step's windows */
                                    assert_true(got <= (long)ed_sampler_max_rows(&s));
                                    /* all windows alike: B per slot in a full step, at most m/S
                                     * rounded up in the last */
                                    if (!lengths) assert_true(m == G ? got == B : got <= (m + S - 1) / S);
                                    if (packed) { /* longest first, and first fit needs at most B rows */
                                        uint32_t fill[8 * 3 * 8];
                                        int rows = 0;
                                        for (int i = 0; i < got; i++) {
                                            assert_true(i == 0 || len[ids[i]] <= len[ids[i - 1]]);
                                            assert_true(ed_pack_place(fill, &rows, B, len[ids[i]] - 1, 39) >= 0);
                                        }
                                    }
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
        free(len);
    }
}

/* One step's slots as every rank sees them: ids[rank][micro] (row lists), their padded
 * tokens (rows x the longest row, or x pad_to), and the step's longest row. */
typedef struct {
    uint32_t ids[8][4][64];
    int n[8][4];
    uint64_t cost[8][4];
    uint32_t Tmax;
} step_view;

static void view_step(step_view *v, size_t n, const uint32_t *len, int pad_to, int B, int A, int W, long step) {
    memset(v, 0, sizeof *v);
    for (int r = 0; r < W; r++) {
        ed_sampler s;
        ed_sampler_init(&s, n, B, A, r, W, 77, 1);
        ed_sampler_set_lengths(&s, len, pad_to);
        ed_sampler_set_epoch(&s, 3);
        assert_true(ed_sampler_max_rows(&s) <= 64);
        for (int a = 0; a < A; a++) {
            int got = ed_sampler_micro(&s, step, a, v->ids[r][a]);
            uint32_t T = 0;
            for (int i = 0; i < got; i++) {
                uint32_t t = pad_to ? (uint32_t)pad_to : len[v->ids[r][a][i]] - 1;
                T = t > T ? t : T;
                if (i > 0) /* rows come longest first */
                    assert_true(len[v->ids[r][a][i]] <= len[v->ids[r][a][i - 1]] || pad_to);
            }
            v->n[r][a] = got;
            v->cost[r][a] = (uint64_t)got * T;
            v->Tmax = T > v->Tmax ? T : v->Tmax;
        }
        ed_sampler_free(&s);
    }
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The least possible maximum run cost when the sorted rows T[0..m) (longest first) are
 * cut into at most S consecutive runs, by dynamic programming: an implementation
 * independent of the sampler's binary search. */
static uint64_t best_runs(const uint32_t *T, int m, int S) {
    uint64_t *f = malloc((size_t)(S + 1) * (size_t)(m + 1) * sizeof *f); /* F(k, i): rows i.. in k runs */
#define F(k, i) f[(size_t)(k) * (size_t)(m + 1) + (size_t)(i)]
    for (int i = 0; i <= m; i++) F(0, i) = i == m ? 0 : UINT64_MAX;
    for (int k = 1; k <= S; k++)
        for (int i = 0; i <= m; i++) {
            F(k, i) = i == m ? 0 : UINT64_MAX;
            for (int j = i + 1; j <= m; j++) {
                uint64_t c = (uint64_t)(j - i) * T[i], rest = F(k - 1, j), w = c > rest ? c : rest;
                if (rest != UINT64_MAX && w < F(k, i)) F(k, i) = w;
            }
        }
    uint64_t best = F(S, 0);
#undef F
    free(f);
    return best;
}

static int cmp_desc(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x > y ? -1 : x < y;
}

/* Balance, in every step: the costliest slot (padded tokens) is the least possible; no slot
 * holds more than B rows of the step's longest window (the memory bound); the slowest
 * rank never has more to do than under the old split (slot k = positions [k*B, (k+1)*B)
 * of the step); the step's windows are exactly positions [s*G, (s+1)*G) of the epoch's
 * permutation. */
static void test_balance(void **state) {
    (void)state;
    const size_t n = 997;
    const int cfg[][3] = {{2, 8, 1}, {2, 4, 2}, {4, 2, 2}, {3, 5, 1}, {8, 2, 4}, {1, 8, 4}, {8, 1, 1}}; /* W, B, A */
    uint32_t *len = random_lengths(n, 256, 5);
    ed_sampler ref;
    ed_sampler_init(&ref, n, 1, 1, 0, 1, 77, 1);
    ed_sampler_set_epoch(&ref, 3);
    for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++)
        for (int pad_to = 0; pad_to <= 255; pad_to += 255) {
            int W = cfg[c][0], B = cfg[c][1], A = cfg[c][2];
            long G = (long)W * B * A, steps = ((long)n + G - 1) / G;
            static step_view v;
            double new_sum = 0, old_sum = 0, spread = 0;
            for (long st = 0; st < steps; st++) {
                view_step(&v, n, len, pad_to, B, A, W, st);
                uint64_t lo = UINT64_MAX, hi = 0, slot_max = 0;
                uint32_t got[512], want[512], T[64];
                size_t m = 0;
                for (int r = 0; r < W; r++) {
                    uint64_t sum = 0;
                    for (int a = 0; a < A; a++) {
                        assert_true(v.cost[r][a] <= (uint64_t)B * v.Tmax);
                        slot_max = v.cost[r][a] > slot_max ? v.cost[r][a] : slot_max;
                        sum += v.cost[r][a];
                        memcpy(got + m, v.ids[r][a], (size_t)v.n[r][a] * sizeof *got);
                        m += (size_t)v.n[r][a];
                    }
                    lo = sum < lo ? sum : lo;
                    hi = sum > hi ? sum : hi;
                }
                size_t mw = (size_t)((long)n - st * G < G ? (long)n - st * G : G);
                assert_int_equal(m, mw);
                for (size_t i = 0; i < mw; i++) want[i] = ed_sampler_at(&ref, (uint64_t)(st * G) + i);
                /* optimal: the DP's least maximum over consecutive runs of the sorted rows */
                for (size_t i = 0; i < mw; i++) T[i] = pad_to ? (uint32_t)pad_to : len[want[i]] - 1;
                qsort(T, mw, sizeof *T, cmp_desc);
                assert_int_equal(slot_max, best_runs(T, (int)mw, A * W));
                /* never slower than the old split: its costliest rank */
                uint64_t old_hi = 0;
                for (int r = 0; r < W; r++) {
                    uint64_t sum = 0;
                    for (int a = 0; a < A; a++) {
                        long b0 = ((long)a * W + r) * B, rows = 0;
                        uint32_t Tm = 0;
                        for (long i = b0; i < b0 + B && i < (long)mw; i++, rows++) {
                            uint32_t t = pad_to ? (uint32_t)pad_to : len[want[i]] - 1;
                            Tm = t > Tm ? t : Tm;
                        }
                        sum += (uint64_t)rows * Tm;
                    }
                    old_hi = sum > old_hi ? sum : old_hi;
                }
                if (hi > old_hi)
                    fail_msg("W=%d B=%d A=%d pad_to %d step %ld: slowest rank %llu padded tokens, old split %llu", W, B,
                             A, pad_to, st, (unsigned long long)hi, (unsigned long long)old_hi);
                new_sum += (double)hi;
                old_sum += (double)old_hi;
                spread += (double)(hi - lo) / v.Tmax;
                qsort(got, m, sizeof *got, cmp_u32);
                qsort(want, mw, sizeof *want, cmp_u32);
                assert_memory_equal(got, want, m * sizeof *got);
            }
            printf("W=%d B=%d A=%d pad_to=%3d: slowest rank %.2fx the old split's padded tokens; ranks differ by "
                   "%.2f rows of the longest window on average (%ld steps)\n",
                   W, B, A, pad_to, new_sum / old_sum, spread / steps, steps);
        }
    ed_sampler_free(&ref);
    free(len);
}

/* The runs are optimal over ALL assignments, not only over runs of consecutive lengths
 * (design.md's exchange argument): brute force on small steps. */
static void test_optimal_over_all(void **state) {
    (void)state;
    const int cases[][2] = {{2, 3}, {3, 2}, {2, 4}}; /* (S = world, B): m = S*B windows */
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
        for (uint64_t seed = 1; seed <= 30; seed++) {
            int S = cases[c][0], B = cases[c][1], m = S * B;
            uint32_t *len = random_lengths((size_t)m, 40, seed);
            uint64_t ours = 0;
            for (int r = 0; r < S; r++) {
                ed_sampler s;
                uint32_t ids[16];
                ed_sampler_init(&s, (size_t)m, B, 1, r, S, seed, 1);
                ed_sampler_set_lengths(&s, len, 0);
                int got = ed_sampler_micro(&s, 0, 0, ids);
                uint32_t T = 0;
                for (int i = 0; i < got; i++) T = len[ids[i]] - 1 > T ? len[ids[i]] - 1 : T;
                ours = (uint64_t)got * T > ours ? (uint64_t)got * T : ours;
                ed_sampler_free(&s);
            }
            uint64_t best = UINT64_MAX, total = 1;
            for (int i = 0; i < m; i++) total *= (uint64_t)S;
            for (uint64_t code = 0; code < total; code++) { /* window i -> slot digit i of code */
                uint64_t rows[4] = {0}, Tm[4] = {0}, x = code, worst = 0;
                for (int i = 0; i < m; i++, x /= (uint64_t)S) {
                    int k = (int)(x % (uint64_t)S);
                    rows[k]++;
                    Tm[k] = len[i] - 1 > Tm[k] ? len[i] - 1 : Tm[k];
                }
                for (int k = 0; k < S; k++) worst = rows[k] * Tm[k] > worst ? rows[k] * Tm[k] : worst;
                best = worst < best ? worst : best;
            }
            if (ours != best) fail_msg("S=%d B=%d seed %llu: costliest slot %llu, best possible %llu", S, B,
                                       (unsigned long long)seed, (unsigned long long)ours, (unsigned long long)best);
            free(len);
        }
}

/* Slot contents depend on the step's windows, S = A*W and B only: -n 1 --grad-accum 2 and
 * -n 2 (and -n 4 vs -n 2 --grad-accum 2) run the same micro-batches, on other ranks. */
static void test_same_micro_batches(void **state) {
    (void)state;
    const size_t n = 301;
    uint32_t *len = random_lengths(n, 128, 9);
    const int pairs[][2][2] = {{{1, 2}, {2, 1}}, {{2, 2}, {4, 1}}, {{1, 4}, {4, 1}}}; /* (W, A) */
    static step_view x, y;
    for (size_t p = 0; p < sizeof pairs / sizeof *pairs; p++)
        for (long st = 0; st < (long)n / 12; st++) {
            int W1 = pairs[p][0][0], A1 = pairs[p][0][1], W2 = pairs[p][1][0], A2 = pairs[p][1][1];
            view_step(&x, n, len, 0, 3, A1, W1, st);
            view_step(&y, n, len, 0, 3, A2, W2, st);
            /* every micro-batch of x appears, row for row, as a micro-batch of y */
            for (int r = 0; r < W1; r++)
                for (int a = 0; a < A1; a++) {
                    int found = 0;
                    for (int r2 = 0; r2 < W2 && !found; r2++)
                        for (int a2 = 0; a2 < A2 && !found; a2++)
                            found = x.n[r][a] == y.n[r2][a2] &&
                                    memcmp(x.ids[r][a], y.ids[r2][a2], (size_t)x.n[r][a] * sizeof(uint32_t)) == 0;
                    if (!found) fail_msg("step %ld: micro-batch (rank %d, micro %d) of W=%d A=%d not in W=%d A=%d", st, r, a, W1, A1, W2, A2);
                }
        }
    free(len);
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

/* The epoch's order as an array (the sampler computes it on demand). */
static uint32_t *order(const ed_sampler *s) {
    uint32_t *p = malloc((s->n_windows ? s->n_windows : 1) * sizeof *p);
    for (size_t i = 0; i < s->n_windows; i++) p[i] = ed_sampler_at(s, i);
    return p;
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
    for (size_t n = 1; n < 70; n++) { /* every small size, odd and even bit counts */
        ed_sampler x;
        ed_sampler_init(&x, n, 4, 1, 0, 1, 42, 1);
        uint32_t *p = order(&x);
        assert_true(is_permutation(p, n));
        free(p);
        ed_sampler_free(&x);
    }
    const size_t n = 500;
    ed_sampler a, b, c;
    ed_sampler_init(&a, n, 4, 1, 0, 1, 42, 1);
    ed_sampler_init(&b, n, 4, 1, 0, 1, 42, 1);
    ed_sampler_init(&c, n, 4, 1, 0, 1, 43, 1);
    uint32_t *pa = order(&a), *pb = order(&b), *pc = order(&c);
    assert_true(is_permutation(pa, n));
    assert_int_equal(a.epoch, 0);
    assert_memory_equal(pa, pb, n * sizeof *pa);
    /* a different seed gives a different order (500! orders: equal only by a bug) */
    assert_memory_not_equal(pa, pc, n * sizeof *pa);
    /* shuffled: few windows keep their place (a random permutation fixes ~1 on average) */
    size_t fixed = 0;
    for (size_t i = 0; i < n; i++) fixed += pa[i] == i;
    assert_true(fixed < 10);
    /* epochs differ from each other, and an epoch's order does not depend on history */
    ed_sampler_set_epoch(&a, 1);
    uint32_t *e1 = order(&a);
    assert_true(is_permutation(e1, n));
    assert_memory_not_equal(e1, pb, n * sizeof *e1);
    ed_sampler_set_epoch(&b, 7);
    ed_sampler_set_epoch(&b, 3);
    ed_sampler_set_epoch(&b, 1);
    assert_int_equal(b.epoch, 1);
    free(pb);
    pb = order(&b);
    assert_memory_equal(e1, pb, n * sizeof *e1);
    /* not shuffled: the identity, in every epoch */
    ed_sampler_free(&c);
    ed_sampler_init(&c, n, 4, 1, 0, 1, 42, 0);
    ed_sampler_set_epoch(&c, 4);
    for (size_t i = 0; i < n; i++) assert_int_equal(ed_sampler_at(&c, i), i);
    /* the order does not depend on batch size, accumulation, rank or world */
    ed_sampler d;
    ed_sampler_init(&d, n, 7, 3, 2, 5, 42, 1);
    ed_sampler_set_epoch(&d, 1);
    uint32_t *pd = order(&d);
    assert_memory_equal(e1, pd, n * sizeof *e1);
    ed_sampler_free(&d);
    free(pa), free(pb), free(pc), free(pd), free(e1);
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
    uint32_t *len = random_lengths(n, 64, 2);
    ed_sampler_init(&run, n, 3, 2, 1, 2, 5, 1);
    ed_sampler_set_lengths(&run, len, 0);
    uint32_t x[12], y[12];
    for (int epoch = 0; epoch < 3; epoch++) {
        ed_sampler_set_epoch(&run, epoch);
        for (long st = 0; st < ed_sampler_steps(&run); st++) {
            if (st % 5 != 2) continue;
            ed_sampler_init(&fresh, n, 3, 2, 1, 2, 5, 1);
            ed_sampler_set_lengths(&fresh, len, 0);
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
    free(len);
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
        cmocka_unit_test(test_balance), cmocka_unit_test(test_optimal_over_all), cmocka_unit_test(test_same_micro_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
