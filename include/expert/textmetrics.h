/* textmetrics.h — BLEU and ROUGE, the text-overlap scores of generated text against
 * references (src/metrics/). Pure functions over strings and token lists: no MPI, no
 * files, no global state; every result depends on its arguments only.
 *
 * Each number is defined to match the tool people compare with (docs/metrics.md says it
 * in prose; tests/metrics proves it against NLTK and an independent ROUGE):
 *
 *   BLEU    sacreBLEU's corpus BLEU-4 with its defaults: `13a` tokenization (the mteval
 *           v13a rules, case kept), clipped n-gram matches and the hypothesis' n-gram
 *           counts summed over the corpus before dividing, brevity penalty from the sum
 *           of closest reference lengths (ties: the shorter), `exp` smoothing (mteval's
 *           and NLTK's method3: the k-th precision with no match becomes 1 / (2^k x its
 *           n-gram count)). Equal to NLTK's corpus_bleu(..., method3) on the same
 *           tokens, except that a hypothesis shorter than n adds 0 n-grams here (as in
 *           sacreBLEU and mteval) where NLTK adds 1.
 *   ROUGE   Google's rouge-score with its defaults: tokens = lower-cased text with every
 *           character outside [a-z0-9] a separator; ROUGE-N from clipped n-gram overlap,
 *           ROUGE-L from the longest common subsequence; each as precision, recall and
 *           F1 = 2PR / (P + R); with several references, per metric the reference with
 *           the highest F1 (score_multi). Optional stemming of tokens longer than 3
 *           characters (Snowball's Porter stemmer, libstemmer). The corpus figure is the
 *           mean of the per-example F1.
 *
 * Text is UTF-8 (the callers validate it); results are fractions in [0, 1]. */
#ifndef EXPERT_TEXTMETRICS_H
#define EXPERT_TEXTMETRICS_H

#include <stddef.h>
#include <stdint.h>

/* ---- token lists ---------------------------------------------------------------------- */

/* A list of n tokens: token i is the NUL-terminated string text + start[i]. Owns its
 * buffers; zero-initialise, fill with a tokenizer, ed_tm_tokens_free. */
typedef struct {
    char *text;
    size_t len, cap;   /* bytes used / allocated in text */
    size_t *start;
    size_t n, ncap;
} ed_tm_tokens;

void ed_tm_tokens_free(ed_tm_tokens *t);
/* Empties the list, keeping its buffers. */
void ed_tm_tokens_clear(ed_tm_tokens *t);
/* Appends s[0..n) as one token. */
void ed_tm_tokens_push(ed_tm_tokens *t, const char *s, size_t n);
static inline const char *ed_tm_token(const ed_tm_tokens *t, size_t i) { return t->text + t->start[i]; }

/* sacreBLEU's `13a` tokenizer (its Tokenizer13a + TokenizerRegexp, applied by code
 * rather than regular expressions): drops "<skipped>" and "-\n", turns newlines into
 * spaces, unescapes &quot; &amp; &lt; &gt;, splits off the punctuation and symbols of
 * ASCII except ' (and . , - by their own rules: a period or comma unless between digits,
 * a dash after a digit), then splits at Unicode white space as Python's str.split().
 * Case is kept. Appends to out. */
void ed_tm_tokenize_13a(const char *text, ed_tm_tokens *out);

/* Snowball's Porter stemmer (libstemmer's "porter" algorithm: Porter's original, as
 * NLTK's PorterStemmer(ORIGINAL_ALGORITHM)); one per thread (libstemmer keeps state in it). */
typedef struct ed_stemmer ed_stemmer;
ed_stemmer *ed_stemmer_new(void);
void ed_stemmer_free(ed_stemmer *s);

/* rouge-score's tokenizer: lower case (Unicode simple mapping), every character outside
 * [a-z0-9] a separator, and, when stem is not NULL, tokens longer than 3 characters
 * stemmed. Appends to out. */
void ed_tm_tokenize_rouge(const char *text, ed_stemmer *stem, ed_tm_tokens *out);

/* ---- BLEU ----------------------------------------------------------------------------- */

#define ED_BLEU_N 4

/* What one hypothesis adds to the corpus sums: integers, so any grouping of the sums
 * (ranks, batches) gives the same corpus BLEU exactly. */
typedef struct {
    int64_t match[ED_BLEU_N]; /* n-grams of the hypothesis found in a reference, each clipped to
                                 its largest count in any one reference */
    int64_t total[ED_BLEU_N]; /* n-grams in the hypothesis: max(0, len - n + 1) */
    int64_t hyp_len;          /* tokens of the hypothesis */
    int64_t ref_len;          /* tokens of the reference closest in length (ties: the shorter) */
} ed_bleu_stats;

/* The statistics of hyp against refs[0..n_refs) (n_refs >= 1). */
void ed_bleu_sentence(const ed_tm_tokens *hyp, const ed_tm_tokens *refs, int n_refs, ed_bleu_stats *out);
/* sum += x */
void ed_bleu_add(ed_bleu_stats *sum, const ed_bleu_stats *x);

typedef struct {
    double bleu;                    /* [0, 1] */
    double precision[ED_BLEU_N];    /* the n-gram precisions BLEU used (smoothed); the raw
                                       ratios when BLEU is 0 by an early stop */
    double bp;                      /* brevity penalty */
    int64_t hyp_len, ref_len;
} ed_bleu_score;

/* Corpus BLEU-4 from summed statistics: 0 when no unigram matches (or no n-grams of some
 * order at all, sacreBLEU's early stop); else bp x exp(mean log precision_n) with the
 * `exp` smoothing above; bp = 1 if hyp_len > ref_len, 0 if hyp_len = 0, else
 * exp(1 - ref_len / hyp_len). */
void ed_bleu_corpus(const ed_bleu_stats *sum, ed_bleu_score *out);

/* ---- ROUGE ------------------------------------------------------------------------------ */

typedef struct {
    double p, r, f; /* precision, recall, F1; all 0 when either side has no n-gram */
} ed_prf;

typedef struct {
    ed_prf r1, r2, rl;
} ed_rouge;

/* ROUGE-N (n >= 1): overlap = sum over n-grams of min(count in hyp, count in ref);
 * P = overlap / hyp n-grams, R = overlap / ref n-grams. */
ed_prf ed_rouge_n(const ed_tm_tokens *hyp, const ed_tm_tokens *ref, int n);
/* ROUGE-L: l = length of the longest common subsequence; P = l / |hyp|, R = l / |ref|. */
ed_prf ed_rouge_l(const ed_tm_tokens *hyp, const ed_tm_tokens *ref);
/* ROUGE-1, -2, -L of hyp against refs[0..n_refs) (n_refs >= 1): for each metric the
 * scores of the reference with the highest F1 (the first one on ties). */
void ed_rouge_multi(const ed_tm_tokens *hyp, const ed_tm_tokens *refs, int n_refs, ed_rouge *out);

#endif
