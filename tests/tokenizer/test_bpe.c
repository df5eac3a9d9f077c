/* test_bpe.c — byte-level BPE: merges learned on hand-computed examples, determinism,
 * decode(encode(x)) == x on random valid UTF-8 and Russian/English text, invalid bytes,
 * long pieces (heap merge == rescan merge), JSON save/load/serialize, GPT-2's
 * vocab.json + merges.txt, and clear errors for bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "bpe_internal.h"
#include "expert/rng.h"
#include "expert/tokenizer.h"
#include "tok_internal.h"

static char tmpdir[64];

static uint32_t rng_u32(ed_rng *r) { return (uint32_t)(ed_rng_u64(r) >> 32); }

static const char *tmp_file(const char *name, const char *content) {
    static char paths[4][256];
    static int k;
    char *p = paths[k++ % 4];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    if (content) {
        FILE *f = fopen(p, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
        assert_int_equal(fclose(f), 0);
    }
    return p;
}

static ed_tokenizer *train_n(const char *const *texts, size_t n, int vocab_size) {
    size_t *lens = malloc(n * sizeof *lens);
    for (size_t i = 0; i < n; i++) lens[i] = strlen(texts[i]);
    ed_tok_options o = {.kind = ED_TOK_BPE, .vocab_size = vocab_size, .min_freq = 1};
    ed_error err = {{0}};
    ed_tokenizer *t = ed_tok_train(&o, texts, lens, n, &err);
    free(lens);
    if (!t) fail_msg("train failed: %s", err.msg);
    return t;
}

/* "tok|tok|tok" of the token strings encoding s. */
static char *pieces(const ed_tokenizer *t, const char *s) {
    static char out[4096];
    ed_ivec v = {0};
    ed_tok_encode(t, s, strlen(s), 0, &v);
    out[0] = '\0';
    for (size_t i = 0; i < v.len; i++) {
        if (i) strcat(out, "|");
        strcat(out, ed_tok_token(t, v.data[i]));
    }
    ed_ivec_free(&v);
    return out;
}

static void assert_round_trip_n(const ed_tokenizer *t, const char *s, size_t n) {
    ed_ivec v = {0};
    ed_tok_encode(t, s, n, 1, &v);
    int32_t bos = ed_tok_role_id(t, ED_ROLE_BOS), eos = ed_tok_role_id(t, ED_ROLE_EOS);
    assert_int_equal(v.data[0], bos);
    assert_int_equal(v.data[v.len - 1], eos);
    for (size_t i = 1; i + 1 < v.len; i++) {
        for (int r = 0; r < ED_NUM_ROLES; r++) /* never <UNK> or another special */
            assert_int_not_equal(v.data[i], ed_tok_role_id(t, (ed_tok_role)r));
        assert_true(v.data[i] >= 0 && v.data[i] < ed_tok_vocab_size(t));
    }
    char *d = ed_tok_decode(t, v.data, v.len, 1);
    assert_int_equal(strlen(d), n);
    assert_memory_equal(d, s, n);
    free(d);
    ed_ivec_free(&v);
}
#define assert_round_trip(t, s) assert_round_trip_n((t), (s), strlen(s))

static const char *merge_str(const ed_tokenizer *t, int r) {
    static char buf[256];
    const ed_bpe *b = t->impl;
    snprintf(buf, sizeof buf, "%s %s", ed_tok_token(t, b->merges[3 * r]), ed_tok_token(t, b->merges[3 * r + 1]));
    return buf;
}

