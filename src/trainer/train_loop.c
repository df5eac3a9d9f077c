/* train_loop.c — epochs, logging, validation, early stopping, checkpoints, preemption:
 * `expert-dist train` from setup to the final summary.
 *
 * Decisions that end the loop (early stopping, a signal, max-steps) are taken from numbers
 * every rank holds identically (reduced sums, broadcast decisions), so all ranks leave the
 * loop after the same step and reach the same final collectives. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "expert/commands.h"
#include "expert/progress.h"
#include "expert/tensorboard.h"
#include "trainer_internal.h"

typedef struct {
    double run_t0, elapsed0;  /* wall clock at the start of this process's run; st.elapsed then */
    double log_t0;            /* wall clock at the previous log row */
    long log_tokens;          /* tokens since then (this run) */
    step_result last;         /* the latest step */
} loop_clock;

/* Model FLOPs utilisation at tok_s tokens/s (all ranks), of the reference GFLOPS per rank. */
static double mfu_at(const ed_trainer *t, double tok_s) {
    return tok_s * t->timing.flops_per_token / (t->d->world * t->timing.ref_gflops * 1e9);
}

static void fill_progress(const ed_trainer *t, const loop_clock *c, double loss, double tok_s, ed_progress *p) {
    const ed_train_state *st = &t->st;
    p->epoch = st->epoch + 1;
    p->epochs = t->o->epochs;
    p->step = st->global_step; /* one step count everywhere: the global one */
    p->steps = t->total_steps;
    p->global_step = st->global_step;
    p->total_steps = t->total_steps;
    p->loss = loss;
    p->lr = c->last.lr;
    p->grad_norm = c->last.grad_norm;
    p->tokens_per_s = tok_s;
    p->mfu = mfu_at(t, tok_s);
    p->elapsed = st->elapsed;
    p->loss_scale = st->scaler.scale;
    p->scale_skipped = st->scaler.skipped;
    double per_step = t->timing.steps_run > 1 ? t->timing.step_seconds / (double)(t->timing.steps_run - 1)
                      : t->timing.steps_run == 1 ? t->timing.first_seconds : -1.0;
    p->eta = per_step >= 0 ? per_step * (double)(t->total_steps - st->global_step) : -1.0;
}

/* One log row: history (all ranks keep it identical; rank 0 writes it) and the printed line. */
static void log_row(ed_trainer *t, loop_clock *c) {
    ed_train_state *st = &t->st;
    double now = ed_now();
    double loss = st->log_count > 0 ? st->log_loss_sum / (double)st->log_count : NAN;
    double tok_s = now > c->log_t0 ? (double)c->log_tokens / (now - c->log_t0) : 0.0;
    ed_mem_usage mem;
    ed_mem_read(&mem);
    ed_mem_fold(&t->timing.mem, &mem);
    ed_row row = {.kind = ED_ROW_LOG, .step = (double)st->global_step, .epoch = st->epoch + 1, .loss = loss,
                  .lr = c->last.lr, .grad_norm = c->last.grad_norm, .tokens_per_s = tok_s,
                  .mfu = mfu_at(t, tok_s), .elapsed = st->elapsed,
                  .loss_scale = st->scaler.scale > 0 ? st->scaler.scale : NAN,
                  .scale_skipped = (double)st->scaler.skipped,
                  .mem_private = mem.anon >= 0 ? mem.anon : NAN, .mem_file = mem.file >= 0 ? mem.file : NAN};
    ed_log_row(&t->hist, &t->metrics, &row);
    if (row.mfu > 1.0 && !t->timing.mfu_warned && t->d->rank == 0) {
        t->timing.mfu_warned = 1;
        fprintf(stderr, "warning: MFU %.0f%% is above 100%% of the reference %.1f GFLOPS/rank (%s): the reference "
                        "is too low, likely measured on a busy machine; run `expert-dist calibrate` on an idle "
                        "machine or give --ref-gflops (the progress line shows mfu >100%%?)\n",
                100.0 * row.mfu, t->timing.ref_gflops, t->timing.ref_source);
    }
    st->log_loss_sum = 0.0;
    st->log_count = 0;
    c->log_t0 = now;
    c->log_tokens = 0;
    if (t->verbose) {
        ed_progress p;
        fill_progress(t, c, loss, tok_s, &p);
        ed_progress_print(stdout, &p, t->tty, 1);
    }
}

/* --val-generate: continue the references' prompts with the model as it is and score
 * them (collective; every rank gets the same scores, 0-100). At every
 * --val-generate-every-th validation of the run (counted in the history, so a resume keeps
 * the rhythm) and at its last one; else all NAN. Returns the agreed stop signal that ended
 * it early (nothing filled then), else 0. */
