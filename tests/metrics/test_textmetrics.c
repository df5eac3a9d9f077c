/* test_textmetrics.c — BLEU and ROUGE on published worked examples and on the edge cases
 * (src/metrics, include/expert/textmetrics.h). The parity with NLTK and an independent
 * ROUGE over a generated corpus is metrics_parity.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <math.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "expert/textmetrics.h"

static void tok13a(const char *s, ed_tm_tokens *t) {
    ed_tm_tokens_clear(t);
    ed_tm_tokenize_13a(s, t);
}

/* The tokens of t joined by '|'. */
static const char *joined(const ed_tm_tokens *t) {
    static char buf[1024];
    buf[0] = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (i) strcat(buf, "|");
        strcat(buf, ed_tm_token(t, i));
    }
    return buf;
}

static void test_13a(void **state) {
    (void)state;
    ed_tm_tokens t = {0};
    tok13a("Hello, world! 3.14 and 1,000 (5-3) don't", &t);
    assert_string_equal(joined(&t), "Hello|,|world|!|3.14|and|1,000|(|5|-|3|)|don't");
    tok13a("a.b end. x,y &amp; &quot;q&quot; &lt;b&gt; <skipped>gone well-\nknown", &t);
    assert_string_equal(joined(&t), "a|.|b|end|.|x|,|y|&|\"|q|\"|<|b|>|gone|wellknown");
    tok13a("  café\u00a0東京\u3000naïve\t😀  ", &t); /* Unicode white space splits, Unicode words stay */
    assert_string_equal(joined(&t), "café|東京|naïve|😀");
    tok13a("", &t);
    assert_int_equal(t.n, 0);
    tok13a(" \t\n ", &t);
    assert_int_equal(t.n, 0);
    ed_tm_tokens_free(&t);
}

static void test_rouge_tokens(void **state) {
    (void)state;
    ed_tm_tokens t = {0};
    ed_tm_tokenize_rouge("The CAT's naïve-café, 42! \u212Aelvin", NULL, &t);
    assert_string_equal(joined(&t), "the|cat|s|na|ve|caf|42|kelvin");
    ed_stemmer *st = ed_stemmer_new();
    ed_tm_tokens_clear(&t);
    /* stemmed only when longer than 3 characters, as rouge-score does: "was" stays */
    ed_tm_tokenize_rouge("Running cats was happily connected", st, &t);
    assert_string_equal(joined(&t), "run|cat|was|happili|connect");
    ed_stemmer_free(st);
    ed_tm_tokens_free(&t);
}

/* NLTK's corpus_bleu docstring example (Papineni et al.'s "guide to action" sentences):
 * 0.5920778868801042 (every precision non-zero: no smoothing involved). */
static void test_bleu_nltk_example(void **state) {
    (void)state;
    const char *hyp[2] = {"It is a guide to action which ensures that the military always obeys the commands of the party",
                          "he read the book because he was interested in world history"};
    const char *refs1[3] = {"It is a guide to action that ensures that the military will forever heed Party commands",
                            "It is the guiding principle which guarantees the military forces always being under the command of the Party",
                            "It is the practical guide for the army always to heed the directions of the party"};
    const char *refs2[1] = {"he was interested in world history because he read the book"};
    ed_bleu_stats sum, st;
    memset(&sum, 0, sizeof sum);
    for (int k = 0; k < 2; k++) {
        ed_tm_tokens h = {0}, r[3] = {{0}};
        int nr = k == 0 ? 3 : 1;
        ed_tm_tokenize_13a(hyp[k], &h);
        for (int i = 0; i < nr; i++) ed_tm_tokenize_13a(k == 0 ? refs1[i] : refs2[i], &r[i]);
        ed_bleu_sentence(&h, r, nr, &st);
        ed_bleu_add(&sum, &st);
        ed_tm_tokens_free(&h);
        for (int i = 0; i < nr; i++) ed_tm_tokens_free(&r[i]);
    }
    ed_bleu_score s;
    ed_bleu_corpus(&sum, &s);
    assert_true(fabs(s.bleu - 0.5920778868801042) < 1e-12);
    assert_int_equal(s.hyp_len, 18 + 11);
    assert_int_equal(s.ref_len, 18 + 11); /* closest: ref1b (18) and ref2a (11) */
    assert_true(s.bp == 1.0);
}

