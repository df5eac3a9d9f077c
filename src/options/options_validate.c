/* options_validate.c — cross-field checks, run before any work. Pure function of the
 * options, so every rank reaches the same verdict without talking to the others. */

#include <math.h>

#include "expert/options.h"
#include "expert/tokenizer.h"

int ed_options_validate(const ed_options *o, ed_error *err) {
    /* choices: set through the parser they are in range; a caller that filled the struct
     * itself gets told */
    for (const ed_option_spec *s = ed_option_table(NULL); s->name; s++) {
        if (s->type != ED_OPT_CHOICE) continue;
        int v = *(const int *)((const char *)o + s->offset);
        if (v < 0 || v >= ed_names_count(s->choices)) return ed_fail(err, "%s has no value %d", s->name, v);
    }
    /* data */
    if (o->vocab_size < 5) return ed_fail(err, "vocab-size must be >= 5 (4 special tokens + 1), got %d", o->vocab_size);
    /* The model shape: the engine's own check (ed_gpt_create runs it again), with the
     * requested vocabulary standing in for the one the tokenizer will have. */
    ed_model_config m = o->model;
    m.vocab_size = o->vocab_size;
    char msg[256];
    if (ed_model_config_check(&m, msg, sizeof msg) != 0) return ed_fail(err, "%s", msg);
    if (o->min_freq < 1) return ed_fail(err, "min-freq must be >= 1 (got %d)", o->min_freq);
    if (o->max_length < 2) return ed_fail(err, "max-length must be >= 2 (got %d)", o->max_length);
    if (o->max_length > m.max_seq_len)
        return ed_fail(err, "max-length %d is larger than max-seq-len %d", o->max_length, m.max_seq_len);
    if (o->stride < 1) return ed_fail(err, "stride must be >= 1 (got %d)", o->stride);
    if (!o->text_field[0]) return ed_fail(err, "text-field must not be empty");
    if (o->doc_mask && !o->pack)
        return ed_fail(err, "--doc-mask applies to --pack (without it every window is one document's slice already)");
    if (o->format == ED_FORMAT_INSTRUCT && o->data_file[0])
        return ed_fail(err, "--format instruct reads instruction text (.jsonl); a prepared token file (--data-file) "
                            "has no loss flags: give the .jsonl with --train-file instead");
    /* optimisation */
    if (o->batch_size < 1) return ed_fail(err, "batch-size must be >= 1 (got %d)", o->batch_size);
    if (o->grad_accum < 1) return ed_fail(err, "grad-accum must be >= 1 (got %d)", o->grad_accum);
    if (o->epochs < 1) return ed_fail(err, "epochs must be >= 1 (got %d)", o->epochs);
    if (o->more_epochs < 0) return ed_fail(err, "more-epochs must be >= 0 (got %d)", o->more_epochs);
    if (o->more_epochs > 0 && !o->resume[0])
        return ed_fail(err, "--more-epochs continues a checkpoint: give --resume PATH or --resume auto");
    if (o->sample_tokens < 0) return ed_fail(err, "sample-tokens must be >= 0 (got %d)", o->sample_tokens);
    if (o->max_steps < 0) return ed_fail(err, "max-steps must be >= 0 (got %ld)", o->max_steps);
    if (!(o->lr > 0.0f)) return ed_fail(err, "lr must be > 0 (got %g)", (double)o->lr);
    if (!(o->min_lr >= 0.0f && o->min_lr <= o->lr))
        return ed_fail(err, "min-lr must be in [0, lr] (got %g, lr %g)", (double)o->min_lr, (double)o->lr);
    if (o->weight_decay < 0.0f) return ed_fail(err, "weight-decay must be >= 0 (got %g)", (double)o->weight_decay);
    if (!(o->beta1 >= 0.0f && o->beta1 < 1.0f)) return ed_fail(err, "beta1 must be in [0, 1) (got %g)", (double)o->beta1);
    if (!(o->beta2 >= 0.0f && o->beta2 < 1.0f)) return ed_fail(err, "beta2 must be in [0, 1) (got %g)", (double)o->beta2);
    if (!(o->eps > 0.0f)) return ed_fail(err, "eps must be > 0 (got %g)", (double)o->eps);
    if (!(o->momentum >= 0.0f && o->momentum < 1.0f)) return ed_fail(err, "momentum must be in [0, 1) (got %g)", (double)o->momentum);
    if (!(o->label_smoothing >= 0.0f && o->label_smoothing < 1.0f))
        return ed_fail(err, "label-smoothing must be in [0, 1) (got %g)", (double)o->label_smoothing);
    if (o->max_grad_norm < 0.0f) return ed_fail(err, "max-grad-norm must be >= 0 (got %g)", (double)o->max_grad_norm);
    if (o->warmup_steps < 0) return ed_fail(err, "warmup-steps must be >= 0 (got %ld)", o->warmup_steps);
    /* loop */
    if (o->log_interval < 1) return ed_fail(err, "log-interval must be >= 1 (got %d)", o->log_interval);
    if (o->eval_interval < 0) return ed_fail(err, "eval-interval must be >= 0 (got %ld)", o->eval_interval);
    if (o->save_every < 0) return ed_fail(err, "save-every must be >= 0 (got %d)", o->save_every);
    if (o->save_steps < 0) return ed_fail(err, "save-steps must be >= 0 (got %ld)", o->save_steps);
    if (o->keep_last < 0) return ed_fail(err, "keep-last must be >= 0 (got %d)", o->keep_last);
    if (o->early_stopping_patience < 0)
        return ed_fail(err, "early-stopping-patience must be >= 0 (got %d)", o->early_stopping_patience);
    if (!o->checkpoint_dir[0]) return ed_fail(err, "checkpoint-dir must not be empty");
    if (o->init_from[0] && o->vocab_file[0])
        return ed_fail(err, "init-from brings its checkpoint's tokenizer: drop --vocab-file");
    if ((o->tokenizer == ED_TOK_SPM || o->tokenizer == ED_TOK_HF) && !o->vocab_file[0] && !o->init_from[0] &&
        !o->resume[0] && !o->data_file[0]) /* the user's own kinds are loaded, never built */
        return ed_fail(err, "tokenizer %s needs --vocab-file (the user's %s)", ed_tok_kind_names[o->tokenizer],
                       o->tokenizer == ED_TOK_SPM ? "tokenizer.model" : "tokenizer.json");
    if (o->compress < 0 || o->compress > 9) return ed_fail(err, "compress must be in 0..9 (got %d)", o->compress);
    /* system */
    if (o->threads < 0) return ed_fail(err, "threads must be >= 0 (got %d)", o->threads);
    if (o->bucket_mb < 1 || o->bucket_mb > 4096) return ed_fail(err, "bucket-mb must be in 1..4096 (got %zu)", o->bucket_mb);
    if (o->zero != 0 && o->zero != 1) return ed_fail(err, "zero must be 0 or 1 (got %d)", o->zero);
    if (o->grad_comm == ED_COMM_BF16 && o->zero == 1)
        return ed_fail(err, "grad-comm bf16 works with --zero 0 only (ZeRO-1 reduce-scatters in fp32)");
    if (o->check_every < 0) return ed_fail(err, "check-every must be >= 0 (got %d)", o->check_every);
    if (o->comm_timeout < 0) return ed_fail(err, "comm-timeout must be >= 0 seconds (got %d)", o->comm_timeout);
    if (o->debug_exit_rank < 0) return ed_fail(err, "debug-exit-rank must be >= 0 (got %d)", o->debug_exit_rank);
    if (o->debug_exit_step < 0) return ed_fail(err, "debug-exit-step must be >= 0 (got %ld)", o->debug_exit_step);
    if (!(o->loss_scale_init > 0.0f && o->loss_scale_init < INFINITY))
        return ed_fail(err, "loss-scale-init must be > 0 and finite (got %g)", (double)o->loss_scale_init);
    if (o->loss_scale_growth_interval < 1)
        return ed_fail(err, "loss-scale-growth-interval must be >= 1 (got %ld)", o->loss_scale_growth_interval);
    if (o->debug_inf_step < 0) return ed_fail(err, "debug-inf-step must be >= 0 (got %ld)", o->debug_inf_step);
    if (o->ref_gflops < 0.0f) return ed_fail(err, "ref-gflops must be >= 0 (got %g)", (double)o->ref_gflops);
    /* generate */
    if (o->max_new_tokens < 1) return ed_fail(err, "max-new-tokens must be >= 1 (got %d)", o->max_new_tokens);
    if (!(o->temperature >= 0.0f)) return ed_fail(err, "temperature must be >= 0 (got %g)", (double)o->temperature);
    if (o->top_k < 0) return ed_fail(err, "top-k must be >= 0 (got %d)", o->top_k);
    if (!(o->top_p > 0.0f && o->top_p <= 1.0f)) return ed_fail(err, "top-p must be in (0, 1] (got %g)", (double)o->top_p);
    if (!(o->repetition_penalty > 0.0f && o->repetition_penalty < 1e6f))
        return ed_fail(err, "repetition-penalty must be > 0 (got %g; 1 = off)", (double)o->repetition_penalty);
    if (o->num_samples < 1 || o->num_samples > 100000)
        return ed_fail(err, "num-samples must be in 1..100000 (got %d)", o->num_samples);
    if (o->val_generate_every < 1)
        return ed_fail(err, "val-generate-every must be >= 1 (got %ld)", o->val_generate_every);
    if (o->best_metric != ED_BEST_VAL_LOSS && !o->val_generate[0])
        return ed_fail(err, "--best-metric %s needs --val-generate FILE (the references it is computed on)",
                       ed_best_metric_names[o->best_metric]);
    if (o->predictions[0] && !o->generate) return ed_fail(err, "--predictions needs --generate");
    if (o->prompt[0] && o->prompt_file[0]) return ed_fail(err, "give --prompt or --prompt-file, not both");
    return 0;
}
