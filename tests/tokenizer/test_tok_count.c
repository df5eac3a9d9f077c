/* test_tok_count.c — the piece counter (ed_tok_counter_*, ed_tok_train_counts): texts
 * counted in any partition and order, by several counters merged directly or through
 * packed chunks of any size, give a tokenizer byte-identical (serialized) to ed_tok_train
 * on all the texts at once — word (plain, lowercase, min_freq) and BPE (vocab sizes,
 * min_freq), with empty texts, invalid UTF-8, long pieces; option errors come before any
 * counting with the messages of training; mismatched counters and damaged chunks are
 * refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "expert/rng.h"
#include "expert/tokenizer.h"

enum { N_TEXTS = 300 };

typedef struct {
    char *text[N_TEXTS];
    size_t len[N_TEXTS];
} corpus;

static const char *const WORDS[] = {
    "the", "The", "THE", "cat", "Cat", "sat", "on", "a", "mat", "don't", "well-known", "кто-то", "Москва", "москва",
    "МОСКВА", "столица", "Ärger", "ärger", "straße", "naïve", "日本語", "😀", "42", "3.14", "x", "xx", "xxx",
    "—", "«", "»", "...", "?!", "(", ")", "’", "'s", "'ll", "  ", "\t", "\n", "\n\n", "é", "e\xcc\x81",
};

/* Deterministic texts: words from WORDS and random ASCII words, some texts empty, some
 * with invalid UTF-8 bytes, one with a 5000-byte piece. */
static void make_corpus(corpus *c, uint64_t seed) {
    ed_rng r;
    ed_rng_seed(&r, seed, 0);
    size_t nw = sizeof WORDS / sizeof *WORDS;
    for (int i = 0; i < N_TEXTS; i++) {
        size_t cap = 8192, len = 0;
        char *t = malloc(cap);
        int words = i % 17 == 0 ? 0 : (int)ed_rng_below(&r, 60);
        for (int w = 0; w < words; w++) {
            char tmp[32];
            const char *s = tmp;
            if (ed_rng_below(&r, 3) == 0) {
                int k = 1 + (int)ed_rng_below(&r, 8);
                for (int j = 0; j < k; j++) tmp[j] = (char)('a' + ed_rng_below(&r, 6));
                tmp[k] = '\0';
            } else {
                s = WORDS[ed_rng_below(&r, nw)];
            }
            size_t n = strlen(s);
            memcpy(t + len, s, n);
            len += n;
            t[len++] = ed_rng_below(&r, 5) ? ' ' : ',';
        }
        if (i % 23 == 5) { /* invalid UTF-8: lone continuation, truncated sequence, 0xff */
            memcpy(t + len, "\x80 ab\xe2\x82 \xff", 9);
            len += 9;
        }
        if (i == 41) { /* a long piece */
            memset(t + len, 'q', 5000);
            len += 5000;
        }
        c->text[i] = t;
        c->len[i] = len;
    }
}

static void free_corpus(corpus *c) {
    for (int i = 0; i < N_TEXTS; i++) free(c->text[i]);
}

static char *serialize(const ed_tokenizer *t) {
    assert_non_null(t);
    return ed_tok_serialize(t, NULL);
}

static char *reference(const ed_tok_options *o, const corpus *c) {
    ed_error err = {{0}};
    ed_tokenizer *t = ed_tok_train(o, (const char *const *)c->text, c->len, N_TEXTS, &err);
    if (!t) fail_msg("train: %s", err.msg);
    char *s = serialize(t);
    ed_tok_free(t);
    return s;
}

static char *from_counter(const ed_tok_options *o, const ed_tok_counter *c) {
    ed_error err = {{0}};
    ed_tokenizer *t = ed_tok_train_counts(o, c, &err);
    if (!t) fail_msg("train_counts: %s", err.msg);
    char *s = serialize(t);
    ed_tok_free(t);
    return s;
}

/* Adds src's counts to dst through packed chunks of about `want` bytes. */
static void transfer(ed_tok_counter *dst, const ed_tok_counter *src, size_t want) {
    char *buf = NULL;
    size_t cap = 0, pos = 0, n, chunks = 0;
    ed_error err = {{0}};
    while ((n = ed_tok_counter_pack(src, &pos, &buf, &cap, want)) > 0) {
        if (ed_tok_counter_unpack(dst, buf, n, &err) != 0) fail_msg("unpack: %s", err.msg);
        chunks++;
    }
    assert_int_equal(pos, ed_tok_counter_distinct(src));
    if (want <= 1) assert_int_equal(chunks, ed_tok_counter_distinct(src)); /* one entry a chunk */
    free(buf);
}