static int val_generate(ed_trainer *t, int last, double *bleu, double *r1, double *r2, double *rl) {
    *bleu = *r1 = *r2 = *rl = NAN;
    if (t->gen_refs.n == 0) return 0;
    size_t k = ed_history_col(&t->hist, "eval_step")->n; /* validations before this one */
    if (!last && (k + 1) % (size_t)t->o->val_generate_every != 0) return 0;
    ed_geneval_options g;
    ed_geneval_options_from(t->o, ed_decoder_window(t->o->max_length, ed_gpt_config(t->model)->max_seq_len), &g);
    g.poll_stop = ed_signal_agreed;
    ed_geneval_result r;
    ed_geneval_run(t->model, t->tok, &t->gen_refs, &g, t->d, 0, &r);
    if (r.stopped) return r.stopped;
    *bleu = 100 * r.bleu.bleu;
    *r1 = 100 * r.rouge1;
    *r2 = 100 * r.rouge2;
    *rl = 100 * r.rougeL;
    ed_geneval_result_free(&r);
    return 0;
}

/* The --best-metric value of a validation as a loss (lower is better); NAN when this
 * validation did not compute it (then it competes neither for best.h5 nor for patience). */
static double best_score(const ed_options *o, const ed_eval_result *er) {
    switch (o->best_metric) {
    case ED_BEST_BLEU: return -er->bleu;
    case ED_BEST_ROUGE_L: return -er->rougeL;
    default: return er->loss;
    }
}

/* Validation plus rank 0's verdict (new best? stop?), broadcast so all ranks agree, and
 * its history row. `scheduled`: an epoch end or --eval-interval, which early stopping
 * counts; the final validation of a run stopped in mid-epoch only competes for best.h5.
 * `last`: the run's last validation (the end of its last epoch, or that final one).
 * Returns 0, -1 (failed, err filled) or the stop signal agreed on while it ran (> 0): then
 * nothing has changed (no row, no verdict), so last.h5 written now holds the state before
 * this validation and a resumed run repeats it. Every caller returns such a value. */
static int validate(ed_trainer *t, ed_eval_result *er, int *is_best, int scheduled, int last, ed_error *err) {
    ed_dist_phase(t->d, t->st.global_step, "validation");
    int rc = ed_trainer_evaluate(t->model, &t->val_ds, &t->val_s, &t->batch, t->ids, ed_row_layout_of(t->o), t->d,
                                 er, err);
    if (rc == 0) rc = val_generate(t, last, &er->bleu, &er->rouge1, &er->rouge2, &er->rougeL);
    if (rc != 0) return rc;
    ed_train_state *st = &t->st;
    double score = best_score(t->o, er);
    /* rank 0 decides, every rank takes its decision (one broadcast of plain values) */
    struct {
        double best_val_loss, patience_best;
        int is_best, stop, bad_evals;
    } v;
    memset(&v, 0, sizeof v); /* the padding is broadcast too */
    v.best_val_loss = st->best_val_loss, v.patience_best = st->patience_best;
    v.stop = st->stop, v.bad_evals = st->bad_evals;
    if (t->d->rank == 0 && !isnan(score)) {
        if (score < st->best_val_loss) {
            v.is_best = 1;
            v.best_val_loss = score;
        }
        if (scheduled) {
            if (score < st->patience_best) {
                v.patience_best = score;
                v.bad_evals = 0;
            } else {
                v.bad_evals += 1;
            }
            int patience = t->o->early_stopping_patience;
            v.stop = patience > 0 && v.bad_evals >= patience;
        }
    }
    ed_dist_bcast(t->d, &v, sizeof v, 0);
    *is_best = v.is_best;
    st->stop = v.stop;
    st->best_val_loss = v.best_val_loss;
    st->bad_evals = v.bad_evals;
    st->patience_best = v.patience_best;
    ed_row row = {.kind = ED_ROW_VAL, .step = (double)st->global_step, .epoch = st->epoch + 1,
                  .val_loss = er->loss, .perplexity = er->perplexity, .accuracy = er->accuracy, .best = *is_best,
                  .bleu = er->bleu, .rouge1 = er->rouge1, .rouge2 = er->rouge2, .rougeL = er->rougeL};
    ed_log_row(&t->hist, &t->metrics, &row);
    return 0;
}

/* 1 if the model at this step was not validated yet (no history row at this step). */
static int needs_final_validation(const ed_trainer *t) {
    const ed_dcol *s = ed_history_col(&t->hist, "eval_step");
    return t->has_val && t->st.global_step > 0 && (s->n == 0 || s->v[s->n - 1] != (double)t->st.global_step);
}

/* 1 if --eval-interval asks for a validation at this step in mid-epoch and it has not
 * happened: just after the step, or when a run stopped (a signal after the step or during
 * that validation) resumes here, so its history has every validation. */
static int interval_validation_due(const ed_trainer *t) {
    long every = t->o->eval_interval;
    return every > 0 && t->st.global_step % every == 0 && (size_t)t->st.epoch_windows < t->train_ds.n_windows &&
           needs_final_validation(t);
}

