/* ngrams.c — tokens as ids and counted n-grams, shared by BLEU and ROUGE. */
#include <stdlib.h>
#include <string.h>

#include "expert/common.h"
#include "metrics_internal.h"

typedef struct {
    const char *s;
    int list;
    size_t idx;
} tm_ref;

static int by_text(const void *a, const void *b) {
    return strcmp(((const tm_ref *)a)->s, ((const tm_ref *)b)->s);
}

void tm_intern(const ed_tm_tokens *const *lists, int k, tm_seq *seqs) {
    size_t total = 0;
    for (int i = 0; i < k; i++) total += lists[i]->n;
    tm_ref *all = ed_malloc((total ? total : 1) * sizeof *all);
    size_t m = 0;
    for (int i = 0; i < k; i++) {
        seqs[i].n = lists[i]->n;
        seqs[i].ids = ed_malloc((lists[i]->n ? lists[i]->n : 1) * sizeof(int32_t));
        for (size_t j = 0; j < lists[i]->n; j++) all[m++] = (tm_ref){ed_tm_token(lists[i], j), i, j};
    }
    qsort(all, m, sizeof *all, by_text);
    int32_t id = -1;
    for (size_t j = 0; j < m; j++) {
        if (j == 0 || strcmp(all[j].s, all[j - 1].s) != 0) id++;
        seqs[all[j].list].ids[all[j].idx] = id;
    }
    free(all);
}

void tm_seq_free(tm_seq *s, int k) {
    for (int i = 0; i < k; i++) free(s[i].ids);
}

static int gram_cmp(const int32_t *a, const int32_t *b) {
    for (int i = 0; i < ED_BLEU_N; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
}

static int by_gram(const void *a, const void *b) {
    return gram_cmp(((const tm_gram *)a)->w, ((const tm_gram *)b)->w);
}

void tm_grams_build(const tm_seq *s, int n, tm_grams *out) {
    ED_CHECK(n >= 1 && n <= ED_BLEU_N, "n-gram order %d outside [1, %d]", n, ED_BLEU_N);
    size_t m = s->n >= (size_t)n ? s->n - (size_t)n + 1 : 0;
    out->g = ed_malloc((m ? m : 1) * sizeof *out->g);
    out->total = (int64_t)m;
    for (size_t i = 0; i < m; i++) {
        tm_gram *g = &out->g[i];
        for (int j = 0; j < ED_BLEU_N; j++) g->w[j] = j < n ? s->ids[i + (size_t)j] : -1;
        g->count = 1;
    }
    qsort(out->g, m, sizeof *out->g, by_gram);
    size_t d = 0; /* merge equal neighbours */
    for (size_t i = 0; i < m; i++) {
        if (d > 0 && gram_cmp(out->g[d - 1].w, out->g[i].w) == 0)
            out->g[d - 1].count++;
        else
            out->g[d++] = out->g[i];
    }
    out->n = d;
}

void tm_grams_free(tm_grams *g) {
    free(g->g);
    g->g = NULL;
    g->n = 0;
}

int64_t tm_grams_count(const tm_grams *g, const int32_t *gram) {
    size_t lo = 0, hi = g->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = gram_cmp(g->g[mid].w, gram);
        if (c == 0) return g->g[mid].count;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}
