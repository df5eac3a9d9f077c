/* test_windows.c — documents -> token array -> windows (the seed's sliding window and
 * pack mode), and windows -> padded batches (inputs, targets, mask). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "expert/dataset.h"
#include "expert/rng.h"

/* Documents of k[d] words each, every word distinct ("d3w7"), so a document of k words is
 * exactly k + 2 tokens ([BOS] words [EOS]) with no <UNK>, and ids identify positions. */
typedef struct {
    ed_docs docs;
    ed_tokenizer *tok;
} fixture;

static void fixture_make(fixture *f, const int *k, size_t n) {
    memset(f, 0, sizeof *f);
    f->docs.n = n;
    f->docs.text = calloc(n ? n : 1, sizeof(char *));
    f->docs.len = calloc(n ? n : 1, sizeof(size_t));
    f->docs.line = calloc(n ? n : 1, sizeof(long));
    size_t total = 0;
    for (size_t d = 0; d < n; d++) {
        char *s = malloc((size_t)k[d] * 16 + 1);
        size_t len = 0;
        for (int i = 0; i < k[d]; i++) len += (size_t)sprintf(s + len, "%sd%zuw%d", i ? " " : "", d, i);
        s[len] = '\0';
        f->docs.text[d] = s;
        f->docs.len[d] = len;
        f->docs.line[d] = (long)d + 1;
        total += (size_t)k[d];
    }
    ed_tok_options o = {.kind = ED_TOK_WORD, .vocab_size = (int)total + 8, .min_freq = 1};
    ed_error err;
    f->tok = ed_tok_train(&o, (const char *const *)f->docs.text, f->docs.len, n, &err);
    assert_non_null(f->tok);
    assert_int_equal(ed_tok_vocab_size(f->tok), (int)total + ED_NUM_SPECIAL);
}

static void fixture_free(fixture *f) {
    for (size_t d = 0; d < f->docs.n; d++) free(f->docs.text[d]);
    free(f->docs.text);
    free(f->docs.len);
    free(f->docs.line);
    ed_tok_free(f->tok);
}

static void build(ed_dataset *ds, const fixture *f, int max_length, int stride, int pack) {
    ed_window_options o = {.max_length = max_length, .stride = stride, .pack = pack};
    ed_error err = {{0}};
    if (ed_dataset_build(ds, &f->docs, f->tok, &o, &err) != 0) fail_msg("%s", err.msg);
}

/* Checks the windows are exactly the (start, len) pairs given. */
static void assert_windows(const ed_dataset *ds, const uint64_t *start, const uint32_t *len, size_t n) {
    if (ds->n_windows != n) fail_msg("%zu windows, expected %zu", ds->n_windows, n);
    for (size_t w = 0; w < n; w++) {
        uint64_t s;
        uint32_t l;
        ed_dataset_window(ds, w, &s, &l);
        if (s != start[w] || l != len[w])
            fail_msg("window %zu is (%llu, %u), expected (%llu, %u)", w, (unsigned long long)s, l,
                     (unsigned long long)start[w], len[w]);
    }
}

static void test_seed_example(void **state) {
    (void)state;
    fixture f;
    int k[] = {8}; /* 10 tokens */
    fixture_make(&f, k, 1);
    ed_dataset ds;
    build(&ds, &f, 5, 3, 0);
    assert_int_equal(ds.n_tokens, 10);
    assert_int_equal(ds.n_docs, 1);
    assert_int_equal(ds.max_length, 5);
    assert_windows(&ds, (uint64_t[]){0, 3, 6}, (uint32_t[]){5, 5, 4}, 3);
    /* the token array is [BOS] ids [EOS] and the words are in order */
    assert_int_equal(ed_dataset_id(&ds, 0), ED_BOS);
    assert_int_equal(ed_dataset_id(&ds, 9), ED_EOS);
    for (int i = 1; i <= 8; i++) {
        char w[16];
        snprintf(w, sizeof w, "d0w%d", i - 1);
        assert_string_equal(ed_tok_token(f.tok, ed_dataset_id(&ds, i)), w);
    }
    ed_dataset_free(&ds);
    fixture_free(&f);
}