static void print_eval(const ed_trainer *t, const char *what, const ed_eval_result *er, int is_best) {
    if (!t->verbose) return;
    if (t->tty) printf("\r\033[K"); /* replace a pending progress bar */
    char gen[96] = "";
    if (!isnan(er->bleu))
        snprintf(gen, sizeof gen, " BLEU %.2f ROUGE-1 %.2f ROUGE-2 %.2f ROUGE-L %.2f", er->bleu, er->rouge1, er->rouge2,
                 er->rougeL);
    printf("%s: val_loss %.4f perplexity %.2f accuracy %.4f (%ld tokens)%s%s%s\n", what, er->loss, er->perplexity,
           er->accuracy, er->tokens, gen, is_best ? "  * best" : "",
           t->st.stop ? "  -> early stopping" : "");
}

/* One optimizer step (train_step.c) with what surrounds it: the --debug-exit-step crash
 * and the step's timing for the throughput figures. */
static int run_step(ed_trainer *t, step_result *r, ed_error *err) {
    const ed_options *o = t->o;
    if (o->debug_exit_step > 0 && t->st.global_step == o->debug_exit_step && t->d->rank == o->debug_exit_rank) {
        fprintf(stderr, "expert-dist: rank %d: --debug-exit-step %ld reached, exiting with status 1\n", t->d->rank,
                o->debug_exit_step);
        exit(ED_EXIT_FAILURE); /* deliberately without MPI_Finalize: mpirun must abort the job */
    }
    double t0 = ed_now();
    if (trainer_step(t, r, err) != 0) return -1;
    /* The first step of a process pays for first-touch allocations and cold caches: keep it
     * out of the throughput figures (it is used only when it is the only step). */
    double dt = ed_now() - t0;
    /* the step's buffers are all live here: the private memory's peak (no high-water
     * mark for it in the kernel) */
    ed_mem_sample(&t->timing.mem);
    if (t->timing.steps_run++ == 0) {
        t->timing.first_seconds = dt;
        t->timing.first_comm = r->comm_seconds;
        t->timing.first_tokens = r->count;
    } else {
        t->timing.step_seconds += dt;
        t->timing.comm_seconds += r->comm_seconds;
        t->timing.tokens_run += r->count;
    }
    return 0;
}

/* End of an epoch: validation, the history row, the epoch counter, checkpoints. Returns
 * as validate (a stop signal during the validation: nothing of the epoch end done). */
static int end_epoch(ed_trainer *t, double epoch_t0, ed_error *err) {
    ed_train_state *st = &t->st;
    ed_eval_result er = {NAN, NAN, NAN, 0, NAN, NAN, NAN, NAN};
    int is_best = 0;
    if (t->has_val) {
        int rc = validate(t, &er, &is_best, 1, st->epoch + 1 >= t->o->epochs, err);
        if (rc != 0) return rc; /* failed, or a stop signal before anything of the epoch end changed */
    }
    double train_loss = st->epoch_count > 0 ? st->epoch_loss_sum / (double)st->epoch_count : NAN;
    /* lr from the schedule, not from the last step of this process: a run resumed right at
     * the end of an epoch has taken no step yet. */
    ed_row row = {.kind = ED_ROW_EPOCH, .step = (double)st->global_step, .epoch = st->epoch + 1,
                  .train_loss = train_loss, .val_loss = er.loss, .perplexity = er.perplexity, .accuracy = er.accuracy,
                  .lr = trainer_lr(t, st->global_step > 0 ? st->global_step - 1 : 0), .seconds = ed_now() - epoch_t0};
    ed_log_row(&t->hist, &t->metrics, &row);
    if (t->verbose) {
        char what[96];
        snprintf(what, sizeof what, "epoch %d/%d train_loss %.4f", st->epoch + 1, t->o->epochs, train_loss);
        if (t->has_val)
            print_eval(t, what, &er, is_best);
        else
            printf("%s%s\n", t->tty ? "\r\033[K" : "", what);
    }
    st->epoch++;
    st->step_in_epoch = 0;
    st->epoch_windows = 0;
    t->epoch_steps = t->steps_per_epoch;
    st->epoch_loss_sum = 0.0;
    st->epoch_count = 0;
    if (is_best && trainer_save(t, "best.h5", err) != 0) return -1;
    /* The seed pipeline's save_every: a checkpoint per N epochs that stays (rotated by
     * --keep-last); last.h5, the resume point, follows every epoch. */
    if (t->o->save_every > 0 && st->epoch % t->o->save_every == 0 && trainer_save_epoch(t, err) != 0) return -1;
    if (trainer_save(t, "last.h5", err) != 0) return -1;
    return trainer_write_history(t, err);
}

/* Collective (the memory peaks of every rank); rank 0 prints. The time is the progress lines'
 * `elapsed` clock (docs/usage.md, "Numbers in the output"): this process's part of it,
 * and the whole when an earlier run's time is in it (a resume). */
