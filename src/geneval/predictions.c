/* predictions.c — `eval --generate --predictions OUT.jsonl`: one line per example
 * (geneval.h), written atomically by rank 0. Scores are on the 0-100 scale the eval line
 * prints; the BLEU statistics are the integers the corpus score sums. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "expert/geneval.h"

static json_t *prf_json(ed_prf s) {
    return json_pack("{s:f, s:f, s:f}", "p", 100.0 * s.p, "r", 100.0 * s.r, "f", 100.0 * s.f);
}

static json_t *ints(const int64_t *v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer((json_int_t)v[i]));
    return a;
}

int ed_geneval_write_predictions(ed_atomic_file *f, const ed_refs *refs, const ed_geneval_result *r, ed_error *err) {
    ED_CHECK(r->items && r->n == refs->n, "predictions: the result holds no items for %d examples", refs->n);
    for (int i = 0; i < refs->n; i++) {
        const ed_ref_example *ex = &refs->ex[i];
        const ed_geneval_item *it = &r->items[i];
        json_t *rs = json_array();
        for (int k = 0; k < ex->n_refs; k++) json_array_append_new(rs, json_string(ex->refs[k]));
        json_t *stats = json_pack("{s:o, s:o, s:I, s:I}", "match", ints(it->bleu.match, ED_BLEU_N), "total",
                                  ints(it->bleu.total, ED_BLEU_N), "hyp_len", (json_int_t)it->bleu.hyp_len,
                                  "ref_len", (json_int_t)it->bleu.ref_len);
        json_t *row = json_pack("{s:I, s:s, s:s, s:o, s:i, s:f, s:o, s:o, s:o, s:o}", "line", (json_int_t)ex->line,
                                "prompt", ex->prompt, "generated", it->text, "references", rs, "new_tokens",
                                it->new_tokens, "bleu", 100.0 * ed_geneval_item_bleu(it), "bleu_stats", stats,
                                "rouge1", prf_json(it->rouge.r1), "rouge2", prf_json(it->rouge.r2), "rougeL",
                                prf_json(it->rouge.rl));
        ED_CHECK(row, "predictions: cannot build the JSON row of example %d", i);
        char *s = json_dumps(row, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
        json_decref(row);
        ED_CHECK(s, "predictions: cannot format the JSON row of example %d", i);
        int rc = ed_atomic_write(f, s, strlen(s), err);
        if (rc == 0) rc = ed_atomic_write(f, "\n", 1, err);
        free(s);
        if (rc != 0) return -1; /* ed_atomic_write removed the .tmp */
    }
    return ed_atomic_commit(f, err);
}