/* The options every check runs over: each kind with the options that change training. */
static const ed_tok_options CONFIGS[] = {
    {.kind = ED_TOK_WORD, .vocab_size = 60, .min_freq = 1},
    {.kind = ED_TOK_WORD, .vocab_size = 10000, .min_freq = 1},
    {.kind = ED_TOK_WORD, .vocab_size = 45, .min_freq = 1, .lowercase = 1},
    {.kind = ED_TOK_WORD, .vocab_size = 10000, .min_freq = 3, .lowercase = 1},
    {.kind = ED_TOK_BPE, .vocab_size = 300, .min_freq = 1},
    {.kind = ED_TOK_BPE, .vocab_size = 2000, .min_freq = 1},
    {.kind = ED_TOK_BPE, .vocab_size = 2000, .min_freq = 5},
};

static void test_any_partition_same_tokenizer(void **state) {
    (void)state;
    corpus c;
    make_corpus(&c, 7);
    ed_rng r;
    ed_rng_seed(&r, 99, 0);
    for (size_t k = 0; k < sizeof CONFIGS / sizeof *CONFIGS; k++) {
        const ed_tok_options *o = &CONFIGS[k];
        char *ref = reference(o, &c);
        ed_error err = {{0}};
        /* one counter, texts in reverse order */
        ed_tok_counter *one = ed_tok_counter_new(o, &err);
        assert_non_null(one);
        for (int i = N_TEXTS - 1; i >= 0; i--) ed_tok_counter_add(one, c.text[i], c.len[i]);
        char *got = from_counter(o, one);
        assert_string_equal(got, ref);
        free(got);
        /* four counters, each text to a random one in shuffled order, merged directly */
        uint32_t order[N_TEXTS];
        for (uint32_t i = 0; i < N_TEXTS; i++) order[i] = i;
        for (uint32_t i = N_TEXTS - 1; i > 0; i--) { /* Fisher-Yates */
            uint32_t j = (uint32_t)ed_rng_below(&r, i + 1), x = order[i];
            order[i] = order[j], order[j] = x;
        }
        ed_tok_counter *part[4];
        for (int p = 0; p < 4; p++) part[p] = ed_tok_counter_new(o, &err);
        for (int i = 0; i < N_TEXTS; i++) {
            uint32_t t = order[i];
            ed_tok_counter_add(part[ed_rng_below(&r, 4)], c.text[t], c.len[t]);
        }
        ed_tok_counter *merged = ed_tok_counter_new(o, &err);
        for (int p = 3; p >= 0; p--) assert_int_equal(ed_tok_counter_merge(merged, part[p], &err), 0);
        assert_int_equal(ed_tok_counter_distinct(merged), ed_tok_counter_distinct(one));
        got = from_counter(o, merged);
        assert_string_equal(got, ref);
        free(got);
        /* the same parts through chunks of one entry, of 64 bytes and of everything (a tree:
         * 1 -> 0, 3 -> 2, then 2 -> 0, as prepare merges ranks) */
        transfer(part[0], part[1], 1);
        transfer(part[2], part[3], 64);
        transfer(part[0], part[2], 1 << 20);
        got = from_counter(o, part[0]);
        assert_string_equal(got, ref);
        free(got);
        for (int p = 0; p < 4; p++) ed_tok_counter_free(part[p]);
        ed_tok_counter_free(merged);
        ed_tok_counter_free(one);
        free(ref);
    }
    free_corpus(&c);
}

/* Empty texts count nothing; no texts at all gives the specials (word) or the bytes (bpe). */
static void test_empty(void **state) {
    (void)state;
    ed_error err = {{0}};
    for (int k = 0; k < 2; k++) {
        ed_tok_options o = {.kind = k ? ED_TOK_BPE : ED_TOK_WORD, .vocab_size = 500, .min_freq = 1};
        ed_tok_counter *c = ed_tok_counter_new(&o, &err);
        assert_non_null(c);
        ed_tok_counter_add(c, "", 0);
        ed_tok_counter_add(c, "abc", 0);
        assert_int_equal(ed_tok_counter_distinct(c), 0);
        char *buf = NULL;
        size_t cap = 0, pos = 0;
        assert_int_equal(ed_tok_counter_pack(c, &pos, &buf, &cap, 100), 0);
        assert_int_equal(ed_tok_counter_unpack(c, "", 0, &err), 0);
        ed_tokenizer *t = ed_tok_train_counts(&o, c, &err);
        assert_non_null(t);
        assert_int_equal(ed_tok_vocab_size(t), k ? ED_NUM_SPECIAL + 256 : ED_NUM_SPECIAL);
        ed_tokenizer *u = ed_tok_train(&o, NULL, NULL, 0, &err);
        char *a = serialize(t), *b = serialize(u);
        assert_string_equal(a, b);
        free(a);
        free(b);
        ed_tok_free(t);
        ed_tok_free(u);
        ed_tok_counter_free(c);
    }
}