static void print_summary(const ed_trainer *t, const char *how, const loop_clock *c) {
    double now = ed_now(), mine = now - c->run_t0, elapsed = c->elapsed0 + mine;
    ed_mem_usage *mem = ed_malloc((size_t)t->d->world * sizeof *mem);
    /* only where all ranks are alive and leave the loop together */
    ed_dist_peak_memory(t->d, &t->timing.mem, mem);
    if (t->d->rank != 0) {
        free(mem);
        return;
    }
    if (t->tty) printf("\r\033[K");
    const trainer_timing *m = &t->timing;
    int timed = m->steps_run > 1; /* else only the warm-up step exists: report it */
    double secs = timed ? m->step_seconds : m->first_seconds, comm = timed ? m->comm_seconds : m->first_comm;
    double toks = (double)(timed ? m->tokens_run : m->first_tokens);
    double tok_s = secs > 0 ? toks / secs : 0.0;
    char mfu_text[32];
    ed_mfu_format(mfu_at(t, tok_s), mfu_text, sizeof mfu_text);
    double wait = secs > 0 ? comm / secs : 0.0;
    char el[32], all[64] = "", where[64];
    ed_format_duration(mine, el, sizeof el);
    if (c->elapsed0 > 0) {
        char tot[32];
        ed_format_duration(elapsed, tot, sizeof tot);
        snprintf(all, sizeof all, "elapsed %s across resumes; ", tot);
    }
    ed_train_state_where(&t->st, where, sizeof where);
    printf("%s: %ld steps in %s (%sglobal step %ld, %s), %.0f tokens/s on %d rank(s) x %d thread(s), "
           "mfu %s of %.0f GFLOPS/rank, allreduce wait %.1f%% of step time (%ld/%ld buckets overlapped)",
           how, m->steps_run, el, all, t->st.global_step, where, tok_s, t->d->world, t->threads, mfu_text,
           m->ref_gflops, 100.0 * wait, t->sync.n_launched, t->sync.n_total);
    if (isfinite(t->st.best_val_loss)) {
        if (t->o->best_metric == ED_BEST_VAL_LOSS)
            printf(", best val_loss %.4f", t->st.best_val_loss);
        else
            printf(", best %s %.2f", ed_best_metric_names[t->o->best_metric], -t->st.best_val_loss);
    }
    if (t->st.nan_skipped) printf(", %ld NaN steps skipped", t->st.nan_skipped);
    if (t->st.scaler.scale > 0)
        printf(", fp16 loss scale %.10g (%ld overflow steps skipped)", t->st.scaler.scale, t->st.scaler.skipped);
    /* What checkpoints cost the loop: the stall per save (with --async-save the in-memory
     * copy), the time the writes took, and the time spent waiting for a background write. */
    if (m->saves)
        printf("\ncheckpoints: %ld saved, step stall %.3f s/save, write %.3f s/save (%s), %.1f s waited for "
               "earlier writes", m->saves, m->save_stall / (double)m->saves, m->write_seconds / (double)m->saves,
               t->o->async_save ? "in the background" : "in the step", m->save_waited);
    /* Peak resident memory, as `prepare` prints it: rank 0 first (it also holds the
     * checkpoint writer's buffer), then the private part (to hold against the --dry-run
     * estimate) and the mapped file pages (a mapped token file's page cache) apart. */
    printf("\n");
    ed_mem_print(stdout, mem, t->d->world);
    fflush(stdout);
    free(mem);
}

/* The end of a run that stopped in mid-epoch (--max-steps, an early stop after
 * --eval-interval): validate the model as it is unless that just happened, so that every
 * run with a validation set has best.h5; then last.h5 and the history, which record it.
 * Returns as validate. */
static int final_validation(ed_trainer *t, ed_error *err) {
    if (needs_final_validation(t)) {
        ed_eval_result er;
        int is_best = 0;
        int rc = validate(t, &er, &is_best, 0, 1, err);
        if (rc != 0) return rc;
        char what[64];
        snprintf(what, sizeof what, "step %ld (final)", t->st.global_step);
        print_eval(t, what, &er, is_best);
        if (is_best && trainer_save(t, "best.h5", err) != 0) return -1;
    }
    if (trainer_save(t, "last.h5", err) != 0) return -1;
    return trainer_write_history(t, err);
}

/* A stop signal was agreed (sig, the same on every rank): last.h5 of the state as it is,
 * the history, and the exit status. `where`: "" after a step, else the phase it ended
 * early (its work is not in the state, so the resumed run repeats it). */
static int stop_run(ed_trainer *t, const loop_clock *c, int sig, const char *where, ed_error *err) {
    /* SIGINT (Ctrl-C) here, else SIGTERM/SIGUSR1 (a preemption): the exit status says which */
    int interrupted = sig == SIGINT;
    if (t->d->rank == 0) {
        if (t->tty) printf("\n");
        fflush(stdout);
        fprintf(stderr, "expert-dist: %s received%s%s%s: writing last.h5 and stopping%s\n",
                interrupted ? "SIGINT" : "signal", where[0] ? " during " : "", where,
                where[0] ? " (a resumed run repeats it)" : "", interrupted ? " (Ctrl-C again stops at once)" : "");
    }
    /* No final validation: the lead time before SIGKILL (docs/slurm.md) covers one step and
     * the save, not a pass over the validation set. The resumed run validates where this one
     * would have. The save is on disk (a background write waited for) before the exit. */
    if (trainer_save(t, "last.h5", err) != 0 || trainer_write_history(t, err) != 0 || trainer_save_wait(t, err) != 0)
        return ED_EXIT_FAILURE;
    /* the work is on disk: output may block again; what could not be written since the
     * signal (nobody read it: mpirun stopping the job, signals.c) sends the rest to train.log */
    ed_signals_output_restore();
    if (ed_output_keep(t->log_path)) t->tty = 0;
    print_summary(t, interrupted ? "interrupted" : "preempted", c);
    return interrupted ? ED_EXIT_INTERRUPTED : ED_EXIT_PREEMPTED;
}

