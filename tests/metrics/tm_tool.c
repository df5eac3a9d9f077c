/* tm_tool.c — the metric functions as a filter, for tests/metrics/metrics_parity.py:
 *   tm_tool [--stem] < IN.jsonl > OUT.jsonl
 * IN: one {"hyp": str, "refs": [str, ...]} per line. OUT: per line {"bleu_hyp": tokens,
 * "bleu_refs": [tokens...], "rouge_hyp", "rouge_refs", "stats": {match, total, hyp_len,
 * ref_len}, "rouge": [[p, r, f] x 3 for ROUGE-1/2/L], "sentence_bleu"}, then one last line
 * {"corpus_bleu": x, "precision": [...], "bp": x} over all inputs. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expert/textmetrics.h"

static json_t *tokens_json(const ed_tm_tokens *t) {
    json_t *a = json_array();
    for (size_t i = 0; i < t->n; i++) json_array_append_new(a, json_string(ed_tm_token(t, i)));
    return a;
}

static json_t *ints(const int64_t *v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(v[i]));
    return a;
}

static json_t *prf(ed_prf s) { return json_pack("[f, f, f]", s.p, s.r, s.f); }

int main(int argc, char **argv) {
    int stem_on = argc > 1 && strcmp(argv[1], "--stem") == 0;
    ed_stemmer *stem = stem_on ? ed_stemmer_new() : NULL;
    ed_bleu_stats sum;
    memset(&sum, 0, sizeof sum);
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, stdin)) > 0) {
        json_error_t je;
        json_t *in = json_loadb(line, (size_t)got, 0, &je);
        if (!in) {
            fprintf(stderr, "tm_tool: bad input line: %s\n", je.text);
            return 1;
        }
        const char *hyp = json_string_value(json_object_get(in, "hyp"));
        json_t *refs = json_object_get(in, "refs");
        int k = (int)json_array_size(refs);
        ed_tm_tokens bh = {0}, rh = {0};
        ed_tm_tokens *br = calloc((size_t)k, sizeof *br), *rr = calloc((size_t)k, sizeof *rr);
        ed_tm_tokenize_13a(hyp, &bh);
        ed_tm_tokenize_rouge(hyp, stem, &rh);
        json_t *jbr = json_array(), *jrr = json_array();
        for (int i = 0; i < k; i++) {
            const char *r = json_string_value(json_array_get(refs, (size_t)i));
            ed_tm_tokenize_13a(r, &br[i]);
            ed_tm_tokenize_rouge(r, stem, &rr[i]);
            json_array_append_new(jbr, tokens_json(&br[i]));
            json_array_append_new(jrr, tokens_json(&rr[i]));
        }
        ed_bleu_stats st;
        ed_bleu_sentence(&bh, br, k, &st);
        ed_bleu_add(&sum, &st);
        ed_bleu_score one;
        ed_bleu_corpus(&st, &one);
        ed_rouge ro;
        ed_rouge_multi(&rh, rr, k, &ro);
        json_t *out = json_pack("{s:o, s:o, s:o, s:o, s:{s:o, s:o, s:I, s:I}, s:[o, o, o], s:f}", "bleu_hyp",
                                tokens_json(&bh), "bleu_refs", jbr, "rouge_hyp", tokens_json(&rh), "rouge_refs", jrr,
                                "stats", "match", ints(st.match, ED_BLEU_N), "total", ints(st.total, ED_BLEU_N),
                                "hyp_len", (json_int_t)st.hyp_len, "ref_len", (json_int_t)st.ref_len, "rouge",
                                prf(ro.r1), prf(ro.r2), prf(ro.rl), "sentence_bleu", one.bleu);
        char *s = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(17));
        puts(s);
        free(s);
        json_decref(out);
        json_decref(in);
        ed_tm_tokens_free(&bh);
        ed_tm_tokens_free(&rh);
        for (int i = 0; i < k; i++) {
            ed_tm_tokens_free(&br[i]);
            ed_tm_tokens_free(&rr[i]);
        }
        free(br);
        free(rr);
    }
    free(line);
    ed_stemmer_free(stem);
    ed_bleu_score c;
    ed_bleu_corpus(&sum, &c);
    json_t *last = json_pack("{s:f, s:[f, f, f, f], s:f}", "corpus_bleu", c.bleu, "precision", c.precision[0],
                             c.precision[1], c.precision[2], c.precision[3], "bp", c.bp);
    char *s = json_dumps(last, JSON_COMPACT | JSON_REAL_PRECISION(17));
    puts(s);
    free(s);
    json_decref(last);
    return 0;
}
