/* cmd_inspect.c — `expert-dist inspect`: what a checkpoint holds, without building a model. */
#include <math.h>
#include <string.h>

#include "expert/checkpoint.h"
#include "expert/commands.h"
#include "expert/tokenizer.h"
#include "expert/trainer.h"

/* The last value of a kept history column (NAN when empty). */
static double last_of(const ed_history *h, const char *column) {
    const ed_dcol *c = ed_history_col(h, column);
    return c->n ? c->v[c->n - 1] : NAN;
}

static int show(ed_ckpt *c, const char *path, ed_error *err) {
    ed_options o;
    ed_options_defaults(&o);
    if (ed_ckpt_read_options(c, ED_CMD_INSPECT, &o, err) != 0) return -1;
    ed_tokenizer *tok = ed_ckpt_read_tokenizer(c, err);
    if (!tok) return -1;
    ed_train_state st;
    ed_train_state_init(&st, o.seed, 1);
    ed_history h = {0};
    /* a model-only checkpoint (from `import`) has no trainer state to show */
    ed_ckpt_info info;
    if (ed_ckpt_read_info(c, &info, err) != 0) {
        ed_tok_free(tok);
        return -1;
    }
    if (info.has_trainer && ed_ckpt_read_state(c, &st, &h, err) != 0) {
        ed_tok_free(tok);
        ed_history_free(&h);
        return -1;
    }
    ed_model_config mc = o.model;
    mc.vocab_size = ed_tok_vocab_size(tok);
    printf("checkpoint %s\n", path);
    printf("model: %s, vocab %d (%s tokenizer), D %d, L %d, H %d, FF %d, T %d: %zu parameters\n",
           ed_arch_names[mc.arch], mc.vocab_size, ed_tok_kind_names[ed_tok_kind_of(tok)], mc.d_model, mc.n_layers,
           mc.n_heads, mc.d_ff, mc.max_seq_len, ed_model_num_params(&mc));
    if (mc.arch == ED_ARCH_LLAMA)
        printf("llama: %d key/value heads, %s embeddings, rope_theta %g, rms_eps %g\n", mc.n_kv_heads,
               mc.tie_embeddings ? "tied" : "untied", (double)mc.rope_theta, (double)mc.rms_eps);
    if (!info.has_trainer) {
        printf("progress: none (a model-only checkpoint: `generate`/`eval` it, `train --init-from` it)\n");
    } else {
        char where[96];
        ed_train_state_where(&st, where, sizeof where); /* as train and its resume line say it */
        if (st.epoch_windows > 0 || st.step_in_epoch > 0)
            snprintf(where + strlen(where), sizeof where - strlen(where), " (step_in_epoch %ld)", st.step_in_epoch);
        printf("progress: %s, global_step %ld, tokens_seen %ld, elapsed %.1fs, written by %d rank(s)\n", where,
               st.global_step, st.tokens_seen, st.elapsed, st.world_size);
        printf("metrics: best_val_loss %.4f, bad_evals %d, early_stopped %d, nan_skipped %ld\n", st.best_val_loss,
               st.bad_evals, st.stop, st.nan_skipped);
        if (st.scaler.scale > 0 || st.scaler.skipped > 0)
            printf("fp16 loss scaler: scale %.10g, %ld clean step(s) since its last change, %ld overflow step(s) "
                   "skipped\n", st.scaler.scale, st.scaler.growth_tracker, st.scaler.skipped);
    }
    if (ed_history_col(&h, "epoch")->n)
        printf("last epoch %.0f: train_loss %.4f val_loss %.4f perplexity %.2f val_accuracy %.4f lr %.3g\n",
               last_of(&h, "epoch"), last_of(&h, "train_loss"), last_of(&h, "val_loss"), last_of(&h, "perplexity"),
               last_of(&h, "val_accuracy"), last_of(&h, "lr"));
    printf("# config\n");
    ed_options_print(&o, stdout);
    ed_history_free(&h);
    ed_tok_free(tok);
    return 0;
}


static int inspect(const ed_options *in, ed_error *err) {
    ed_ckpt *c = ed_ckpt_open(in->checkpoint, err);
    if (!c) return -1;
    int rc = show(c, in->checkpoint, err);
    ed_ckpt_close(c);
    return rc;
}

int ed_inspect(const ed_options *o, const ed_dist *d) {
    ed_error err = {{0}};
    int status = d->rank == 0 ? inspect(o, &err) : 0;
    if (ed_dist_agree(d, status, &err) != 0) {
        if (d->rank == 0) fprintf(stderr, "expert-dist: error: %s\n", err.msg), ed_signals_quiet();
        return ED_EXIT_FAILURE;
    }
    return ED_EXIT_OK;
}
