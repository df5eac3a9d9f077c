/* test_corpus.c — the bundled corpus (scripts/make_corpus.sh, run into the build tree by
 * the data_make_corpus fixture): every file loads, .txt and .jsonl hold the same
 * documents, train and validation are disjoint with a ~5% split, and the word tokenizer
 * handles the whole of it: decode(encode(x)) re-encodes to the same ids for every
 * document, English and Russian. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "expert/dataset.h"

static char dir[1024];

static void load(const char *name, ed_docs *d) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ed_error err = {{0}};
    if (ed_docs_read(path, NULL, d, &err) != 0) fail_msg("%s", err.msg);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void check_language(const char *lang) {
    char name[64];
    ed_docs txt[2], jsonl[2];
    const char *part[2] = {"train", "val"};
    for (int p = 0; p < 2; p++) {
        snprintf(name, sizeof name, "%s-%s.txt", lang, part[p]);
        load(name, &txt[p]);
        snprintf(name, sizeof name, "%s-%s.jsonl", lang, part[p]);
        load(name, &jsonl[p]);
        assert_int_equal(txt[p].n, jsonl[p].n);
        for (size_t i = 0; i < txt[p].n; i++) {
            if (strcmp(txt[p].text[i], jsonl[p].text[i]) != 0)
                fail_msg("%s %s doc %zu: .txt and .jsonl differ:\n%s\n---\n%s", lang, part[p], i, txt[p].text[i],
                         jsonl[p].text[i]);
            /* .jsonl documents are one per line, in the same order */
            assert_int_equal(jsonl[p].line[i], (long)i + 1);
        }
    }
    size_t ntr = txt[0].n, nva = txt[1].n;
    assert_true(ntr > 1000);
    /* about 5% validation */
    double frac = (double)nva / (double)(ntr + nva);
    if (frac < 0.03 || frac > 0.07) fail_msg("%s: validation fraction %.3f", lang, frac);
    /* no document in both parts (and none twice within a part) */
    char **all = malloc((ntr + nva) * sizeof *all);
    memcpy(all, txt[0].text, ntr * sizeof *all);
    memcpy(all + ntr, txt[1].text, nva * sizeof *all);
    qsort(all, ntr + nva, sizeof *all, cmp_str);
    for (size_t i = 1; i < ntr + nva; i++)
        if (strcmp(all[i - 1], all[i]) == 0) fail_msg("%s: duplicate document:\n%s", lang, all[i]);
    free(all);

    /* a full vocabulary: every training word is known, so ids must survive a text round trip */
    ed_tok_options o = {.kind = ED_TOK_WORD, .vocab_size = 1 << 30, .min_freq = 1};
    ed_error err;
    ed_tokenizer *tok = ed_tok_train(&o, (const char *const *)txt[0].text, txt[0].len, ntr, &err);
    assert_non_null(tok);
    ed_ivec a = {0}, b = {0};
    for (size_t i = 0; i < ntr; i++) {
        a.len = b.len = 0;
        ed_tok_encode(tok, txt[0].text[i], txt[0].len[i], 0, &a);
        char *s = ed_tok_decode(tok, a.data, a.len, 1);
        ed_tok_encode(tok, s, strlen(s), 0, &b);
        if (a.len != b.len || memcmp(a.data, b.data, a.len * sizeof *a.data) != 0)
            fail_msg("%s doc %zu does not round-trip:\n%s\n---\n%s", lang, i, txt[0].text[i], s);
        for (size_t k = 0; k < a.len; k++) assert_true(a.data[k] != ED_UNK);
        free(s);
    }
    ed_tok_free(tok);

    /* the default 10000-word vocabulary covers most of the unseen validation text */
    o.vocab_size = 10000;
    tok = ed_tok_train(&o, (const char *const *)txt[0].text, txt[0].len, ntr, &err);
    assert_int_equal(ed_tok_vocab_size(tok), 10000);
    ed_dataset ds;
    ed_window_options wo = {.max_length = 128, .stride = 64};
    assert_int_equal(ed_dataset_build(&ds, &txt[1], tok, &wo, &err), 0);
    assert_true(ds.n_windows >= nva);
    size_t unk = 0, words = 0;
    for (size_t i = 0; i < ds.n_tokens; i++) {
        if (ds.tokens[i] >= ED_NUM_SPECIAL || ds.tokens[i] == ED_UNK) words++;
        unk += ds.tokens[i] == ED_UNK;
    }
    double rate = (double)unk / (double)words;
    print_message("%s: %zu train / %zu val documents, %zu val tokens, <UNK> rate %.3f\n", lang, ntr, nva,
                  ds.n_tokens, rate);
    assert_true(rate < 0.25); /* a broken split or lookup would give far more */
    ed_dataset_free(&ds);
    ed_tok_free(tok);
    ed_ivec_free(&a);
    ed_ivec_free(&b);
    for (int p = 0; p < 2; p++) {
        ed_docs_free(&txt[p]);
        ed_docs_free(&jsonl[p]);
    }
}

static void test_english(void **state) {
    (void)state;
    check_language("fortunes");
}

static void test_russian(void **state) {
    (void)state;
    check_language("fortunes-ru");
}

int main(void) {
    const char *bin = getenv("ED_CORPUS_DIR");
    if (!bin) {
        fprintf(stderr, "test_corpus: set ED_CORPUS_DIR (ctest does: the output of scripts/make_corpus.sh)\n");
        return 1;
    }
    snprintf(dir, sizeof dir, "%s", bin);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_english), cmocka_unit_test(test_russian)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