/* The exit status for what validate (or a phase returning as it) returned, or -1 to go on. */
static int after_validation(ed_trainer *t, const loop_clock *c, int rc, ed_error *err) {
    if (rc < 0) return ED_EXIT_FAILURE;
    if (rc > 0) return stop_run(t, c, rc, "validation", err);
    return -1;
}

static int run(ed_trainer *t, ed_error *err) {
    const ed_options *o = t->o;
    ed_train_state *st = &t->st;
    loop_clock c = {.run_t0 = ed_now(), .elapsed0 = st->elapsed};
    c.log_t0 = c.run_t0;
    c.last.lr = o->lr;
    int mid_epoch_end = 0; /* left an epoch early: last.h5 + history still to write */
    int rc;
    while (st->epoch < o->epochs && !st->stop) {
        /* Resumed right at --max-steps (a signal after the last step, or during its final
         * validation): validate now if that step has no validation yet. Not at an epoch's
         * end: end_epoch below validates it as the uninterrupted run did. */
        if (o->max_steps > 0 && st->global_step >= o->max_steps &&
            (size_t)st->epoch_windows < t->train_ds.n_windows) {
            mid_epoch_end = needs_final_validation(t);
            break;
        }
        ed_sampler_set_epoch(&t->train_s, st->epoch);
        double epoch_t0 = ed_now();
        while ((size_t)st->epoch_windows < t->train_ds.n_windows) {
            /* --eval-interval's validation of the step just taken (or of the step a stopped
             * run resumes at), before the next step or the --max-steps end */
            if (t->has_val && interval_validation_due(t)) {
                ed_eval_result er;
                int is_best = 0;
                if ((rc = after_validation(t, &c, validate(t, &er, &is_best, 1, 0, err), err)) >= 0) return rc;
                char what[64];
                snprintf(what, sizeof what, "step %ld", st->global_step);
                print_eval(t, what, &er, is_best);
                if (is_best && trainer_save(t, "best.h5", err) != 0) return ED_EXIT_FAILURE;
                if (st->stop) {
                    mid_epoch_end = 1;
                    break;
                }
            }
            if (o->max_steps > 0 && st->global_step >= o->max_steps) {
                mid_epoch_end = 1;
                break;
            }
            if (run_step(t, &c.last, err) != 0) return ED_EXIT_FAILURE;
            if (ed_output_keep(t->log_path)) t->tty = 0; /* a lost terminal or pipe: on to train.log */
            st->elapsed = c.elapsed0 + (ed_now() - c.run_t0);
            c.log_tokens += c.last.count;
            if (st->global_step % o->log_interval == 0) {
                log_row(t, &c);
            } else if (t->tty && t->verbose) {
                ed_progress p;
                double now = ed_now();
                fill_progress(t, &c, c.last.loss, now > c.log_t0 ? c.log_tokens / (now - c.log_t0) : 0, &p);
                ed_progress_print(stdout, &p, 1, 0);
            }
            /* some rank has a stop signal (the step agreed on that): which one, agreed too */
            if (c.last.stop_signal) return stop_run(t, &c, ed_signal_agreed(t->d), "", err);
            if (o->save_steps > 0 && st->global_step % o->save_steps == 0 && trainer_save_step(t, err) != 0)
                return ED_EXIT_FAILURE;
        }
        if (mid_epoch_end) break;
        if ((rc = after_validation(t, &c, end_epoch(t, epoch_t0, err), err)) >= 0) return rc;
    }
    if (mid_epoch_end && (rc = after_validation(t, &c, final_validation(t, err), err)) >= 0) return rc;
    if (trainer_save_wait(t, err) != 0) return ED_EXIT_FAILURE; /* the last write is on disk */
    print_summary(t, st->stop ? "early stopping" : "done", &c);
    return ED_EXIT_OK;
}

/* One line each, on stderr: OpenBLAS running kernels far below the CPU, bf16 / fp16
 * emulated. */
