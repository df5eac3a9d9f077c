/* test_tokenizer.c — the word tokenizer: splitting, round trips (English, Russian,
 * punctuation, quotes), specials and <UNK>, case folding, vocabulary order and
 * tie-breaking, min_freq, option errors, and the JSON file / blob format. */
#include "tmpfiles.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>

#include "expert/tokenizer.h"

static ed_tokenizer *train(const char *const *texts, size_t n, int vocab_size, int min_freq, int lowercase) {
    size_t lens[64];
    for (size_t i = 0; i < n; i++) lens[i] = strlen(texts[i]);
    ed_tok_options o = {.kind = ED_TOK_WORD, .vocab_size = vocab_size, .min_freq = min_freq, .lowercase = lowercase};
    ed_error err = {{0}};
    ed_tokenizer *t = ed_tok_train(&o, texts, lens, n, &err);
    if (!t) fail_msg("train failed: %s", err.msg);
    return t;
}

static ed_ivec enc(const ed_tokenizer *t, const char *s, int special) {
    ed_ivec v = {0};
    ed_tok_encode(t, s, strlen(s), special, &v);
    return v;
}

/* Encodes then decodes (skip_special) and checks the text comes back byte for byte,
 * with no <UNK> on the way. */
static void assert_round_trip(const ed_tokenizer *t, const char *s) {
    ed_ivec v = enc(t, s, 1);
    assert_true(v.len >= 2);
    assert_int_equal(v.data[0], ED_BOS);
    assert_int_equal(v.data[v.len - 1], ED_EOS);
    for (size_t i = 1; i + 1 < v.len; i++) assert_true(v.data[i] >= ED_NUM_SPECIAL);
    char *d = ed_tok_decode(t, v.data, v.len, 1);
    assert_string_equal(d, s);
    free(d);
    ed_ivec_free(&v);
}

/* The token strings of s, space-joined with '|' between them (for split checks). */
static char *split(const ed_tokenizer *t, const char *s) {
    ed_ivec v = enc(t, s, 0);
    static char out[1024];
    out[0] = '\0';
    for (size_t i = 0; i < v.len; i++) {
        if (i) strcat(out, "|");
        strcat(out, ed_tok_token(t, v.data[i]));
    }
    ed_ivec_free(&v);
    return out;
}

static const char *const english[] = {
    "Hello, world! This is a test.",
    "The quick brown fox (really) jumps over the lazy dog; isn't it?",
    "He said \"yes\" and left... Then: well-known facts, 100% sure [maybe] {or not}.",
    "Rock'n'roll isn't dead - it's 'resting' & $5 @ #1.",
    /* issue 25 item 14: decode wrote "usr / www", "10 : 30", "3. 50" */
    "Try usr/www and/or km/h at 10:30, pay $3.50 (or 1,000 yen) to x_y now!",
};
static const char *const russian[] = {
    "Москва — столица России.",
    "«Привет», — сказал он. Кто-то пришёл из-за угла?",
    "Ёжик в тумане: ну и ну! (Это всё.)",
};

static void test_round_trip_english(void **state) {
    (void)state;
    ed_tokenizer *t = train(english, 5, 1000, 1, 0);
    for (int i = 0; i < 5; i++) assert_round_trip(t, english[i]);
    ed_tok_free(t);
}

static void test_round_trip_russian(void **state) {
    (void)state;
    ed_tokenizer *t = train(russian, 3, 1000, 1, 0);
    for (int i = 0; i < 3; i++) assert_round_trip(t, russian[i]);
    assert_string_equal(split(t, "Кто-то пришёл из-за угла?"), "Кто-то|пришёл|из-за|угла|?");
    ed_tok_free(t);
}