/* Papineni et al. (2002), modified unigram precision: "the the the the the the the"
 * against "the cat is on the mat" / "there is a cat on the mat" is 2/7. */
static void test_bleu_clipping(void **state) {
    (void)state;
    ed_tm_tokens h = {0}, r[2] = {{0}};
    ed_tm_tokenize_13a("the the the the the the the", &h);
    ed_tm_tokenize_13a("the cat is on the mat", &r[0]);
    ed_tm_tokenize_13a("there is a cat on the mat", &r[1]);
    ed_bleu_stats st;
    ed_bleu_sentence(&h, r, 2, &st);
    assert_int_equal(st.match[0], 2);
    assert_int_equal(st.total[0], 7);
    assert_int_equal(st.match[1], 0);
    assert_int_equal(st.total[3], 4);
    assert_int_equal(st.ref_len, 7); /* references of 6 and 7 tokens: 7 is the closest */
    ed_tm_tokens_free(&h);
    ed_tm_tokens_free(&r[0]);
    ed_tm_tokens_free(&r[1]);
}

static void test_bleu_edges(void **state) {
    (void)state;
    ed_tm_tokens h = {0}, r[2] = {{0}};
    ed_tm_tokenize_13a("a b c d e", &r[0]);
    ed_bleu_stats st, sum;
    ed_bleu_score s;
    /* empty hypothesis: no n-grams, bp 0, BLEU 0 */
    ed_bleu_sentence(&h, r, 1, &st);
    for (int n = 0; n < ED_BLEU_N; n++) assert_int_equal(st.total[n], 0);
    assert_int_equal(st.ref_len, 5);
    ed_bleu_corpus(&st, &s);
    assert_true(s.bleu == 0.0 && s.bp == 0.0);
    /* a 2-token hypothesis alone: no 3-grams in the corpus, sacreBLEU's early stop: 0 */
    ed_tm_tokenize_13a("a b", &h);
    ed_bleu_sentence(&h, r, 1, &st);
    assert_int_equal(st.total[2], 0);
    ed_bleu_corpus(&st, &s);
    assert_true(s.bleu == 0.0);
    /* ... but next to a longer one the corpus has 3- and 4-grams: exp smoothing where 0 */
    sum = st;
    ed_tm_tokens_clear(&h);
    ed_tm_tokenize_13a("a b x d e", &h);
    ed_bleu_sentence(&h, r, 1, &st);
    ed_bleu_add(&sum, &st);
    ed_bleu_corpus(&sum, &s);
    /* unigrams 6/7, bigrams 3/5, trigrams 0/3 -> 1/(2*3), 4-grams 0/2 -> 1/(4*2);
     * lengths 7 vs 10: bp = exp(1 - 10/7) */
    double want = exp(1.0 - 10.0 / 7.0) * exp((log(6.0 / 7) + log(3.0 / 5) + log(1.0 / 6) + log(1.0 / 8)) / 4);
    assert_true(fabs(s.bleu - want) < 1e-15);
    /* identical: 1 */
    ed_tm_tokens_clear(&h);
    ed_tm_tokenize_13a("a b c d e", &h);
    ed_bleu_sentence(&h, r, 1, &st);
    ed_bleu_corpus(&st, &s);
    assert_true(fabs(s.bleu - 1.0) < 1e-15);
    /* ties in reference length go to the shorter: 4 and 6 around a 5-token hypothesis */
    ed_tm_tokens_clear(&r[0]);
    ed_tm_tokenize_13a("a b c d x y", &r[0]);
    ed_tm_tokenize_13a("a b c d", &r[1]);
    ed_bleu_sentence(&h, r, 2, &st);
    assert_int_equal(st.ref_len, 4);
    ed_tm_tokens_free(&h);
    ed_tm_tokens_free(&r[0]);
    ed_tm_tokens_free(&r[1]);
}