static void print_compute_warnings(const ed_trainer *t) {
    char buf[512];
    int blas = ed_gpt_backend(t->model) == ED_GEMM_OPENBLAS;
    /* auto measured OpenBLAS faster than oneDNN here: its core is no reason to warn */
    int chosen = t->o->gemm == ED_GEMM_OPENBLAS || !t->mach.have_onednn;
    if (blas && chosen && ed_machine_blas_warning(&t->mach, buf, sizeof buf)) fprintf(stderr, "%s\n", buf);
    ed_precision p = t->o->precision;
    if (p == ED_PREC_FP32 || ed_gpt_half_native(t->model)) return;
    const char *name = ed_precision_names[p], *var = ed_precision_emulate_var(p);
    if (ed_precision_emulation_forced(p))
        snprintf(buf, sizeof buf, "%s=%s", var, getenv(var));
    else if (blas && ed_machine_half_native(&t->mach, p))
        snprintf(buf, sizeof buf, "--gemm openblas has no %s GEMM; --gemm onednn has a native one on this CPU", name);
    else if (t->mach.have_onednn)
        snprintf(buf, sizeof buf, "oneDNN has no %s matmul for ISA %s; it needs %s", name, t->mach.onednn_isa,
                 p == ED_PREC_BF16 ? "AVX512-BF16 or AMX" : "AVX512-FP16 or AMX-FP16");
    else
        snprintf(buf, sizeof buf, "this build has no oneDNN");
    fprintf(stderr, "warning: --precision %s is emulated (%s): GEMM inputs rounded to %s, fp32 GEMMs; "
                    "same numerics as native %s, not faster than fp32\n", name, buf, name, name);
}

/* The prompt of the sample a finished run prints. Plain text: the first three consecutive
 * in-vocabulary tokens of the validation (else training) text, so the line is never empty
 * even when the model ends its text (<EOS>) at once, and the prompt holds no <UNK>.
 * Instruction data: the first example's prompt as rendered (up to its first completion),
 * so the sample is the model's answer to it, unless it holds an <UNK>. */
static void sample_prompt(const ed_trainer *t, const ed_dataset *ds, char *out, size_t cap) {
    size_t at = 0, n = 0;
    int32_t unk = ed_tok_role_id(t->tok, ED_ROLE_UNK);
    if (ds->completion) {
        while (n < ds->n_tokens && n < 4096 && !ds->completion[n]) n++;
        for (size_t k = 0; k < n; k++) /* an <UNK> would not survive decode -> encode */
            if (ed_dataset_id(ds, k) == unk) n = 0;
    }
    if (n == 0) {
        for (size_t i = 0; i < ds->n_tokens && i < 100000 && n < 3; i++) {
            int32_t id = ed_dataset_id(ds, i);
            int role = 0; /* not <PAD> <UNK> <BOS> <EOS> */
            for (int r = 0; r < ED_NUM_ROLES; r++) role |= id == ed_tok_role_id(t->tok, (ed_tok_role)r);
            n = role ? 0 : n + 1;
            at = i + 1 - n;
        }
    }
    int32_t *ids = ed_malloc((n ? n : 1) * sizeof *ids);
    for (size_t k = 0; k < n; k++) ids[k] = ed_dataset_id(ds, at + k); /* tokens may be uint16 or mapped */
    char *p = ed_tok_decode(t->tok, ids, n, 1);
    snprintf(out, cap, "%s", p);
    free(p);
    free(ids);
}

/* Instruction data: what became of the examples, per split, in one line. */
static void print_examples(const ed_trainer *t) {
    printf("# instruction data (loss on %s tokens, --truncate %s):", ed_loss_on_names[t->o->loss_on],
           ed_truncate_names[t->o->truncate]);
    for (int v = 0; v < 1 + t->has_val; v++) {
        const ed_example_counts *c = v ? &t->val_ds.counts : &t->train_ds.counts;
        printf("%s %s %ld examples, %ld truncated, %ld refused", v ? ";" : "", v ? "val" : "train", c->examples,
               c->truncated, c->refused);
        if (c->refused) printf(" (first at line %ld)", c->first_refused);
        printf(", %llu loss tokens", (unsigned long long)c->loss_tokens);
    }
    printf("\n");
}

static void print_header(const ed_trainer *t) {
    /* only for what the user asked (the tiny preset's own eval-interval is no request) */
    const ed_options *o = t->o;
    const char *asked = o->early_stopping_patience > 0 ? "--early-stopping-patience"
                        : o->eval_interval > 0 && o->given[ed_option_index(ed_option_find("eval-interval"))]
                            ? "--eval-interval"
                            : NULL;
    if (t->verbose && !t->has_val && asked)
        fprintf(stderr, "warning: no --val-file: %s has nothing to measure\n", asked);
    if (t->d->rank == 0) print_compute_warnings(t);
    if (!t->verbose) return;
    /* One line; every option is in config.ini (written before this). */
    const ed_model_config *m = ed_gpt_config(t->model);
    double np = (double)ed_gpt_num_params(t->model);
    char val[48] = "no validation set";
    if (t->has_val) snprintf(val, sizeof val, "%zu val windows", t->val_ds.n_windows);
    char size[32];
    if (np >= 1e6) snprintf(size, sizeof size, "%.2f M", np / 1e6);
    else snprintf(size, sizeof size, "%.1f k", np / 1e3);
    char kv[24] = ""; /* a llama's key/value heads, e.g. "/KV2" */
    if (m->arch == ED_ARCH_LLAMA) snprintf(kv, sizeof kv, "/KV%d", m->n_kv_heads);
    printf("# model %s: %s parameters (%s D%d L%d H%d%s FF%d T%d, vocab %d); data: %zu train windows, %s; "
           "%d epoch(s) x %ld steps of %d windows on %d rank(s) x %d thread(s); config: %s/config.ini\n",
           t->o->preset[0] ? t->o->preset : "custom", size, ed_arch_names[m->arch], m->d_model, m->n_layers, m->n_heads, kv, m->d_ff,
           m->max_seq_len, m->vocab_size, t->train_ds.n_windows, val, t->o->epochs, t->steps_per_epoch,
           t->o->batch_size * t->o->grad_accum * t->d->world, t->d->world, t->threads, t->o->checkpoint_dir);
    if (t->train_ds.examples) print_examples(t);
    char cpu[512];
    ed_machine_cpu_line(&t->mach, cpu, sizeof cpu);
    printf("# cpu: %s\n", cpu);
    if (t->hosts) printf("# hosts: %s\n", t->hosts);
    char mach[256], gemm[256];
    ed_machine_describe(&t->mach, mach, sizeof mach);
    ed_gpt_compute_describe(t->model, gemm, sizeof gemm);
    printf("# gemm: %s%s%s; %s; MFU reference %.1f GFLOPS/rank (%s)\n", gemm, t->gemm_note[0] ? "; " : "",
           t->gemm_note, mach, t->timing.ref_gflops, t->timing.ref_source);
    fflush(stdout);
}