/* Worked by hand (see the comment in each step): the classic one-word example. */
static void test_hand_single_word(void **state) {
    (void)state;
    const char *texts[] = {"aaabdaaabac"};
    ed_tokenizer *t = train_n(texts, 1, 1000);
    const ed_bpe *b = t->impl;
    /* pairs: aa 4, ab 2, bd 1, da 1, ba 1, ac 1      -> merge "a a"
     * aa a b d aa a b a c: aa-a 2, a-b 2, ...       -> tie at 2: left "a" < "aa" -> "a b"
     * aa ab d aa ab a c: aa-ab 2, others 1          -> "aa ab"; then every pair is seen once: stop */
    assert_int_equal(b->n_merges, 3);
    assert_string_equal(merge_str(t, 0), "a a");
    assert_string_equal(merge_str(t, 1), "a b");
    assert_string_equal(merge_str(t, 2), "aa ab");
    assert_int_equal(ed_tok_vocab_size(t), 263);
    assert_string_equal(pieces(t, "aaabdaaabac"), "aaab|d|aaab|a|c");
    assert_int_equal(b->byte_id['a'], ED_NUM_SPECIAL + 'a'); /* byte b is id 4+b */
    ed_tok_free(t);
}

/* Several words: pre-tokenization keeps the leading space on words ('Ġ'). */
static void test_hand_words(void **state) {
    (void)state;
    const char *texts[] = {"hug hug hug pug pun bun"};
    ed_tokenizer *t = train_n(texts, 1, 1000);
    const ed_bpe *b = t->impl;
    /* words: hug 1, Ġhug 2, Ġpug 1, Ġpun 1, Ġbun 1
     * u-g 4 h-u 3 Ġ-h 2 Ġ-p 2 p-u 2 u-n 2 Ġ-b 1 b-u 1       -> "u g"
     * h-ug 3 Ġ-h 2 Ġ-p 2 u-n 2 ...                            -> "h ug"
     * Ġ-hug 2 Ġ-p 2 u-n 2: left Ġ (0x20) < u; right "hug" < "p" -> "Ġ hug"
     * Ġ-p 2 u-n 2                                              -> "Ġ p"
     * u-n 2                                                    -> "u n"; the rest are seen once */
    assert_int_equal(b->n_merges, 5);
    const char *want[] = {"u g", "h ug", "Ġ hug", "Ġ p", "u n"};
    for (int r = 0; r < 5; r++) assert_string_equal(merge_str(t, r), want[r]);
    assert_string_equal(pieces(t, "hug pun bug"), "hug|Ġp|un|Ġ|b|ug");
    assert_string_equal(pieces(t, " hug"), "Ġhug");
    /* vocab_size caps the merges */
    ed_tokenizer *t2 = train_n(texts, 1, 262);
    assert_int_equal(ed_tok_vocab_size(t2), 262);
    assert_int_equal(((const ed_bpe *)t2->impl)->n_merges, 2);
    assert_string_equal(pieces(t2, " hug"), "Ġ|hug");
    ed_tok_free(t2);
    ed_tok_free(t);
}

/* ---- corpus for the bigger tests: generated, English and Russian ------------------- */

static const char *const en_words[] = {"the", "cat", "sat", "on", "mat", "and", "then", "they", "went", "home",
                                       "it's", "don't", "we'll", "42", "1999", "hello", "world", "again"};
static const char *const ru_words[] = {"кот", "сидел", "на", "ковре", "и", "потом", "они", "пошли", "домой",
                                       "Привет", "мир", "снова", "Ёлка", "ещё", "съешь", "этих", "мягких"};
static const char *const punct[] = {",", ".", "!", "?", " —", ":", ";", "...", " (", ")", "\n", "  ", "\t"};

static char *gen_text(ed_rng *r, int words) {
    size_t cap = (size_t)words * 24 + 16, n = 0;
    char *s = malloc(cap);
    for (int i = 0; i < words; i++) {
        uint32_t k = rng_u32(r);
        const char *w = (k & 1) ? en_words[(k >> 1) % 18] : ru_words[(k >> 1) % 17];
        n += (size_t)sprintf(s + n, "%s%s", i ? " " : "", w);
        if ((k >> 8) % 5 == 0) n += (size_t)sprintf(s + n, "%s", punct[(k >> 12) % 13]);
    }
    s[n] = '\0';
    return s;
}