static void test_stride_cases(void **state) {
    (void)state;
    fixture f;
    int k[] = {8, 9, 10, 1}; /* 10, 11, 12 and 3 tokens, starting at 0, 10, 21, 33 */
    fixture_make(&f, k, 4);
    ed_dataset ds;
    /* stride == max_length: disjoint windows; the 1-token tail of the 11-token doc is dropped */
    build(&ds, &f, 5, 5, 0);
    assert_int_equal(ds.n_tokens, 36);
    assert_windows(&ds, (uint64_t[]){0, 5, 10, 15, 21, 26, 31, 33}, (uint32_t[]){5, 5, 5, 5, 5, 5, 2, 3}, 8);
    ed_dataset_free(&ds);
    /* stride > max_length: tokens between windows are skipped */
    build(&ds, &f, 4, 6, 0);
    assert_windows(&ds, (uint64_t[]){0, 6, 10, 16, 21, 27, 33}, (uint32_t[]){4, 4, 4, 4, 4, 4, 3}, 7);
    ed_dataset_free(&ds);
    /* max_length longer than every document: one whole-document window each */
    build(&ds, &f, 64, 32, 0);
    assert_windows(&ds, (uint64_t[]){0, 10, 21, 33}, (uint32_t[]){10, 11, 12, 3}, 4);
    ed_dataset_free(&ds);
    /* stride 1, max_length 2: every adjacent pair inside a document */
    build(&ds, &f, 2, 1, 0);
    assert_int_equal(ds.n_windows, 9 + 10 + 11 + 2);
    for (size_t w = 0; w < ds.n_windows; w++) {
        uint64_t ws;
        uint32_t wl;
        ed_dataset_window(&ds, w, &ws, &wl);
        assert_int_equal(wl, 2);
    }
    ed_dataset_free(&ds);
    fixture_free(&f);
}

/* Every window lies inside one document and matches the reference sliding window. */
static void test_windows_match_reference(void **state) {
    (void)state;
    ed_rng r;
    ed_rng_seed(&r, 7, 1);
    for (int trial = 0; trial < 40; trial++) {
        int n = 1 + (int)ed_rng_below(&r, 6), k[6];
        for (int d = 0; d < n; d++) k[d] = (int)ed_rng_below(&r, 30);
        int ml = 2 + (int)ed_rng_below(&r, 12), st = 1 + (int)ed_rng_below(&r, 15);
        fixture f;
        fixture_make(&f, k, (size_t)n);
        ed_dataset ds;
        build(&ds, &f, ml, st, 0);
        size_t w = 0, base = 0;
        for (int d = 0; d < n; d++) {
            size_t L = (size_t)k[d] + 2;
            /* reference: for i in range(0, L, stride): chunk = doc[i:i+ml]; keep if len >= 2;
             * stop after the chunk that reaches the end */
            for (size_t i = 0; i < L; i += (size_t)st) {
                size_t len = L - i < (size_t)ml ? L - i : (size_t)ml;
                if (len >= 2) {
                    assert_true(w < ds.n_windows);
                    uint64_t ws;
                    uint32_t wl;
                    ed_dataset_window(&ds, w, &ws, &wl);
                    assert_int_equal(ws, base + i);
                    assert_int_equal(wl, len);
                    w++;
                }
                if (i + (size_t)ml >= L) break;
            }
            base += L;
        }
        assert_int_equal(w, ds.n_windows);
        assert_int_equal(base, ds.n_tokens);
        ed_dataset_free(&ds);
        fixture_free(&f);
    }
}

static void test_pack(void **state) {
    (void)state;
    fixture f;
    int k[] = {2, 3, 4}; /* 4 + 5 + 6 = 15 tokens */
    fixture_make(&f, k, 3);
    ed_dataset ds;
    build(&ds, &f, 5, 5, 1);
    assert_windows(&ds, (uint64_t[]){0, 5, 10}, (uint32_t[]){5, 5, 5}, 3);
    /* windows run across document boundaries: doc 0 ends and doc 1 starts inside window 0 */
    assert_int_equal(ed_dataset_id(&ds, 4), ED_BOS);
    assert_int_equal(ed_dataset_id(&ds, 3), ED_EOS);
    ed_dataset_free(&ds);
    build(&ds, &f, 4, 3, 1);
    assert_windows(&ds, (uint64_t[]){0, 3, 6, 9}, (uint32_t[]){4, 4, 4, 4}, 4);
    ed_dataset_free(&ds);
    build(&ds, &f, 6, 7, 1);
    assert_windows(&ds, (uint64_t[]){0, 7}, (uint32_t[]){6, 6}, 2);
    ed_dataset_free(&ds);
    /* shorter than one window: the whole stream is the only window */
    build(&ds, &f, 100, 50, 1);
    assert_windows(&ds, (uint64_t[]){0}, (uint32_t[]){15}, 1);
    ed_dataset_free(&ds);
    fixture_free(&f);
}