static void print_memory(const ed_trainer *t) {
    if (t->d->rank != 0) return;
    size_t np = ed_gpt_num_params(t->model);
    size_t opt = t->o->optimizer == ED_OPT_SGD ? 4 : 8;
    double opt_share = t->slice.zero ? 1.0 / t->d->world : 1.0; /* ZeRO-1 keeps one slice per rank */
    size_t act = ed_gpt_model_activation_bytes(t->model, t->o->batch_size, t->o->max_length - 1);
    /* bf16 / fp16: the GEMMs' rounded operand copies (the activations only GEMMs read are
     * in operand form, counted in act) */
    size_t gscr = ed_gpt_gemm_scratch_bytes(t->model, t->o->batch_size, t->o->max_length - 1);
    /* What the datasets hold in this process (docs/memory.md, "Per token": tokens and index
     * only when built from text, a block index built at start; nothing per window) and the
     * batch buffers (inputs, targets: int32, mask: uint8). A mapped token file (and its
     * mapped indexes) is apart. */
    size_t corpus = ed_dataset_memory(&t->train_ds) + ed_dataset_memory(&t->val_ds);
    size_t data = corpus + (size_t)t->o->batch_size * (size_t)(t->o->max_length - 1) * 9;
    size_t mapped = ed_dataset_mapped(&t->train_ds) + ed_dataset_mapped(&t->val_ds);
    /* Rank 0 only, while a checkpoint is written: the file (weights + the whole optimizer,
     * gathered under ZeRO) is laid out in memory once (src/checkpoint/ckpt_write.c). */
    size_t ckpt = np * 4 + np * opt;
    /* Under ZeRO rank 0 first gathers the whole optimizer into a full-size copy. */
    if (t->slice.zero) ckpt += np * opt;
    /* --async-save: rank 0 keeps a copy of parameters and moments for the writer thread
     * for the whole run (with a thread-safe HDF5, src/checkpoint/ckpt_async.c). */
    size_t snapshot = t->o->async_save ? np * 4 + np * opt : 0;
    double mb = 1.0 / (1 << 20);
    size_t total = np * 8 + (size_t)(np * opt * opt_share) + act + gscr + data;
    ckpt += snapshot;
    double per_param = 8.0 + (double)opt * opt_share;
    printf("dry run: %zu parameters\n", np);
    printf("  parameters   %10.1f MB\n  gradients    %10.1f MB\n  optimizer    %10.1f MB (%s)\n"
           "  activations  %10.1f MB (B %d, T %d)\n  data         %10.1f MB (in memory; %zu B for the corpus, the rest "
           "batch buffers)\n  total/rank   %10.1f MB\n"
           "  checkpoint   %10.1f MB (rank 0, while writing%s)\n  peak rank 0  %10.1f MB\n",
           np * 4 * mb, np * 4 * mb, np * opt * opt_share * mb, ed_opt_kind_names[t->o->optimizer], act * mb, t->o->batch_size,
           t->o->max_length - 1, data * mb, corpus, total * mb, ckpt * mb,
           snapshot ? "; with the --async-save copy kept all run" : "", (total + ckpt) * mb);
    if (gscr)
        printf("  (in total: GEMM scratch %.1f MB, %s operand copies (%s); activations stay float32)\n", gscr * mb,
               ed_precision_names[t->o->precision],
               ed_gpt_half_native(t->model) ? "2 B/element, native" : "4 B/element, emulated");
    if (mapped)
        printf("  mapped data  %10.1f MB (token file in the page cache, shared by the ranks of a node; not in the "
               "totals: the pages a rank touches count as its mapped file pages, apart from its private memory)\n",
               mapped * mb);
    if (t->slice.zero)
        printf("  model state  %10.1f B/param at %d ranks with --zero 1 (parameters 4 + gradients 4 + %s %.2f)\n",
               per_param, t->d->world, ed_opt_kind_names[t->o->optimizer], (double)opt * opt_share);
    else
        printf("  model state  %10.1f B/param (parameters 4 + gradients 4 + %s %zu)\n", per_param, ed_opt_kind_names[t->o->optimizer],
               opt);
    /* Not in the totals: Open MPI's non-blocking collectives allocate a temporary per
     * gradient bucket in flight, and whether a rank writes to it (so that it counts in
     * its RSS) depends on the rank's place in the reduction (docs/memory.md). */
    if (t->d->world > 1)
        printf("  comm scratch %10.1f MB at most, on some ranks (Open MPI temporaries of the %s buckets)\n",
               np * 4.0 * (t->slice.zero ? 2 : 1) * mb, t->slice.zero ? "reduce-scatter" : "allreduce");
    printf("  %ld steps/epoch at %d rank(s), %.3g GFLOP per token\n", t->steps_per_epoch, t->d->world,
           t->timing.flops_per_token * 1e-9);
}

