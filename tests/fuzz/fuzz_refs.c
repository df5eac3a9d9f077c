/* fuzz_refs.c — the references file of eval --generate (src/geneval/refs_file.c) and the
 * text metrics on whatever it accepts (src/metrics): each example's prompt is scored as
 * the hypothesis against its references, with stemming when the first byte is odd.
 * Properties: no crash; errors name the file; 13a tokens are non-empty and hold no white
 * space; ROUGE tokens are [a-z0-9]+; BLEU counts are clipped (match <= total) with
 * total = max(0, len - n + 1); every score is in [0, 1]. */
#include "expert/geneval.h"
#include "expert/textmetrics.h"
#include "fuzz_util.h"

static void check_scores(const ed_tm_tokens *hyp, const ed_bleu_stats *st, const ed_rouge *r) {
    for (int n = 0; n < ED_BLEU_N; n++) {
        int64_t want = (int64_t)hyp->n >= n + 1 ? (int64_t)hyp->n - n : 0;
        FUZZ_CHECK(st->total[n] == want, "%d-gram total %lld for %zu tokens", n + 1, (long long)st->total[n], hyp->n);
        FUZZ_CHECK(st->match[n] >= 0 && st->match[n] <= st->total[n], "%d-gram matches %lld of %lld", n + 1,
                   (long long)st->match[n], (long long)st->total[n]);
    }
    const ed_prf *s[3] = {&r->r1, &r->r2, &r->rl};
    for (int k = 0; k < 3; k++)
        FUZZ_CHECK(s[k]->p >= 0 && s[k]->p <= 1 && s[k]->r >= 0 && s[k]->r <= 1 && s[k]->f >= 0 && s[k]->f <= 1,
                   "ROUGE %d out of [0, 1]: %g %g %g", k, s[k]->p, s[k]->r, s[k]->f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *path = fuzz_write_tmp(".jsonl", data + 1, size - 1);
    ed_refs refs;
    ed_error err = {{0}};
    if (ed_refs_read(path, &refs, &err) != 0) {
        FUZZ_CHECK(strncmp(err.msg, path, strlen(path)) == 0, "message does not name the file: %s", err.msg);
        return 0;
    }
    ed_stemmer *stem = data[0] & 1 ? ed_stemmer_new() : NULL;
    ed_bleu_stats sum;
    memset(&sum, 0, sizeof sum);
    for (int i = 0; i < refs.n; i++) {
        const ed_ref_example *ex = &refs.ex[i];
        FUZZ_CHECK(ex->prompt[0] && ex->n_refs >= 1, "example %d accepted without prompt or reference", i);
        ed_tm_tokens hyp = {0}, rhyp = {0}, *br = calloc((size_t)ex->n_refs, sizeof *br),
                     *rr = calloc((size_t)ex->n_refs, sizeof *rr);
        ed_tm_tokenize_13a(ex->prompt, &hyp);
        ed_tm_tokenize_rouge(ex->prompt, stem, &rhyp);
        for (size_t t = 0; t < hyp.n; t++) {
            const char *w = ed_tm_token(&hyp, t);
            FUZZ_CHECK(w[0] && !strpbrk(w, " \t\n\r\v\f"), "13a token %zu is empty or holds white space", t);
        }
        for (size_t t = 0; t < rhyp.n; t++)
            for (const char *w = ed_tm_token(&rhyp, t); *w; w++)
                FUZZ_CHECK((*w >= 'a' && *w <= 'z') || (*w >= '0' && *w <= '9'), "ROUGE token with byte 0x%02x",
                           (unsigned char)*w);
        for (int k = 0; k < ex->n_refs; k++) {
            ed_tm_tokenize_13a(ex->refs[k], &br[k]);
            ed_tm_tokenize_rouge(ex->refs[k], stem, &rr[k]);
        }
        ed_bleu_stats st;
        ed_rouge r;
        ed_bleu_sentence(&hyp, br, ex->n_refs, &st);
        ed_rouge_multi(&rhyp, rr, ex->n_refs, &r);
        check_scores(&hyp, &st, &r);
        ed_bleu_add(&sum, &st);
        ed_tm_tokens_free(&hyp);
        ed_tm_tokens_free(&rhyp);
        for (int k = 0; k < ex->n_refs; k++) {
            ed_tm_tokens_free(&br[k]);
            ed_tm_tokens_free(&rr[k]);
        }
        free(br);
        free(rr);
    }
    ed_bleu_score b;
    ed_bleu_corpus(&sum, &b);
    FUZZ_CHECK(b.bleu >= 0 && b.bleu <= 1 + 1e-12 && b.bp >= 0 && b.bp <= 1, "corpus BLEU %g, bp %g", b.bleu, b.bp);
    ed_stemmer_free(stem);
    ed_refs_free(&refs);
    return 0;
}