static ed_tokenizer *train_corpus(int vocab, uint64_t seed, char ***out_texts, size_t *out_n) {
    ed_rng r;
    ed_rng_seed(&r, seed, 0);
    size_t n = 60;
    char **texts = malloc(n * sizeof *texts);
    for (size_t i = 0; i < n; i++) texts[i] = gen_text(&r, 80);
    ed_tokenizer *t = train_n((const char *const *)texts, n, vocab);
    if (out_texts) {
        *out_texts = texts;
        *out_n = n;
    } else {
        for (size_t i = 0; i < n; i++) free(texts[i]);
        free(texts);
    }
    return t;
}

static void free_texts(char **texts, size_t n) {
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts);
}

static void test_determinism(void **state) {
    (void)state;
    ed_tokenizer *a = train_corpus(600, 7, NULL, NULL), *b = train_corpus(600, 7, NULL, NULL);
    size_t la, lb;
    char *sa = ed_tok_serialize(a, &la), *sb = ed_tok_serialize(b, &lb);
    assert_true(ed_tok_vocab_size(a) > 300); /* it learned something */
    assert_int_equal(la, lb);
    assert_memory_equal(sa, sb, la);
    /* a different corpus gives a different table (the test can fail) */
    ed_tokenizer *c = train_corpus(600, 8, NULL, NULL);
    size_t lc;
    char *sc = ed_tok_serialize(c, &lc);
    assert_true(lc != la || memcmp(sa, sc, la) != 0);
    free(sa), free(sb), free(sc);
    ed_tok_free(a), ed_tok_free(b), ed_tok_free(c);
}

static void count_word(void *c, const char *s, size_t len) {
    wt_table *m = c;
    int32_t k = wt_put(m, s, len, 0, NULL);
    m->value[k]++;
}

static void test_merge_counts_consistent(void **state) {
    /* Every learned merge must be the best pair of a from-scratch recount at its step:
     * replay the merges on the distinct words with the slow O(corpus) algorithm. */
    (void)state;
    char **texts;
    size_t n;
    ed_tokenizer *t = train_corpus(700, 11, &texts, &n);
    const ed_bpe *b = t->impl;
    wt_table words;
    wt_init(&words);
    for (size_t i = 0; i < n; i++) bpe_pretok_each(&b->pre, texts[i], strlen(texts[i]), count_word, &words);
    size_t nw = words.n;
    int32_t **sym = malloc(nw * sizeof *sym);
    size_t *len = malloc(nw * sizeof *len), total = 0;
    for (size_t w = 0; w < nw; w++) total += words.len[w];
    for (size_t w = 0; w < nw; w++) {
        len[w] = words.len[w];
        sym[w] = malloc(len[w] * sizeof **sym);
        for (size_t i = 0; i < len[w]; i++) sym[w][i] = b->byte_id[(unsigned char)wt_str(&words, w)[i]];
    }
    for (int r = 0; r < b->n_merges; r++) {
        int32_t l = b->merges[3 * r], rr = b->merges[3 * r + 1], res = b->merges[3 * r + 2];
        int64_t best = 0, mine;
        /* slow recount of every pair */
        bpe_umap cnt;
        bpe_umap_init(&cnt, 1024);
        int64_t *vals = calloc(total + 1, sizeof *vals);
        int32_t nvals = 0;
        for (size_t w = 0; w < nw; w++)
            for (size_t i = 0; i + 1 < len[w]; i++) {
                int32_t *slot = bpe_umap_put(&cnt, bpe_pair_key(sym[w][i], sym[w][i + 1]), nvals);
                if (*slot == nvals) nvals++;
                vals[*slot] += words.value[w];
            }
        for (int32_t k = 0; k < nvals; k++)
            if (vals[k] > best) best = vals[k];
        int32_t me = bpe_umap_get(&cnt, bpe_pair_key(l, rr));
        assert_true(me >= 0);
        mine = vals[me];
        assert_int_equal(mine, best);
        free(vals);
        bpe_umap_free(&cnt);
        for (size_t w = 0; w < nw; w++) {
            size_t j = 0;
            for (size_t i = 0; i < len[w];) {
                if (i + 1 < len[w] && sym[w][i] == l && sym[w][i + 1] == rr) sym[w][j++] = res, i += 2;
                else sym[w][j++] = sym[w][i++];
            }
            len[w] = j;
        }
    }
    for (size_t w = 0; w < nw; w++) free(sym[w]);
    free(sym), free(len);
    wt_free(&words);
    free_texts(texts, n);
    ed_tok_free(t);
}