static void test_build_errors(void **state) {
    (void)state;
    fixture f;
    int k[] = {3};
    fixture_make(&f, k, 1);
    ed_dataset ds;
    ed_error err;
    ed_window_options o = {.max_length = 1, .stride = 1};
    assert_int_equal(ed_dataset_build(&ds, &f.docs, f.tok, &o, &err), -1);
    assert_non_null(strstr(err.msg, "max_length"));
    o = (ed_window_options){.max_length = 8, .stride = 0};
    assert_int_equal(ed_dataset_build(&ds, &f.docs, f.tok, &o, &err), -1);
    assert_non_null(strstr(err.msg, "stride"));
    ed_docs none = {0};
    o.stride = 4;
    assert_int_equal(ed_dataset_build(&ds, &none, f.tok, &o, &err), -1);
    assert_non_null(strstr(err.msg, "no training windows"));
    fixture_free(&f);
}

static void test_batch(void **state) {
    (void)state;
    fixture f;
    int k[] = {3, 1, 8}; /* 5, 3, 10 tokens */
    fixture_make(&f, k, 3);
    ed_dataset ds;
    build(&ds, &f, 6, 6, 0); /* windows: (0,5) (5,3) (8,6) (14,4) */
    assert_windows(&ds, (uint64_t[]){0, 5, 8, 14}, (uint32_t[]){5, 3, 6, 4}, 4);
    ed_batch b;
    ed_batch_init(&b, 4, 5);
    uint32_t ids[] = {1, 0, 3};
    assert_int_equal(ed_batch_fill(&b, &ds, ids, 3, 0, NULL), 0);
    assert_int_equal(b.B, 3);
    assert_int_equal(b.T, 4); /* longest window (5) minus one */
    assert_int_equal(b.n_targets, 2 + 4 + 3);
    for (int i = 0; i < 3; i++) {
        uint64_t ws;
        uint32_t wl;
        ed_dataset_window(&ds, ids[i], &ws, &wl);
        int32_t w[8];
        assert_int_equal(ed_dataset_tokens(&ds, ws, wl, w, NULL), 0);
        int m = (int)wl - 1;
        for (int t = 0; t < b.T; t++) {
            size_t o = (size_t)i * (size_t)b.T + (size_t)t;
            if (t < m) {
                assert_int_equal(b.inputs[o], w[t]);
                assert_int_equal(b.targets[o], w[t + 1]);
                assert_int_equal(b.mask[o], 1);
            } else {
                assert_int_equal(b.inputs[o], ED_PAD);
                assert_int_equal(b.targets[o], -100);
                assert_int_equal(b.mask[o], 0);
            }
        }
    }
    /* row 1 is window 0 = [BOS] d0w0 d0w1 d0w2 [EOS]: targets are the shifted window */
    assert_int_equal(b.inputs[4], ED_BOS);
    assert_int_equal(b.targets[4 + 3], ED_EOS);
    /* pad_to_max: always max_length - 1 columns */
    assert_int_equal(ed_batch_fill(&b, &ds, ids, 2, 1, NULL), 0);
    assert_int_equal(b.B, 2);
    assert_int_equal(b.T, 5);
    assert_int_equal(b.n_targets, 2 + 4);
    assert_int_equal(b.mask[2], 0);
    assert_int_equal(b.targets[5 + 4], -100);
    assert_int_equal(b.targets[5 + 3], ED_EOS);
    /* an empty micro-batch (a rank with no windows on the last step) */
    assert_int_equal(ed_batch_fill(&b, &ds, ids, 0, 0, NULL), 0);
    assert_int_equal(b.B, 0);
    assert_int_equal(b.n_targets, 0);
    ed_batch_free(&b);
    ed_dataset_free(&ds);
    fixture_free(&f);
}

