/* cmd_eval_generate.c — `expert-dist eval CKPT REFS.jsonl --generate`: continue every
 * prompt of a references file with the checkpoint's model, spread over the ranks, and
 * report corpus BLEU and ROUGE (include/expert/geneval.h; docs/metrics.md says how each
 * number is computed). */
#include <stdlib.h>
#include <string.h>

#include "expert/checkpoint.h"
#include "expert/commands.h"
#include "expert/geneval.h"
#include "expert/trainer.h"

int ed_eval_generate(const ed_options *in, const ed_dist *d) {
    ed_options o = *in;
    ed_error err = {{0}};
    ed_tokenizer *tok = NULL;
    ed_gpt *m = NULL;
    ed_refs refs = {0};
    int rc = ED_EXIT_FAILURE;
    ed_set_threads(ed_dist_threads(d, o.threads, NULL));

    /* every rank reads the file: a bad line is found everywhere, named once by rank 0 */
    int status = ed_refs_read(o.val_file, &refs, &err);
    if (ed_dist_agree(d, status, &err) != 0) goto out;
    ed_dictated dict = {0}; /* a flag the checkpoint overrules is refused, as in plain eval */
    status = ed_ckpt_load_file(o.checkpoint, ED_CMD_EVAL, &o, NULL, &tok, &m, &dict, &err);
    if (ed_dist_agree(d, status, &err) != 0) {
        if (status != 0 && dict.n_flags > 0) rc = ED_EXIT_USAGE;
        goto out;
    }
    if (dict.n > 0 && d->rank == 0)
        fprintf(stderr, "warning: eval: ignoring the config file's %s (the checkpoint's %s)\n", dict.user, dict.stored);
    /* --gemm auto: the backend fastest at decoding (collective: every rank generates) */
    int window = ed_decoder_window(o.max_length, ed_gpt_config(m)->max_seq_len);
    if (ed_trainer_gemm_auto(m, &o, o.kv_cache ? ED_GEMM_WORK_DECODE : ED_GEMM_WORK_FORWARD, window, d, stdout, &err) != 0)
        goto out;
    /* the predictions file is opened now: a path that cannot be written fails before the work */
    ed_atomic_file pred;
    int have_pred = d->rank == 0 && o.predictions[0];
    status = have_pred ? ed_atomic_open(&pred, o.predictions, "predictions", &err) : 0;
    if (ed_dist_agree(d, status, &err) != 0) {
        if (status == 0 && have_pred) ed_atomic_abort(&pred);
        goto out;
    }

    ed_geneval_options g;
    ed_geneval_options_from(&o, window, &g);
    double t0 = ed_now();
    ed_geneval_result r;
    ed_geneval_run(m, tok, &refs, &g, d, o.predictions[0] != 0, &r);
    double secs = ed_now() - t0;
    status = 0;
    if (have_pred) status = ed_geneval_write_predictions(&pred, &refs, &r, &err);
    if (ed_dist_agree(d, status, &err) == 0) {
        if (d->rank == 0) {
            char how[128] = "greedy";
            if (o.decode == ED_DECODE_SAMPLE)
                snprintf(how, sizeof how, "sampled: temperature %g, top-k %d, top-p %g, seed %llu", (double)o.temperature,
                         o.top_k, (double)o.top_p, (unsigned long long)o.seed);
            printf("eval --generate %s on %s: %d examples, %s, %ld new tokens (max %d each), %.1fs on %d rank%s\n",
                   o.checkpoint, o.val_file, r.n, how, r.new_tokens, o.max_new_tokens, secs, d->world,
                   d->world > 1 ? "s" : "");
            ed_geneval_print(stdout, &r, &o);
            if (o.predictions[0]) printf("  predictions: %s\n", o.predictions);
            fflush(stdout);
        }
        rc = ED_EXIT_OK;
    }
    ed_geneval_result_free(&r);
out:
    if (rc != ED_EXIT_OK && d->rank == 0) fprintf(stderr, "expert-dist: error: %s\n", err.msg);
    if (m) ed_gpt_free(m);
    if (tok) ed_tok_free(tok);
    ed_refs_free(&refs);
    return rc;
}