/* ---- round trips ------------------------------------------------------------------ */

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) return o[0] = (char)cp, 1;
    if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000)
        return o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
               o[2] = (char)(0x80 | (cp & 0x3F)), 3;
    return o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
           o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F)), 4;
}

/* A random valid code point, biased to the interesting classes. */
static uint32_t rand_cp(ed_rng *r) {
    uint32_t k = rng_u32(r);
    switch (k % 10) {
    case 0: return 1 + (k >> 8) % 127;                     /* any ASCII incl. controls */
    case 1: return " \t\n\r\v\f'"[(k >> 8) % 7];           /* whitespace and the apostrophe */
    case 2: return 0x410 + (k >> 8) % 0x50;                /* Cyrillic */
    case 3: return 0x300 + (k >> 8) % 0x70;                /* combining marks */
    case 4: return 0x80 + (k >> 8) % 0x780;                /* 2-byte range */
    case 5: {                                              /* 3-byte, no surrogates */
        uint32_t c = 0x800 + (k >> 8) % (0x10000 - 0x800);
        return c >= 0xD800 && c <= 0xDFFF ? 0x3000 : c;   /* 0x3000: ideographic space */
    }
    case 6: return 0x10000 + (k >> 8) % 0x100000;          /* 4-byte */
    case 7: return 0x1F600 + (k >> 8) % 0x50;              /* emoji */
    default: return 'a' + (k >> 8) % 26;
    }
}

static void test_round_trip_random(void **state) {
    (void)state;
    ed_tokenizer *t = train_corpus(800, 3, NULL, NULL);
    ed_rng r;
    ed_rng_seed(&r, 12345, 0);
    char buf[4 * 200 + 1];
    for (int iter = 0; iter < 3000; iter++) {
        int ncp = (int)(rng_u32(&r) % 200);
        size_t n = 0;
        for (int i = 0; i < ncp; i++) n += put_utf8(buf + n, rand_cp(&r));
        buf[n] = '\0';
        assert_round_trip_n(t, buf, n);
    }
    ed_tok_free(t);
}

static void test_round_trip_text(void **state) {
    (void)state;
    char **texts;
    size_t n;
    ed_tokenizer *t = train_corpus(800, 5, &texts, &n);
    for (size_t i = 0; i < n; i++) assert_round_trip(t, texts[i]);
    const char *samples[] = {
        "Съешь же ещё этих мягких французских булок, да выпей чаю.",
        "The quick brown fox — isn't it? We'll see... 3.14159, 2026-11-25!",
        "  leading spaces, trailing spaces   ",
        "\n\n\ttabs\tand\nnewlines\r\n",
        "emoji 😀🚀 and CJK 漢字 and Ünïcödé",
        "",
    };
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) assert_round_trip(t, samples[i]);
    /* Known pieces of the GPT-2 split: contractions, space-prefixed words, numbers. */
    ed_tokenizer *bytes_only = train_n((const char *const[]){"x"}, 1, 260);
    assert_string_equal(pieces(bytes_only, "it's"), "i|t|'|s");
    ed_tok_free(bytes_only);
    /* a corpus of real text, when the data teammate's files are around */
    const char *src = getenv("ED_SOURCE_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/data/fortunes-ru-train.txt", src ? src : ".");
    char *data;
    size_t len;
    ed_error err;
    if (ed_read_file(path, &data, &len, &err) == 0) {
        size_t cut = bpe_utf8_valid_prefix((const unsigned char *)data, len < 200000 ? len : 200000);
        assert_round_trip_n(t, data, cut);
        free(data);
    }
    free_texts(texts, n);
    ed_tok_free(t);
}