static ed_prf rouge(const char *hyp, const char *ref, int n) {
    ed_tm_tokens h = {0}, r = {0};
    ed_tm_tokenize_rouge(hyp, NULL, &h);
    ed_tm_tokenize_rouge(ref, NULL, &r);
    ed_prf s = n ? ed_rouge_n(&h, &r, n) : ed_rouge_l(&h, &r);
    ed_tm_tokens_free(&h);
    ed_tm_tokens_free(&r);
    return s;
}

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-15)

/* Lin (2004), section 3.1: reference S1 "police killed the gunman"; S2 "police kill the
 * gunman" has ROUGE-L 3/4, S3 "the gunman kill police" 2/4, while ROUGE-2 cannot tell
 * them apart (one bigram each, "the gunman"). */
static void test_rouge_lin_example(void **state) {
    (void)state;
    const char *s1 = "police killed the gunman";
    ed_prf l2 = rouge("police kill the gunman", s1, 0), l3 = rouge("the gunman kill police", s1, 0);
    NEAR(l2.f, 0.75);
    NEAR(l3.f, 0.5);
    ed_prf b2 = rouge("police kill the gunman", s1, 2), b3 = rouge("the gunman kill police", s1, 2);
    NEAR(b2.r, 1.0 / 3);
    NEAR(b3.r, 1.0 / 3);
    NEAR(rouge("police kill the gunman", s1, 1).f, 0.75);
}

/* rouge-score's own tests: target "testing one two", prediction "testing": ROUGE-1
 * precision 1, recall 1/3, F1 1/2; empty either side: all 0. */
static void test_rouge_score_examples(void **state) {
    (void)state;
    ed_prf s = rouge("testing", "testing one two", 1);
    NEAR(s.p, 1.0);
    NEAR(s.r, 1.0 / 3);
    NEAR(s.f, 0.5);
    s = rouge("", "testing one two", 1);
    assert_true(s.p == 0 && s.r == 0 && s.f == 0);
    s = rouge("testing", "", 0);
    assert_true(s.p == 0 && s.r == 0 && s.f == 0);
    s = rouge("testing one", "testing", 2); /* no bigram in the reference */
    assert_true(s.f == 0);
    /* repeated n-grams are clipped: "a a a" vs "a b": overlap 1 */
    s = rouge("a a a", "a b", 1);
    NEAR(s.p, 1.0 / 3);
    NEAR(s.r, 0.5);
}

static void test_rouge_multi(void **state) {
    (void)state;
    ed_tm_tokens h = {0}, r[2] = {{0}};
    ed_tm_tokenize_rouge("the cat sat", NULL, &h);
    ed_tm_tokenize_rouge("a dog sat", NULL, &r[0]);
    ed_tm_tokenize_rouge("the cat sat down", NULL, &r[1]);
    ed_rouge s;
    ed_rouge_multi(&h, r, 2, &s);
    NEAR(s.r1.f, 2 * 1.0 * 0.75 / 1.75); /* the second reference, for every metric */
    NEAR(s.r2.f, 2 * 1.0 * (2.0 / 3) / (1.0 + 2.0 / 3));
    NEAR(s.rl.f, 2 * 1.0 * 0.75 / 1.75);
    ed_tm_tokens_free(&h);
    ed_tm_tokens_free(&r[0]);
    ed_tm_tokens_free(&r[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_13a),
        cmocka_unit_test(test_rouge_tokens),
        cmocka_unit_test(test_bleu_nltk_example),
        cmocka_unit_test(test_bleu_clipping),
        cmocka_unit_test(test_bleu_edges),
        cmocka_unit_test(test_rouge_lin_example),
        cmocka_unit_test(test_rouge_score_examples),
        cmocka_unit_test(test_rouge_multi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
