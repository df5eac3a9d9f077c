/* cmd_eval.c — `expert-dist eval`: a checkpoint's loss, perplexity and token accuracy on a
 * text file, sharded over the ranks exactly like validation during training. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expert/checkpoint.h"
#include "expert/commands.h"
#include "expert/tokenizer.h"
#include "expert/trainer.h"

int ed_eval(const ed_options *in, const ed_dist *d) {
    if (in->generate) return ed_eval_generate(in, d);
    ed_options o = *in;
    ed_error err = {{0}};
    ed_tokenizer *tok = NULL;
    ed_docs docs = {0};
    ed_dataset ds = {0};
    ed_gpt *m = NULL;
    int rc = ED_EXIT_FAILURE, have_ds = 0;
    ed_set_threads(ed_dist_threads(d, o.threads, NULL));

    /* the model, its windows and tokenizer from the checkpoint, the rest from the flags;
     * a flag the checkpoint overrules is refused (every rank reads the same file, so
     * every rank sees the same refusal) */
    ed_dictated dict = {0};
    int status = ed_ckpt_load_file(o.checkpoint, ED_CMD_EVAL, &o, NULL, &tok, &m, &dict, &err);
    if (ed_dist_agree(d, status, &err) != 0) {
        if (status != 0 && dict.n_flags > 0) rc = ED_EXIT_USAGE;
        goto out;
    }
    if (dict.n > 0 && d->rank == 0)
        fprintf(stderr, "warning: eval: ignoring the config file's %s (the checkpoint's %s)\n", dict.user, dict.stored);
    /* as the trainer; set before --gemm auto measures, so it times what the run executes */
    ed_gpt_set_varying_rows(m, ed_row_layout_of(&o) == ED_ROWS_PACKED);
    /* --gemm auto: the backend fastest at evaluation's forward products (collective) */
    if (ed_trainer_gemm_auto(m, &o, ED_GEMM_WORK_FORWARD, o.batch_size * (o.max_length - 1), d, stdout, &err) != 0)
        goto out;
    ed_read_options ro = {.text_field = o.text_field, .skip_bad_lines = o.skip_bad_lines,
                          .format = o.format};
    status = ed_docs_read_inputs(o.val_file, &ro, &docs, &err);
    if (status == 0 && d->rank == 0) ed_docs_warn_skipped(docs.skipped, docs.first_bad);
    if (status == 0) {
        ed_window_options wo = {.max_length = o.max_length, .stride = o.stride, .pack = o.pack,
                                .loss_on = o.loss_on, .truncate = o.truncate};
        status = ed_dataset_build(&ds, &docs, tok, &wo, &err);
        have_ds = status == 0;
    }
    ed_docs_free(&docs);
    if (ed_dist_agree(d, status, &err) != 0) goto out;

    ed_sampler s;
    ed_sampler_init(&s, ds.n_windows, o.batch_size, 1, d->rank, d->world, o.seed, 0);
    ed_sampler_set_layout(&s, &ds, ed_row_layout_of(&o));
    ed_batch b;
    ed_batch_init(&b, o.batch_size, o.max_length - 1);
    uint32_t *ids = ed_malloc(ed_sampler_max_rows(&s) * sizeof *ids);
    double t0 = ed_now();
    ed_eval_result r;
    status = ed_trainer_evaluate(m, &ds, &s, &b, ids, ed_row_layout_of(&o), d, &r, &err);
    if (status == 0 && d->rank == 0)
        printf("eval %s on %s: loss %.4f perplexity %.2f accuracy %.4f (%ld tokens, %zu windows, %.1fs)\n",
               o.checkpoint, o.val_file, r.loss, r.perplexity, r.accuracy, r.tokens, ds.n_windows, ed_now() - t0);
    free(ids);
    ed_batch_free(&b);
    ed_sampler_free(&s);
    rc = status == 0 ? ED_EXIT_OK : ED_EXIT_FAILURE;
out:
    if (rc != ED_EXIT_OK && d->rank == 0) fprintf(stderr, "expert-dist: error: %s\n", err.msg);
    if (m) ed_gpt_free(m);
    if (have_ds) ed_dataset_free(&ds);
    if (tok) ed_tok_free(tok);
    return rc;
}