static void test_invalid_bytes(void **state) {
    /* Datasets validate UTF-8 first, but encode must not crash or emit <UNK> on junk,
     * and decode must always return valid UTF-8 (U+FFFD for stray bytes). */
    (void)state;
    ed_tokenizer *t = train_corpus(400, 9, NULL, NULL);
    const char junk[] = "ok \xff\xfe bad \xc3 cut \xe2\x82 end \xed\xa0\x80 surrogate";
    ed_ivec v = {0};
    ed_tok_encode(t, junk, sizeof junk - 1, 0, &v);
    for (size_t i = 0; i < v.len; i++) assert_true(v.data[i] >= ED_NUM_SPECIAL);
    char *d = ed_tok_decode(t, v.data, v.len, 0);
    assert_int_equal(bpe_utf8_valid_prefix((const unsigned char *)d, strlen(d)), strlen(d));
    assert_non_null(strstr(d, "ok \xEF\xBF\xBD\xEF\xBF\xBD bad \xEF\xBF\xBD cut"));
    free(d);
    /* specials print their names unless skipped; out-of-range ids print <UNK> */
    int32_t ids[] = {ED_BOS, ED_NUM_SPECIAL + 'h', ED_NUM_SPECIAL + 'i', ED_EOS, 999999};
    d = ed_tok_decode(t, ids, 5, 0);
    assert_string_equal(d, "<BOS>hi<EOS><UNK>");
    free(d);
    d = ed_tok_decode(t, ids, 4, 1);
    assert_string_equal(d, "hi");
    free(d);
    ed_ivec_free(&v);
    ed_tok_free(t);
}

/* GPT-2's bpe() loop, written the plain way: find the lowest-ranked adjacent pair, merge
 * every occurrence left to right, repeat. The reference the fast merges must match. */
static size_t reference_merge(const ed_bpe *b, int32_t *ids, size_t n) {
    for (;;) {
        int32_t best = -1;
        for (size_t i = 0; i + 1 < n; i++)
            for (int r = 0; r < b->n_merges; r++)
                if (b->merges[3 * r] == ids[i] && b->merges[3 * r + 1] == ids[i + 1] && (best < 0 || r < best)) best = r;
        if (best < 0) return n;
        size_t j = 0;
        for (size_t i = 0; i < n;) {
            if (i + 1 < n && ids[i] == b->merges[3 * best] && ids[i + 1] == b->merges[3 * best + 1]) {
                ids[j++] = b->merges[3 * best + 2];
                i += 2;
            } else {
                ids[j++] = ids[i++];
            }
        }
        n = j;
    }
}

static void test_merge_vs_reference(void **state) {
    (void)state;
    char **texts;
    size_t n;
    ed_tokenizer *t = train_corpus(500, 31, &texts, &n);
    const ed_bpe *b = t->impl;
    ed_rng r;
    ed_rng_seed(&r, 5, 0);
    for (int iter = 0; iter < 400; iter++) {
        /* a random slice of the corpus (real words and their neighbours), as one piece */
        const char *src = texts[rng_u32(&r) % n];
        size_t sl = strlen(src), at = rng_u32(&r) % sl, len = 1 + rng_u32(&r) % 40;
        if (at + len > sl) len = sl - at;
        int32_t x[64], y[64], z[64];
        for (size_t i = 0; i < len; i++) x[i] = y[i] = z[i] = b->byte_id[(unsigned char)src[at + i]];
        size_t nx = reference_merge(b, x, len), ny = bpe_merge_simple(b, y, len), nz = bpe_merge_heap(b, z, len);
        assert_int_equal(nx, ny);
        assert_int_equal(nx, nz);
        assert_memory_equal(x, y, nx * sizeof *x);
        assert_memory_equal(x, z, nx * sizeof *x);
    }
    free_texts(texts, n);
    ed_tok_free(t);
}