/* Counts really are counts: a piece seen n times in one counter and m in another is one
 * entry of n + m, and the memory estimate covers at least the strings and the arrays. */
static void test_counts_and_bytes(void **state) {
    (void)state;
    ed_error err = {{0}};
    ed_tok_options o = {.kind = ED_TOK_WORD, .vocab_size = 100, .min_freq = 5};
    ed_tok_counter *a = ed_tok_counter_new(&o, &err), *b = ed_tok_counter_new(&o, &err);
    ed_tok_counter_add(a, "x x y", 5);
    ed_tok_counter_add(b, "x x y y", 7);
    /* merged: x 4 times, y 3, both under min_freq 5 ... */
    assert_int_equal(ed_tok_counter_merge(a, b, &err), 0);
    assert_int_equal(ed_tok_counter_distinct(a), 2);
    ed_tok_counter_add(a, "x", 1); /* ... until x is seen a fifth time */
    ed_tokenizer *t = ed_tok_train_counts(&o, a, &err);
    assert_int_equal(ed_tok_vocab_size(t), ED_NUM_SPECIAL + 1);
    assert_string_equal(ed_tok_token(t, ED_NUM_SPECIAL), "x");
    ed_tok_free(t);
    assert_true(ed_tok_counter_bytes(a) > 2 * 28);
    ed_tok_counter_free(a);
    ed_tok_counter_free(b);
}

static void test_errors(void **state) {
    (void)state;
    ed_error err = {{0}};
    /* option errors before any text, with training's messages */
    ed_tok_options o = {.kind = ED_TOK_WORD, .vocab_size = 4, .min_freq = 1};
    assert_null(ed_tok_counter_new(&o, &err));
    assert_non_null(strstr(err.msg, "vocab_size must be greater than 4"));
    o.vocab_size = 10, o.min_freq = 0;
    assert_null(ed_tok_counter_new(&o, &err));
    assert_non_null(strstr(err.msg, "min_freq must be >= 1"));
    o = (ed_tok_options){.kind = ED_TOK_BPE, .vocab_size = 5, .min_freq = 1};
    assert_null(ed_tok_counter_new(&o, &err));
    assert_non_null(strstr(err.msg, "vocab_size 5 is too small"));
    o.vocab_size = (1 << 24) + 1;
    assert_null(ed_tok_counter_new(&o, &err));
    assert_non_null(strstr(err.msg, "too large"));
    o = (ed_tok_options){.kind = (ed_tok_kind)7, .vocab_size = 500, .min_freq = 1};
    assert_null(ed_tok_counter_new(&o, &err));
    assert_non_null(strstr(err.msg, "kind"));
    /* counters of another kind or case folding do not mix */
    ed_tok_options w = {.kind = ED_TOK_WORD, .vocab_size = 500, .min_freq = 1};
    ed_tok_options wl = {.kind = ED_TOK_WORD, .vocab_size = 500, .min_freq = 1, .lowercase = 1};
    ed_tok_options bp = {.kind = ED_TOK_BPE, .vocab_size = 500, .min_freq = 1, .lowercase = 1};
    ed_tok_counter *cw = ed_tok_counter_new(&w, &err), *cl = ed_tok_counter_new(&wl, &err),
                   *cb = ed_tok_counter_new(&bp, &err);
    ed_tok_counter_add(cw, "Hello world", 11);
    assert_int_equal(ed_tok_counter_merge(cw, cl, &err), -1);
    assert_non_null(strstr(err.msg, "lowercase"));
    assert_int_equal(ed_tok_counter_merge(cb, cw, &err), -1);
    assert_non_null(strstr(err.msg, "word"));
    assert_null(ed_tok_train_counts(&wl, cw, &err));
    assert_null(ed_tok_train_counts(&bp, cw, &err));
    /* lowercase means nothing to bpe: a bpe counter trains with either */
    ed_tokenizer *t = ed_tok_train_counts(&(ed_tok_options){.kind = ED_TOK_BPE, .vocab_size = 500, .min_freq = 1}, cb,
                                          &err);
    assert_non_null(t);
    ed_tok_free(t);
    /* damaged chunks: a count that runs off the end, a length past the end, a zero count */
    assert_int_equal(ed_tok_counter_unpack(cw, "\x85", 1, &err), -1);
    assert_non_null(strstr(err.msg, "malformed entry at byte 0"));
    assert_int_equal(ed_tok_counter_unpack(cw, "\x01\x05" "ab", 4, &err), -1);
    assert_int_equal(ed_tok_counter_unpack(cw, "\x01\x01" "a" "\x00\x01" "b", 6, &err), -1);
    assert_non_null(strstr(err.msg, "at byte 3"));
    ed_tok_counter_free(cw);
    ed_tok_counter_free(cl);
    ed_tok_counter_free(cb);
    ed_tok_counter_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_any_partition_same_tokenizer),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_counts_and_bytes),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