/* ED_ROWS_PACKED: the windows share rows (first fit, longest first) at the width with the
 * least padding, each a segment with positions from 0; ED_ROWS_DOC_MASK: a --pack window
 * gets a segment at every document start inside it. */
static void test_batch_packed(void **state) {
    (void)state;
    fixture f;
    int k[] = {3, 1, 8}; /* 5, 3, 10 tokens */
    fixture_make(&f, k, 3);
    ed_dataset ds;
    build(&ds, &f, 6, 6, 0); /* windows: (0,5) (5,3) (8,6) (14,4): inputs 4, 2, 5, 3 */
    ed_batch b;
    ed_batch_init(&b, 4, 9);
    uint32_t ids[] = {2, 0, 3, 1}; /* longest first, as the sampler gives them */
    assert_int_equal(ed_batch_fill(&b, &ds, ids, 4, ED_ROWS_PACKED, NULL), 0);
    /* width 5 needs 3 rows (15 positions), width 7 two full rows: 5 | 2 and 4 | 3 */
    assert_int_equal(b.B, 2);
    assert_int_equal(b.T, 7);
    assert_int_equal(b.packed, 1);
    assert_int_equal(b.n_targets, 4 + 2 + 5 + 3);
    const int row[] = {0, 1, 1, 0}, off[] = {0, 0, 4, 5};
    for (int i = 0; i < 4; i++) {
        uint64_t ws;
        uint32_t wl;
        ed_dataset_window(&ds, ids[i], &ws, &wl);
        int32_t w[8];
        assert_int_equal(ed_dataset_tokens(&ds, ws, wl, w, NULL), 0);
        for (int t = 0; t < (int)wl - 1; t++) {
            size_t o = (size_t)row[i] * 7 + (size_t)(off[i] + t);
            assert_int_equal(b.inputs[o], w[t]);
            assert_int_equal(b.targets[o], w[t + 1]);
            assert_int_equal(b.mask[o], 1);
            assert_int_equal(b.seg[o], off[i]);
            assert_int_equal(b.pos[o], t);
        }
    }
    /* the same windows padded to max_length - 1 carry no segments */
    assert_int_equal(ed_batch_fill(&b, &ds, ids, 4, ED_ROWS_MAX, NULL), 0);
    assert_int_equal(b.B, 4);
    assert_int_equal(b.T, 5);
    assert_int_equal(b.packed, 0);
    ed_batch_free(&b);
    ed_dataset_free(&ds);

    /* --pack --doc-mask: documents of 5, 3, 10 tokens start at 0, 5, 8 */
    build(&ds, &f, 8, 7, 1); /* windows (0,8) (7,8) */
    ed_batch_init(&b, 2, 7);
    uint32_t both[] = {0, 1};
    assert_int_equal(ed_batch_fill(&b, &ds, both, 2, ED_ROWS_DOC_MASK, NULL), 0);
    assert_int_equal(b.B, 2);
    assert_int_equal(b.T, 7);
    assert_int_equal(b.packed, 1);
    const int seg[2][7] = {{0, 0, 0, 0, 0, 5, 5}, {0, 1, 1, 1, 1, 1, 1}};
    for (int r = 0; r < 2; r++)
        for (int t = 0; t < 7; t++) {
            assert_int_equal(b.seg[r * 7 + t], seg[r][t]);
            assert_int_equal(b.pos[r * 7 + t], t - seg[r][t]);
        }
    assert_int_equal(b.inputs[5], ED_BOS); /* document 1 starts at row 0, position 5 */
    assert_int_equal(b.inputs[7 + 1], ED_BOS);
    /* no prediction across a boundary: the EOS before each BOS has target -100 */
    assert_int_equal(b.inputs[4], ED_EOS);
    assert_int_equal(b.targets[4], -100);
    assert_int_equal(b.targets[7 + 0], -100);
    assert_int_equal(b.n_targets, 2 * 7 - 2);
    ed_batch_free(&b);
    ed_dataset_free(&ds);
    fixture_free(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_example), cmocka_unit_test(test_stride_cases),
        cmocka_unit_test(test_windows_match_reference), cmocka_unit_test(test_pack),
        cmocka_unit_test(test_build_errors), cmocka_unit_test(test_batch), cmocka_unit_test(test_batch_packed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