static void test_long_pieces(void **state) {
    /* Pieces of >= 128 bytes take the heap merge; it must agree with the rescan merge. */
    (void)state;
    const char *texts[] = {"aaaa bbbb abab aaaa ==== ---- abba baab aab aba", "aaaaaaaa ======== abababab"};
    ed_tokenizer *t = train_n(texts, 2, 300);
    const ed_bpe *b = t->impl;
    ed_rng r;
    ed_rng_seed(&r, 99, 0);
    for (int iter = 0; iter < 200; iter++) {
        size_t n = 1 + rng_u32(&r) % 600;
        int32_t *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        int mode = iter % 3;
        for (size_t i = 0; i < n; i++) {
            char c = mode == 0 ? "ab"[rng_u32(&r) % 2] : mode == 1 ? 'a' : "=ab"[rng_u32(&r) % 3];
            x[i] = y[i] = b->byte_id[(unsigned char)c];
        }
        size_t nx = bpe_merge_simple(b, x, n), ny = bpe_merge_heap(b, y, n);
        assert_int_equal(nx, ny);
        assert_memory_equal(x, y, nx * sizeof *x);
        free(x), free(y);
    }
    /* and through encode: one 100 kB piece round-trips (and finishes quickly) */
    size_t big = 100000;
    char *s = malloc(big + 1);
    memset(s, '=', big);
    s[big] = '\0';
    assert_round_trip_n(t, s, big);
    free(s);
    ed_tok_free(t);
}

/* ---- files ---------------------------------------------------------------------------- */

