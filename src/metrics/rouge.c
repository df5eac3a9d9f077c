/* rouge.c — ROUGE-N and ROUGE-L F1 as Google's rouge-score computes them (textmetrics.h). */
#include <stdlib.h>

#include "expert/common.h"
#include "metrics_internal.h"

static ed_prf prf(int64_t overlap, int64_t hyp_total, int64_t ref_total) {
    ed_prf s = {0, 0, 0};
    if (hyp_total == 0 || ref_total == 0) return s;
    s.p = (double)overlap / (double)hyp_total;
    s.r = (double)overlap / (double)ref_total;
    s.f = s.p + s.r > 0 ? 2.0 * s.p * s.r / (s.p + s.r) : 0.0;
    return s;
}

static ed_prf rouge_n_ids(const tm_seq *h, const tm_seq *r, int n) {
    tm_grams hg, rg;
    tm_grams_build(h, n, &hg);
    tm_grams_build(r, n, &rg);
    int64_t overlap = 0;
    for (size_t i = 0; i < hg.n; i++) {
        int64_t c = tm_grams_count(&rg, hg.g[i].w);
        overlap += c < hg.g[i].count ? c : hg.g[i].count;
    }
    ed_prf s = prf(overlap, hg.total, rg.total);
    tm_grams_free(&hg);
    tm_grams_free(&rg);
    return s;
}

/* Length of the longest common subsequence: the textbook dynamic program, two rows. */
static int64_t lcs(const tm_seq *a, const tm_seq *b) {
    if (a->n == 0 || b->n == 0) return 0;
    int64_t *prev = ed_calloc(b->n + 1, sizeof *prev), *cur = ed_calloc(b->n + 1, sizeof *cur);
    for (size_t i = 1; i <= a->n; i++) {
        for (size_t j = 1; j <= b->n; j++) {
            if (a->ids[i - 1] == b->ids[j - 1])
                cur[j] = prev[j - 1] + 1;
            else
                cur[j] = prev[j] > cur[j - 1] ? prev[j] : cur[j - 1];
        }
        int64_t *t = prev;
        prev = cur;
        cur = t;
    }
    int64_t l = prev[b->n];
    free(prev);
    free(cur);
    return l;
}

static void intern2(const ed_tm_tokens *hyp, const ed_tm_tokens *ref, tm_seq *seqs) {
    const ed_tm_tokens *lists[2] = {hyp, ref};
    tm_intern(lists, 2, seqs);
}

ed_prf ed_rouge_n(const ed_tm_tokens *hyp, const ed_tm_tokens *ref, int n) {
    tm_seq seqs[2];
    intern2(hyp, ref, seqs);
    ed_prf s = rouge_n_ids(&seqs[0], &seqs[1], n);
    tm_seq_free(seqs, 2);
    return s;
}

ed_prf ed_rouge_l(const ed_tm_tokens *hyp, const ed_tm_tokens *ref) {
    tm_seq seqs[2];
    intern2(hyp, ref, seqs);
    ed_prf s = prf(lcs(&seqs[0], &seqs[1]), (int64_t)seqs[0].n, (int64_t)seqs[1].n);
    tm_seq_free(seqs, 2);
    return s;
}

void ed_rouge_multi(const ed_tm_tokens *hyp, const ed_tm_tokens *refs, int n_refs, ed_rouge *out) {
    ED_CHECK(n_refs >= 1, "ROUGE needs at least one reference");
    for (int r = 0; r < n_refs; r++) {
        tm_seq seqs[2];
        intern2(hyp, &refs[r], seqs);
        ed_rouge s = {rouge_n_ids(&seqs[0], &seqs[1], 1), rouge_n_ids(&seqs[0], &seqs[1], 2),
                      prf(lcs(&seqs[0], &seqs[1]), (int64_t)seqs[0].n, (int64_t)seqs[1].n)};
        tm_seq_free(seqs, 2);
        /* per metric, the reference with the highest F1; the first on ties (Python's max) */
        if (r == 0 || s.r1.f > out->r1.f) out->r1 = s.r1;
        if (r == 0 || s.r2.f > out->r2.f) out->r2 = s.r2;
        if (r == 0 || s.rl.f > out->rl.f) out->rl = s.rl;
    }
}
