/* bleu.c — corpus BLEU-4 as sacreBLEU computes it by default (textmetrics.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "expert/common.h"
#include "metrics_internal.h"

void ed_bleu_sentence(const ed_tm_tokens *hyp, const ed_tm_tokens *refs, int n_refs, ed_bleu_stats *out) {
    ED_CHECK(n_refs >= 1, "BLEU needs at least one reference");
    memset(out, 0, sizeof *out);
    const ed_tm_tokens **lists = ed_malloc((size_t)(n_refs + 1) * sizeof *lists);
    tm_seq *seqs = ed_malloc((size_t)(n_refs + 1) * sizeof *seqs);
    lists[0] = hyp;
    for (int r = 0; r < n_refs; r++) lists[r + 1] = &refs[r];
    tm_intern(lists, n_refs + 1, seqs);

    out->hyp_len = (int64_t)hyp->n;
    /* the closest reference length, the shorter one on ties (sacreBLEU, NLTK, mteval) */
    int64_t best = -1;
    for (int r = 0; r < n_refs; r++) {
        int64_t len = (int64_t)refs[r].n, d = llabs(len - out->hyp_len), bd = llabs(best - out->hyp_len);
        if (best < 0 || d < bd || (d == bd && len < best)) best = len;
    }
    out->ref_len = best;

    tm_grams *rg = ed_malloc((size_t)n_refs * sizeof *rg);
    for (int n = 1; n <= ED_BLEU_N; n++) {
        tm_grams hg;
        tm_grams_build(&seqs[0], n, &hg);
        for (int r = 0; r < n_refs; r++) tm_grams_build(&seqs[r + 1], n, &rg[r]);
        out->total[n - 1] = hg.total;
        for (size_t i = 0; i < hg.n; i++) {
            int64_t most = 0; /* clipped to the largest count in any one reference */
            for (int r = 0; r < n_refs; r++) {
                int64_t c = tm_grams_count(&rg[r], hg.g[i].w);
                if (c > most) most = c;
            }
            out->match[n - 1] += hg.g[i].count < most ? hg.g[i].count : most;
        }
        tm_grams_free(&hg);
        for (int r = 0; r < n_refs; r++) tm_grams_free(&rg[r]);
    }
    free(rg);
    tm_seq_free(seqs, n_refs + 1);
    free(seqs);
    free(lists);
}

void ed_bleu_add(ed_bleu_stats *sum, const ed_bleu_stats *x) {
    for (int n = 0; n < ED_BLEU_N; n++) {
        sum->match[n] += x->match[n];
        sum->total[n] += x->total[n];
    }
    sum->hyp_len += x->hyp_len;
    sum->ref_len += x->ref_len;
}

void ed_bleu_corpus(const ed_bleu_stats *s, ed_bleu_score *out) {
    memset(out, 0, sizeof *out);
    out->hyp_len = s->hyp_len;
    out->ref_len = s->ref_len;
    out->bp = s->hyp_len > s->ref_len ? 1.0 : s->hyp_len == 0 ? 0.0 : exp(1.0 - (double)s->ref_len / (double)s->hyp_len);
    for (int n = 0; n < ED_BLEU_N; n++) /* unsmoothed, for the report; smoothed below */
        out->precision[n] = s->total[n] ? (double)s->match[n] / (double)s->total[n] : 0.0;
    if (s->match[0] == 0) return; /* no unigram matches: 0 (NLTK and sacreBLEU alike) */
    double log_sum = 0.0, k = 1.0;
    for (int n = 0; n < ED_BLEU_N; n++) {
        /* no n-grams of this order in the whole corpus: sacreBLEU stops with precision 0 */
        if (s->total[n] == 0) return;
        double p;
        if (s->match[n] == 0) {
            k *= 2.0; /* `exp` smoothing: 1/2, 1/4, ... of one n-gram's share */
            p = 1.0 / (k * (double)s->total[n]);
        } else {
            p = (double)s->match[n] / (double)s->total[n];
        }
        out->precision[n] = p;
        log_sum += log(p);
    }
    out->bleu = out->bp * exp(log_sum / ED_BLEU_N);
}