static void test_split_rules(void **state) {
    (void)state;
    const char *texts[] = {"don't 'quoted' well-known a--b -x y- Wait... what?!\t«ёж» 3.14 a\xC2\xA0" "b c\xE2\x80\x8B" "d"};
    ed_tokenizer *t = train(texts, 1, 1000, 1, 0);
    assert_string_equal(split(t, "don't"), "don't");
    assert_string_equal(split(t, "'quoted'"), "'|quoted|'");
    assert_string_equal(split(t, "well-known"), "well-known");
    assert_string_equal(split(t, "a--b"), "a|-|-|b");
    assert_string_equal(split(t, "-x y-"), "-|x|y|-");
    assert_string_equal(split(t, "Wait... what?!"), "Wait|.|.|.|what|?|!");
    assert_string_equal(split(t, "\t«ёж»\n"), "«|ёж|»");
    assert_string_equal(split(t, "3.14"), "3|.|14");
    /* no-break space and zero-width space separate words */
    assert_string_equal(split(t, "a\xC2\xA0" "b c\xE2\x80\x8B" "d"), "a|b|c|d");
    ed_tok_free(t);
}

static void test_specials_and_unk(void **state) {
    (void)state;
    const char *texts[] = {"hello world"};
    ed_tokenizer *t = train(texts, 1, 100, 1, 0);
    assert_int_equal(ed_tok_vocab_size(t), 6);
    assert_string_equal(ed_tok_token(t, ED_PAD), "<PAD>");
    assert_string_equal(ed_tok_token(t, ED_UNK), "<UNK>");
    assert_string_equal(ed_tok_token(t, ED_BOS), "<BOS>");
    assert_string_equal(ed_tok_token(t, ED_EOS), "<EOS>");
    assert_null(ed_tok_token(t, 6));
    assert_null(ed_tok_token(t, -1));
    ed_ivec v = enc(t, "hello there world", 1);
    assert_int_equal(v.len, 5);
    assert_int_equal(v.data[2], ED_UNK);
    char *d = ed_tok_decode(t, v.data, v.len, 1);
    assert_string_equal(d, "hello <UNK> world");
    free(d);
    d = ed_tok_decode(t, v.data, v.len, 0);
    assert_string_equal(d, "<BOS> hello <UNK> world <EOS>");
    free(d);
    int32_t pads[] = {ED_BOS, 4, ED_EOS, ED_PAD, ED_PAD};
    d = ed_tok_decode(t, pads, 5, 1);
    assert_string_equal(d, ed_tok_token(t, 4));
    free(d);
    /* out-of-range ids never crash the decoder */
    int32_t bad[] = {4, 99999, -7};
    d = ed_tok_decode(t, bad, 3, 1);
    assert_non_null(strstr(d, "<UNK>"));
    free(d);
    /* invalid UTF-8 handed to encode directly: a one-byte token, i.e. <UNK> */
    ed_ivec_free(&v);
    v = enc(t, "hello\xFFworld", 0);
    assert_int_equal(v.len, 3);
    assert_int_equal(v.data[1], ED_UNK);
    ed_ivec_free(&v);
    d = ed_tok_decode(t, NULL, 0, 1);
    assert_string_equal(d, "");
    free(d);
    ed_tok_free(t);
}

static void test_case_folding(void **state) {
    (void)state;
    const char *texts[] = {"Hello HELLO hello Привет ПРИВЕТ ÉTÉ"};
    ed_tokenizer *t = train(texts, 1, 100, 1, 1);
    assert_int_equal(ed_tok_vocab_size(t), 7);
    ed_ivec v = enc(t, "HeLLo пРиВеТ été", 0);
    char *d = ed_tok_decode(t, v.data, v.len, 1);
    assert_string_equal(d, "hello привет été");
    free(d);
    ed_ivec_free(&v);
    ed_tok_free(t);
    /* without folding, each spelling is its own word */
    t = train(texts, 1, 100, 1, 0);
    assert_int_equal(ed_tok_vocab_size(t), 4 + 6);
    ed_tok_free(t);
    /* a word longer than the stack scratch buffer folds the same way */
    char *big = malloc(3001), *low = malloc(3001);
    for (int i = 0; i < 3000; i++) big[i] = 'A' + i % 26, low[i] = 'a' + i % 26;
    big[3000] = low[3000] = '\0';
    const char *bt[] = {big};
    t = train(bt, 1, 100, 1, 1);
    assert_string_equal(ed_tok_token(t, 4), low);
    v = enc(t, low, 0);
    assert_int_equal(v.len, 1);
    assert_int_equal(v.data[0], 4);
    ed_ivec_free(&v);
    ed_tok_free(t);
    free(big);
    free(low);
}

