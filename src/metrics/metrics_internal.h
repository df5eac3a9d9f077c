/* metrics_internal.h — what bleu.c and rouge.c share: tokens as integer ids and counted
 * n-grams. Private to src/metrics. */
#ifndef ED_METRICS_INTERNAL_H
#define ED_METRICS_INTERNAL_H

#include "expert/textmetrics.h"

/* A token list as ids: equal strings have equal ids within one tm_intern call. */
typedef struct {
    int32_t *ids;
    size_t n;
} tm_seq;

/* Maps the tokens of lists[0..k) to ids; seqs[i].ids is malloc'd (free with tm_seq_free). */
void tm_intern(const ed_tm_tokens *const *lists, int k, tm_seq *seqs);
void tm_seq_free(tm_seq *s, int k);

/* The distinct n-grams (1 <= n <= ED_BLEU_N) of a sequence, sorted, with their counts;
 * unused trailing ids of w are -1. */
typedef struct {
    int32_t w[ED_BLEU_N];
    int64_t count;
} tm_gram;

typedef struct {
    tm_gram *g;
    size_t n;     /* distinct n-grams */
    int64_t total; /* n-grams counted with repeats: max(0, len - n + 1) */
} tm_grams;

void tm_grams_build(const tm_seq *s, int n, tm_grams *out);
void tm_grams_free(tm_grams *g);
/* The count of gram in g (0 if absent). */
int64_t tm_grams_count(const tm_grams *g, const int32_t *gram);

/* The stem of word[0..*len) (lower-case ASCII); *len becomes the stem's length. Valid
 * until the next call on s. */
const char *ed_stemmer_stem(ed_stemmer *s, const char *word, size_t *len);

#endif