static void test_json_round_trip(void **state) {
    (void)state;
    char **texts;
    size_t n;
    ed_tokenizer *t = train_corpus(700, 21, &texts, &n);
    ed_error err = {{0}};
    const char *path = tmp_file("bpe.json", NULL);
    assert_int_equal(ed_tok_save(t, path, &err), 0);
    ed_tokenizer *u = ed_tok_load(path, &err);
    if (!u) fail_msg("%s", err.msg);
    assert_int_equal(ed_tok_kind_of(u), ED_TOK_BPE);
    assert_int_equal(ed_tok_vocab_size(u), ed_tok_vocab_size(t));
    size_t la, lb;
    char *sa = ed_tok_serialize(t, &la), *sb = ed_tok_serialize(u, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(sa, sb, la);
    assert_non_null(strstr(sa, "\"kind\": \"bpe\""));
    ed_tokenizer *w = ed_tok_deserialize(sa, la, &err);
    if (!w) fail_msg("%s", err.msg);
    for (size_t i = 0; i < n; i++) {
        ed_ivec a = {0}, b = {0}, c = {0};
        ed_tok_encode(t, texts[i], strlen(texts[i]), 1, &a);
        ed_tok_encode(u, texts[i], strlen(texts[i]), 1, &b);
        ed_tok_encode(w, texts[i], strlen(texts[i]), 1, &c);
        assert_int_equal(a.len, b.len);
        assert_int_equal(a.len, c.len);
        assert_memory_equal(a.data, b.data, a.len * sizeof *a.data);
        assert_memory_equal(a.data, c.data, a.len * sizeof *a.data);
        ed_ivec_free(&a), ed_ivec_free(&b), ed_ivec_free(&c);
    }
    for (int id = 0; id < ed_tok_vocab_size(t); id++) assert_string_equal(ed_tok_token(t, id), ed_tok_token(u, id));
    assert_null(ed_tok_token(t, ed_tok_vocab_size(t)));
    free(sa), free(sb);
    free_texts(texts, n);
    ed_tok_free(t), ed_tok_free(u), ed_tok_free(w);
}

/* Builds a minimal bpe JSON with the 256 byte tokens plus extra, for the error cases. */
static char *mini_json(const char *extra_vocab, const char *merges, const char *first) {
    size_t cap = 1 << 16, n = 0;
    char *s = malloc(cap);
    n += (size_t)sprintf(s + n, "{\"kind\": \"bpe\", \"vocab\": [%s, \"<UNK>\", \"<BOS>\", \"<EOS>\"", first);
    for (int c = 0; c < 256; c++) {
        unsigned char byte = (unsigned char)c;
        char *tok = NULL;
        size_t tc = 0;
        bpe_bytes_to_str(&byte, 1, &tok, &tc, 0);
        json_t *js = json_string(tok);
        char *enc = json_dumps(js, JSON_ENCODE_ANY);
        n += (size_t)sprintf(s + n, ", %s", enc);
        free(enc);
        json_decref(js);
        free(tok);
    }
    n += (size_t)sprintf(s + n, "%s], \"merges\": [%s]}", extra_vocab, merges);
    return s;
}

static void expect_load_error(const char *json, const char *fragment) {
    ed_error err = {{0}};
    const char *path = tmp_file("bad.json", json);
    ed_tokenizer *t = ed_tok_load(path, &err);
    if (t) fail_msg("expected an error containing '%s'", fragment);
    if (!strstr(err.msg, fragment)) fail_msg("error '%s' lacks '%s'", err.msg, fragment);
    if (!strstr(err.msg, path)) fail_msg("error '%s' does not name the file", err.msg);
}

static void test_bad_json(void **state) {
    (void)state;
    char *ok = mini_json(", \"ab\"", "\"a b\"", "\"<PAD>\"");
    ed_error err = {{0}};
    ed_tokenizer *t = ed_tok_load(tmp_file("ok.json", ok), &err);
    if (!t) fail_msg("%s", err.msg);
    assert_string_equal(pieces(t, "abc"), "ab|c");
    ed_tok_free(t);
    free(ok);
    char *s;
    expect_load_error(s = mini_json(", \"ab\"", "\"a c\"", "\"<PAD>\""), "not in the vocabulary"), free(s);
    expect_load_error(s = mini_json(", \"ab\"", "\"a zz\"", "\"<PAD>\""), "uses a token not in vocab"), free(s);
    expect_load_error(s = mini_json(", \"ab\"", "\"ab\"", "\"<PAD>\""), "two tokens separated by one space"), free(s);
    expect_load_error(s = mini_json(", \"a\"", "", "\"<PAD>\""), "duplicates"), free(s);
    expect_load_error(s = mini_json(", \"a b\"", "", "\"<PAD>\""), "alphabet"), free(s);
    expect_load_error(s = mini_json("", "", "\"<X>\""), "expected \"<PAD>\""), free(s);
    expect_load_error("{\"kind\": \"bpe\", \"vocab\": 3, \"merges\": []}", "\"vocab\" must be an array");
    expect_load_error("{\"kind\": \"bpe\", \"vocab\": [\"<PAD>\", \"<UNK>\", \"<BOS>\", \"<EOS>\"], \"merges\": []}",
                      "260");
}

static void test_gpt2_files(void **state) {
    (void)state;
    ed_error err = {{0}};
    ed_tokenizer *t = ed_tok_load_gpt2(ED_BPE_TEST_DATA "/vocab.json", ED_BPE_TEST_DATA "/merges.txt", &err);
    if (!t) fail_msg("%s", err.msg);
    assert_int_equal(ed_tok_kind_of(t), ED_TOK_HF);
    /* 256 bytes + 26 merges + <|endoftext|> in GPT-2 ids 0..282, kept as they are */
    assert_int_equal(ed_tok_vocab_size(t), 283);
    ed_ivec v = {0};
    const char *s = " the and in м!";
    ed_tok_encode(t, s, strlen(s), 0, &v);
    /* GPT-2 ids: "Ġthe" 258, "Ġand" 262, "Ġ" 220 (as in the real GPT-2), "in" 260, "ĠÐ¼" 264,
     * "!" 0 */
    int32_t want[] = {258, 262, 220, 260, 264, 0};
    assert_int_equal(v.len, 6);
    assert_memory_equal(v.data, want, sizeof want);
    assert_string_equal(pieces(t, " the and"), "Ġthe|Ġand");
    /* <|endoftext|> (282) plays BOS and EOS; there is no PAD or UNK */
    assert_int_equal(ed_tok_role_id(t, ED_ROLE_EOS), 282);
    assert_int_equal(ed_tok_role_id(t, ED_ROLE_BOS), 282);
    assert_int_equal(ed_tok_role_id(t, ED_ROLE_PAD), -1);
    assert_string_equal(ed_tok_token(t, 282), "<|endoftext|>");
    char *d = ed_tok_decode(t, v.data, v.len, 1);
    assert_string_equal(d, s);
    free(d);
    ed_ivec_free(&v);
    assert_round_trip(t, "Съешь же ещё этих мягких булок 😀");
    /* our JSON keeps the same table */
    size_t len;
    char *js = ed_tok_serialize(t, &len);
    ed_tokenizer *u = ed_tok_deserialize(js, len, &err);
    if (!u) fail_msg("%s", err.msg);
    assert_string_equal(pieces(u, " the and in м!"), pieces(t, " the and in м!"));
    free(js);
    ed_tok_free(u);
    ed_tok_free(t);

    /* bad files name file:line */
    const char *vocab = ED_BPE_TEST_DATA "/vocab.json";
    const char *m = tmp_file("merges.txt", "#version: 0.2\nĠ t\nh e e\n");
    t = ed_tok_load_gpt2(vocab, m, &err);
    assert_null(t);
    assert_non_null(strstr(err.msg, "merges.txt:3:"));
    m = tmp_file("merges.txt", "#version: 0.2\nĠ t\nq zz\n");
    assert_null(ed_tok_load_gpt2(vocab, m, &err));
    assert_non_null(strstr(err.msg, "merges.txt:3: merge uses a token that is not in vocab.json"));
    assert_null(ed_tok_load_gpt2(tmp_file("v.json", "[1, 2]"), m, &err));
    assert_non_null(strstr(err.msg, "v.json:1:"));
    assert_null(ed_tok_load_gpt2(tmp_file("v.json", "{\"a\": 5}"), m, &err));
    assert_non_null(strstr(err.msg, "v.json: token \"a\""));
    assert_null(ed_tok_load_gpt2(tmp_file("v.json", "{\"a\": 0, "), m, &err));
    assert_non_null(strstr(err.msg, "v.json:1:"));
    assert_null(ed_tok_load_gpt2(vocab, tmp_file("none", NULL), &err));
    assert_non_null(strstr(err.msg, "none: cannot open"));
}

static void test_options(void **state) {
    (void)state;
    ed_tok_options o = {.kind = ED_TOK_BPE, .vocab_size = 100, .min_freq = 1};
    const char *texts[] = {"x"};
    size_t lens[] = {1};
    ed_error err = {{0}};
    assert_null(ed_tok_train(&o, texts, lens, 1, &err));
    assert_non_null(strstr(err.msg, "vocab_size 100 is too small"));
    /* no texts: the 260 base tokens, and still a working tokenizer */
    o.vocab_size = 1000;
    ed_tokenizer *t = ed_tok_train(&o, texts, lens, 0, &err);
    assert_non_null(t);
    assert_int_equal(ed_tok_vocab_size(t), 260);
    assert_round_trip(t, "anything at all, привет");
    ed_tok_free(t);
    /* min_freq raises the bar for a merge */
    const char *hug[] = {"hug hug hug pug pun bun"};
    size_t hl[] = {strlen(hug[0])};
    o.min_freq = 3;
    t = ed_tok_train(&o, hug, hl, 1, &err);
    assert_int_equal(((const ed_bpe *)t->impl)->n_merges, 2); /* "u g" 4, "h ug" 3 */
    ed_tok_free(t);
}

static int setup(void **state) {
    (void)state;
    strcpy(tmpdir, "/tmp/ed-bpe-test-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_single_word),
        cmocka_unit_test(test_hand_words),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_merge_counts_consistent),
        cmocka_unit_test(test_round_trip_random),
        cmocka_unit_test(test_round_trip_text),
        cmocka_unit_test(test_invalid_bytes),
        cmocka_unit_test(test_merge_vs_reference),
        cmocka_unit_test(test_long_pieces),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_gpt2_files),
        cmocka_unit_test(test_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