static void test_vocab_order(void **state) {
    (void)state;
    /* counts: c 3, a 2, b 2, я 2, z 2, а 2, d 1 -> c first, then ties in byte order */
    const char *texts[] = {"b a c", "я z а", "c d b a", "c я z а"};
    ed_tokenizer *t = train(texts, 4, 100, 1, 0);
    const char *want[] = {"c", "a", "b", "z", "а", "я", "d"};
    assert_int_equal(ed_tok_vocab_size(t), 4 + 7);
    for (int i = 0; i < 7; i++) assert_string_equal(ed_tok_token(t, 4 + i), want[i]);
    size_t l1, l2;
    char *s1 = ed_tok_serialize(t, &l1);
    ed_tok_free(t);
    /* input order does not matter */
    const char *shuffled[] = {"c я z а", "c d b a", "b a c", "я z а"};
    t = train(shuffled, 4, 100, 1, 0);
    char *s2 = ed_tok_serialize(t, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(s1, s2, l1);
    ed_tok_free(t);
    free(s2);
    /* a smaller vocabulary keeps the head of the same order */
    t = train(texts, 4, 7, 1, 0);
    assert_int_equal(ed_tok_vocab_size(t), 7);
    assert_string_equal(ed_tok_token(t, 6), "b");
    ed_tok_free(t);
    /* min_freq drops the words seen once */
    t = train(texts, 4, 100, 2, 0);
    assert_int_equal(ed_tok_vocab_size(t), 4 + 6);
    ed_ivec v = enc(t, "d", 0);
    assert_int_equal(v.data[0], ED_UNK);
    ed_ivec_free(&v);
    ed_tok_free(t);
    free(s1);
}

static void test_bad_options(void **state) {
    (void)state;
    const char *texts[] = {"a b"};
    size_t lens[] = {3};
    ed_error err = {{0}};
    ed_tok_options o = {.kind = ED_TOK_WORD, .vocab_size = 4, .min_freq = 1};
    assert_null(ed_tok_train(&o, texts, lens, 1, &err));
    assert_non_null(strstr(err.msg, "vocab_size"));
    o.vocab_size = 10;
    o.min_freq = 0;
    assert_null(ed_tok_train(&o, texts, lens, 1, &err));
    assert_non_null(strstr(err.msg, "min_freq"));
    o.min_freq = 1;
    o.kind = (ed_tok_kind)7;
    assert_null(ed_tok_train(&o, texts, lens, 1, &err));
    assert_non_null(strstr(err.msg, "kind"));
    /* no texts at all: just the specials */
    o.kind = ED_TOK_WORD;
    ed_tokenizer *t = ed_tok_train(&o, NULL, NULL, 0, &err);
    assert_non_null(t);
    assert_int_equal(ed_tok_vocab_size(t), ED_NUM_SPECIAL);
    ed_tok_free(t);
}

static void test_save_load(void **state) {
    (void)state;
    const char *texts[] = {"«Привет», мир! Hello \"world\" — again."};
    ed_tokenizer *t = train(texts, 1, 100, 1, 1);
    ed_error err = {{0}};
    const char *path = tmp_path("vocab.json");
    assert_int_equal(ed_tok_save(t, path, &err), 0);
    ed_tokenizer *u = ed_tok_load(path, &err);
    if (!u) fail_msg("%s", err.msg);
    assert_int_equal(ed_tok_kind_of(u), ED_TOK_WORD);
    size_t l1, l2;
    char *s1 = ed_tok_serialize(t, &l1), *s2 = ed_tok_serialize(u, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(s1, s2, l1);
    /* the file is that same JSON plus a newline, and has the documented shape */
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    assert_non_null(root);
    assert_string_equal(json_string_value(json_object_get(root, "kind")), "word");
    assert_int_equal(json_integer_value(json_object_get(root, "lowercase")), 1);
    json_t *tokens = json_object_get(root, "tokens");
    assert_int_equal(json_array_size(tokens), (size_t)ed_tok_vocab_size(t));
    for (int i = 0; i < ed_tok_vocab_size(t); i++)
        assert_string_equal(json_string_value(json_array_get(tokens, (size_t)i)), ed_tok_token(t, i));
    json_decref(root);
    /* blob round trip gives the same ids */
    ed_tokenizer *w = ed_tok_deserialize(s1, l1, &err);
    assert_non_null(w);
    ed_ivec a = enc(t, "ПРИВЕТ, Мир и world", 1), b = enc(w, "ПРИВЕТ, Мир и world", 1);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len * sizeof *a.data);
    assert_int_equal(a.data[a.len - 3], ED_UNK); /* "и" was never seen */
    ed_ivec_free(&a);
    ed_ivec_free(&b);
    ed_tok_free(t);
    ed_tok_free(u);
    ed_tok_free(w);
    free(s1);
    free(s2);
}

static void expect_load_error(const char *name, const char *content, const char *needle) {
    const char *p = tmp_write_str(name, content);
    ed_error err = {{0}};
    ed_tokenizer *t = ed_tok_load(p, &err);
    if (t) fail_msg("%s loaded but should not", name);
    if (!strstr(err.msg, p) || !strstr(err.msg, needle)) fail_msg("%s: message \"%s\" lacks \"%s\"", name, err.msg, needle);
}

static void test_bad_files(void **state) {
    (void)state;
    ed_error err = {{0}};
    assert_null(ed_tok_load(tmp_path("missing.json"), &err));
    assert_non_null(strstr(err.msg, "missing.json"));
    assert_null(ed_tok_load(tmp_root, &err));
    assert_non_null(strstr(err.msg, "directory"));
    expect_load_error("bad1.json", "{\"kind\": \"word\",\n \"tokens\": [\n", ":3:");
    expect_load_error("bad2.json", "[1, 2]", "kind");
    expect_load_error("bad3.json", "{\"kind\": \"tiktoken\"}", "tiktoken");
    expect_load_error("bad4.json", "{\"kind\": \"word\"}", "tokens");
    expect_load_error("bad5.json", "{\"kind\": \"word\", \"tokens\": [\"<PAD>\", \"<UNK>\", \"<BOS>\"]}", "tokens");
    expect_load_error("bad6.json", "{\"kind\": \"word\", \"tokens\": [\"<PAD>\", \"<BOS>\", \"<UNK>\", \"<EOS>\"]}", "<UNK>");
    expect_load_error("bad7.json", "{\"kind\": \"word\", \"tokens\": [\"<PAD>\", \"<UNK>\", \"<BOS>\", \"<EOS>\", \"a\", \"a\"]}",
                      "twice");
    expect_load_error("bad8.json", "{\"kind\": \"word\", \"tokens\": [\"<PAD>\", \"<UNK>\", \"<BOS>\", \"<EOS>\", 5]}", "token 4");
    expect_load_error("bad9.json", "{\"kind\": \"word\", \"lowercase\": \"yes\", \"tokens\": []}", "lowercase");
    assert_null(ed_tok_deserialize("{}", 2, &err));
    assert_non_null(strstr(err.msg, "kind"));
}

int main(void) {
    tmp_setup();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_english), cmocka_unit_test(test_round_trip_russian),
        cmocka_unit_test(test_split_rules),        cmocka_unit_test(test_specials_and_unk),
        cmocka_unit_test(test_case_folding),       cmocka_unit_test(test_vocab_order),
        cmocka_unit_test(test_bad_options),        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_bad_files),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tmp_teardown();
    return rc;
}