int ed_train(const ed_options *o, const ed_dist *d) {
    ed_signals_train();
    ed_trainer *t = ed_calloc(1, sizeof *t);
    ed_error err = {{0}};
    int rc;
    if (trainer_setup(t, o, d, &err) != 0) {
        rc = ED_EXIT_FAILURE;
    } else if (o->dry_run) {
        print_memory(t);
        rc = ED_EXIT_OK;
    } else if (trainer_write_config(t, &err) != 0) {
        rc = ED_EXIT_FAILURE;
    } else {
        print_header(t);
        if (t->st.stop && t->verbose)
            printf("nothing to do: early stopping fired after %d validation(s) without improvement "
                   "(--more-epochs N or a larger --early-stopping-patience continues)\n", t->st.bad_evals);
        else if (t->st.epoch >= t->o->epochs && t->verbose)
            printf("nothing to do: the checkpoint has finished %d epoch(s) (--more-epochs N continues)\n", t->st.epoch);
        if (o->async_save && d->rank == 0) ed_ckpt_writer_reserve(&t->writer, t->model, &t->optim);
        if (trainer_open_metrics(t, &err) != 0) {
            rc = ED_EXIT_FAILURE;
        } else {
            /* From here a stop signal is polled (step, validation, generation) and ends in
             * last.h5; before, nothing was trained and it exits at once (signals.c). */
            ed_signals_graceful(1);
            rc = run(t, &err);
        }
    }
    /* A finished run ends with a few words from its best model (rank 0 generates, all
     * ranks agree on the outcome), the way `expert-dist generate` would print them. Not
     * after a signal that came after the run's last poll (its final save): the run is
     * complete and its status stands, but the ranks agree to stop there (the sample is
     * collective; rc is the same on every rank, so all of them poll or none). */
    int sample = rc == ED_EXIT_OK && !o->dry_run && !o->quiet && o->sample_tokens > 0 && t->timing.steps_run > 0;
    if (sample && ed_signal_agreed(d) != 0) sample = 0;
    ed_signals_graceful(0);
    if (t->log_path[0] && ed_output_keep(t->log_path)) t->tty = 0; /* as in stop_run */
    /* TensorBoard stays open for the closing sample (below) */
    ed_tb *tb = t->metrics.tb;
    t->metrics.tb = NULL;
    ed_metrics_close(&t->metrics);
    long last_step = t->st.global_step;
    if (rc == ED_EXIT_FAILURE && d->rank == 0) {
        if (t->tty) printf("\n");
        fprintf(stderr, "expert-dist: error: %s\n", err.msg), ed_signals_quiet();
    }
    ed_options go = t->options;
    memset(go.given, 0, sizeof go.given); /* the run's own options: nothing for generate to refuse */
    if (sample) {
        const char *name = t->has_val && isfinite(t->st.best_val_loss) ? "best.h5" : "last.h5";
        int n = snprintf(go.checkpoint, sizeof go.checkpoint, "%s/%s", o->checkpoint_dir, name);
        if (n < 0 || (size_t)n >= sizeof go.checkpoint) sample = 0; /* no sample from a truncated path */
        go.max_new_tokens = o->sample_tokens;
        /* a few tokens: not worth timing decoding's products, nor a second `# gemm:` line
         * or cache warning in the run's output; the guess `generate` made before it measured */
        go.gemm = ed_gemm_backend_resolve(o->gemm, o->precision, &t->mach);
        const ed_dataset *ds = t->has_val ? &t->val_ds : &t->train_ds;
        sample_prompt(t, ds, go.prompt, sizeof go.prompt);
    }
    trainer_free(t);
    free(t);
    if (sample) {
        if (d->rank == 0) {
            printf("sample (expert-dist generate %s \"%s\" -n %d):\n", go.checkpoint, go.prompt, go.max_new_tokens);
            fflush(stdout);
        }
        char *text = NULL;
        ed_generate_text(&go, d, tb ? &text : NULL); /* a failure is reported and does not change the run's status */
        if (text) ed_tb_text(tb, "sample", last_step, text);
        free(text);
    }
    ed_tb_close(tb);
    return rc;
}
