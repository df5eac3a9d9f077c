/* train_setup.c — from options to a ready trainer: data, tokenizer, model, optimizer,
 * and (with --resume) the state of an earlier run.
 *
 * Each stage that reads input ends in ed_dist_agree(): if any rank failed, every rank
 * returns the same error and nobody is left waiting in a later collective. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "expert/prepared.h"
#include "expert/progress.h"
#include "trainer_internal.h"

/* Reads the documents of an input spec (files, directories, globs; .gz/.zst too). */
static int read_docs(const ed_options *o, const char *path, ed_docs *docs, ed_error *err) {
    ed_read_options ro = {.text_field = o->text_field, .skip_bad_lines = o->skip_bad_lines,
                          .format = o->format};
    return ed_docs_read_inputs(path, &ro, docs, err);
}

/* Rank 0 builds the vocabulary and sends it to the others: one build instead of N on a
 * shared node, and the replicas are guaranteed to agree on every id. */
static int build_tokenizer(ed_trainer *t, const ed_docs *docs, ed_error *err) {
    const ed_options *o = t->o;
    int status = 0;
    char *blob = NULL;
    long len = 0;
    if (t->d->rank == 0) {
        ed_tok_options to = {.kind = o->tokenizer,
                             .vocab_size = o->vocab_size, .min_freq = o->min_freq, .lowercase = o->lowercase};
        ed_tokenizer *tok = ed_tok_train(&to, (const char *const *)docs->text, docs->len, docs->n, err);
        if (!tok) {
            status = -1;
        } else {
            size_t n = 0;
            blob = ed_tok_serialize(tok, &n);
            len = (long)n;
            ed_tok_free(tok);
        }
    }
    if (ed_dist_agree(t->d, status, err) != 0) return -1;
    ed_dist_bcast(t->d, &len, sizeof len, 0);
    if (t->d->rank != 0) blob = ed_malloc((size_t)len + 1);
    /* Bcast counts are int: a vocabulary file above 2 GB is not a case worth supporting. */
    ED_CHECK(len < 0x7fffffffL, "serialized tokenizer too large (%ld bytes)", len);
    ed_dist_bcast(t->d, blob, (int)len, 0);
    blob[len] = '\0';
    t->tok = ed_tok_deserialize(blob, (size_t)len, err);
    free(blob);
    return ed_dist_agree(t->d, t->tok ? 0 : -1, err);
}

/* --data-file: a prepared token file (expert-dist prepare) replaces reading and
 * tokenizing text. Its tokenizer is the one the ids were made with; on resume the
 * checkpoint's must be the same size, or the ids would mean other words. Every rank
 * maps the token array (any window may come to any rank; the page cache holds one copy
 * per node). */
static int load_prepared(ed_trainer *t, const ed_window_options *wo, ed_error *err) {
    const ed_options *o = t->o;
    ed_prepared_info info;
    int status = ed_prepared_info_read(o->data_file, &info, err);
    if (ed_dist_agree(t->d, status, err) != 0) return -1;
    if (!t->tok) t->tok = ed_prepared_tokenizer(o->data_file, err); /* else the checkpoint's */
    if (ed_dist_agree(t->d, t->tok ? 0 : -1, err) != 0) return -1;
    status = 0;
    if (ed_tok_vocab_size(t->tok) != info.vocab_size)
        status = ed_fail(err, "%s: tokens made with a %lld-token vocabulary, the checkpoint's has %d", o->data_file,
                         (long long)info.vocab_size, ed_tok_vocab_size(t->tok));
    if (status == 0) status = ed_dataset_load_prepared(&t->train_ds, o->data_file, "train", wo, err);
    t->has_val = info.has_val;
    if (status == 0 && t->has_val) status = ed_dataset_load_prepared(&t->val_ds, o->data_file, "val", wo, err);
    if (ed_dist_agree(t->d, status, err) != 0) return -1;
    if (t->d->rank == 0 && (!t->train_ds.tokens || (t->has_val && !t->val_ds.tokens)))
        fprintf(stderr, "warning: %s: the token dataset is chunked or compressed, so it cannot be memory-mapped: "
                        "windows are read by hyperslab (slower; `expert-dist prepare` writes it contiguous)\n",
                o->data_file);
    /* one line when start-up had to pass over the documents (the file stores no window
     * index for this shape): the train split's, or else the val split's */
    const char *note = t->train_ds.note[0] ? t->train_ds.note : t->val_ds.note;
    if (t->verbose && note[0]) printf("info: %s\n", note);
    return 0;
}

/* --resume: which file, and the model/data shape stored in it. */
static int resolve_resume(ed_trainer *t, ed_error *err) {
    ed_options *o = &t->options;
    if (!o->resume[0]) return 0;
    int status = 0;
    if (strcmp(o->resume, "auto") == 0) {
        char path[ED_PATH_MAX] = "";
        int found = 0;
        if (t->d->rank == 0) {
            found = ed_ckpt_find_latest(o->checkpoint_dir, path, sizeof path, err);
            if (found < 0) status = -1;
        }
        if (ed_dist_agree(t->d, status, err) != 0) return -1;
        ed_dist_bcast(t->d, &found, sizeof found, 0);
        ed_dist_bcast(t->d, path, sizeof path, 0);
        if (!found) {
            if (t->verbose) printf("resume auto: no checkpoint in %s, starting fresh\n", o->checkpoint_dir);
            return 0;
        }
        snprintf(t->resume_path, sizeof t->resume_path, "%s", path);
    } else {
        snprintf(t->resume_path, sizeof t->resume_path, "%s", o->resume);
    }
    /* The model, its windows, tokenizer, seed and optimizer are the checkpoint's (and the
     * values of its preset that the user did not set); the rest (epochs, lr,
     * intervals...) may be changed on the command line of the resumed run. What the user
     * set and the checkpoint overrules is said in one line. The weights are read here;
     * the optimizer and trainer state in load_state. */
    ed_dictated dict = {0};
    t->resume_ckpt = ed_ckpt_open(t->resume_path, err);
    status = t->resume_ckpt
                 ? ed_ckpt_load(t->resume_ckpt, ED_CMD_TRAIN, o, &t->mach, &t->tok, &t->model, &dict, err)
                 : -1;
    if (ed_dist_agree(t->d, status, err) != 0) return -1;
    if (dict.n > 0 && t->d->rank == 0)
        fprintf(stderr, "warning: --resume: ignoring %s (the checkpoint's %s)\n", dict.user, dict.stored);
    /* The writer's global batch, for the resume line (and to place a format-1 file's
     * position): its batch-size and grad-accum as stored (x its ranks: load_state). */
    ed_options ck = *o;
    status = ed_ckpt_read_options(t->resume_ckpt, ED_CMD_INSPECT, &ck, err);
    if (ed_dist_agree(t->d, status, err) != 0) return -1;
    t->resume_batch = (long)ck.batch_size * ck.grad_accum;
    return 0;
}

/* --init-from (when there is nothing to resume): the model shape and tokenizer kind are
 * the checkpoint's; the window may be shorter than its positions, never longer. */
static int resolve_init(ed_trainer *t, ed_error *err) {
    ed_options *o = &t->options;
    if (t->resume_path[0] || !o->init_from[0]) return 0;
    snprintf(t->init_path, sizeof t->init_path, "%s", o->init_from);
    /* What the checkpoint dictates to a model user (shape, windows, tokenizer), except
     * the fine-tuning choices: window length, stride, dropout. The weights are read once
     * the model exists (trainer_setup). */
    const ed_options user = *o;
    t->init_ckpt = ed_ckpt_open(t->init_path, err);
    int status = t->init_ckpt ? ed_ckpt_read_options(t->init_ckpt, ED_CKPT_USES_MODEL, o, err) : -1;
    if (status == 0) {
        t->tok = ed_ckpt_read_tokenizer(t->init_ckpt, err);
        if (!t->tok) status = -1;
    }
    if (ed_dist_agree(t->d, status, err) != 0) return -1;
    o->max_length = user.max_length;
    o->stride = user.stride;
    o->model.dropout = user.model.dropout;
    if (o->max_length > o->model.max_seq_len) {
        if (t->verbose)
            printf("init-from: max-length %d > the model's %d positions: using %d\n", o->max_length,
                   o->model.max_seq_len, o->model.max_seq_len);
        o->max_length = o->model.max_seq_len;
        if (o->stride > o->max_length) o->stride = o->max_length;
    }
    if (t->verbose) printf("initialising from %s (new optimizer state, step 0)\n", t->init_path);
    return 0;
}

static int load_state(ed_trainer *t, ed_error *err) {
    int status = ed_ckpt_read_optim(t->resume_ckpt, &t->optim, t->model, err);
    if (status == 0) {
        ed_history_free(&t->hist);
        t->st.epoch_windows = -1; /* a format-1 file does not have these two */
        t->st.patience_best = NAN;
        status = ed_ckpt_read_state(t->resume_ckpt, &t->st, &t->hist, err);
    }
    ed_ckpt_close(t->resume_ckpt); /* everything is read */
    t->resume_ckpt = NULL;
    if (ed_dist_agree(t->d, status, err) != 0) return -1;
    t->resume_batch *= t->st.world_size;
    /* Format 1 counted the epoch in steps only: at that run's global batch they covered
     * step_in_epoch x G windows. */
    if (t->st.epoch_windows < 0) t->st.epoch_windows = t->st.step_in_epoch * t->resume_batch;
    /* ... and validated on schedule only. */
    if (isnan(t->st.patience_best)) t->st.patience_best = t->st.best_val_loss;
    return 0;
}

/* The training windows against the ones the checkpoint was trained on. A resume in
 * mid-epoch continues the epoch's window order where it stopped: on other data that
 * order means other windows (some never seen, or none left), so it is refused unless
 * --allow-data-change, which restarts the epoch on the new data. At an epoch boundary
 * new data simply starts the next epoch. Every rank holds the same windows (checked by
 * trainer_check_consistent), so every rank decides the same. */
static int check_resume_data(ed_trainer *t, uint64_t fp, ed_error *err) {
    ed_train_state *st = &t->st;
    uint64_t was = st->data_fingerprint;
    st->data_fingerprint = fp;
    if (!t->resume_path[0] || was == 0 || was == fp || st->epoch_windows == 0) return 0;
    if (!t->o->allow_data_change)
        return ed_fail(err, "%s: resuming in mid-epoch (epoch %d, %ld windows done) on other training data: "
                            "the checkpoint's fingerprint is %016llx, this data's %016llx "
                            "(--allow-data-change restarts the epoch on the new data)",
                       t->resume_path, st->epoch + 1, st->epoch_windows, (unsigned long long)was,
                       (unsigned long long)fp);
    if (t->verbose)
        printf("--allow-data-change: training data fingerprint %016llx -> %016llx: epoch %d restarts\n",
               (unsigned long long)was, (unsigned long long)fp, st->epoch + 1);
    st->epoch_windows = 0;
    st->step_in_epoch = 0;
    st->epoch_loss_sum = 0;
    st->epoch_count = 0;
    return 0;
}

/* After a resume: where the epoch continues, in one line. The position is a count of
 * windows of the epoch's permutation (which depends on seed and epoch only), so another
 * global batch or world size neither skips nor repeats a window: the remaining windows
 * are cut into steps of the new size. */
static void report_resume(ed_trainer *t) {
    ed_train_state *st = &t->st;
    long n = (long)t->train_ds.n_windows, G = (long)t->o->batch_size * t->o->grad_accum * t->d->world;
    if (st->epoch_windows > n) st->epoch_windows = n;
    if (t->verbose) {
        printf("resuming from %s: epoch %d, %ld of %ld windows done, global step %ld", t->resume_path, st->epoch + 1,
               st->epoch_windows, n, st->global_step);
        if (G != t->resume_batch)
            printf("; global batch %ld -> %ld windows (%d rank(s)): %ld step(s) left in this epoch", t->resume_batch,
                   G, t->d->world, (n - st->epoch_windows + G - 1) / G);
        printf("\n");
    }
    st->world_size = t->d->world;
}

/* What the user asked of a restored run: --more-epochs N sets the target to the epochs
 * the checkpoint completed plus N and clears an early stop (with a fresh patience
 * count); otherwise the restored stop flag holds only if this run's patience still
 * says stop (a resumed run with --early-stopping-patience 0 or a larger one goes on).
 * Every rank computes the same from the same state and options. */
static void continue_stopped(ed_trainer *t) {
    ed_options *o = &t->options;
    ed_train_state *st = &t->st;
    if (o->more_epochs > 0) {
        o->epochs = st->epoch + o->more_epochs;
        if (t->verbose)
            printf("--more-epochs %d: training to epoch %d%s\n", o->more_epochs, o->epochs,
                   st->stop ? " (the early stop of the checkpoint is cleared)" : "");
        if (st->stop) st->bad_evals = 0;
        st->stop = 0;
        o->more_epochs = 0; /* the effective config says epochs = the target */
        return;
    }
    int patience = o->early_stopping_patience;
    if (st->stop && !(patience > 0 && st->bad_evals >= patience)) {
        if (t->verbose)
            printf("continuing an early-stopped run: %d validation(s) without improvement, patience now %d\n",
                   st->bad_evals, patience);
        st->stop = 0;
    }
}

/* Threads per rank (warning once per oversubscribed node), the machine the GEMM backend
 * is chosen for, and the banner's host list. */
static void setup_process(ed_trainer *t) {
    const ed_dist *d = t->d;
    int over = 0;
    t->threads = ed_dist_threads(d, t->o->threads, &over);
    /* Said once per node that is oversubscribed, by that node's first rank. */
    if (over && d->local_rank == 0)
        fprintf(stderr, "warning: %s: %d ranks x %d threads exceed its %d cores\n", d->host, d->local_size,
                t->threads, d->node_cores);
    ed_set_threads(t->threads);
    ed_machine_probe(&t->mach);
    t->hosts = ed_dist_hosts_summary(d, t->threads);
}

/* Text files: documents -> tokenizer (the checkpoint's, --vocab-file, or built from the
 * training documents) -> windows. */
static int load_text(ed_trainer *t, const ed_window_options *wo, ed_error *err) {
    const ed_options *o = t->o;
    const ed_dist *d = t->d;
    ed_docs train_docs = {0}, val_docs = {0};
    int status = read_docs(o, o->train_file, &train_docs, err);
    if (status == 0 && o->val_file[0]) status = read_docs(o, o->val_file, &val_docs, err);
    status = ed_dist_agree(d, status, err);
    if (status == 0 && d->rank == 0) /* every rank read the same lines: one warning for the job */
        ed_docs_warn_skipped(train_docs.skipped + val_docs.skipped,
                             train_docs.skipped ? train_docs.first_bad : val_docs.first_bad);
    if (status == 0 && !t->tok && o->vocab_file[0]) { /* t->tok set: resumed, or --init-from */
        t->tok = ed_tok_load(o->vocab_file, err);
        status = ed_dist_agree(d, t->tok ? 0 : -1, err);
    } else if (status == 0 && !t->tok) {
        status = build_tokenizer(t, &train_docs, err);
    }
    if (status == 0) {
        status = ed_dataset_build(&t->train_ds, &train_docs, t->tok, wo, err);
        t->has_val = o->val_file[0] != '\0';
        if (status == 0 && t->has_val) status = ed_dataset_build(&t->val_ds, &val_docs, t->tok, wo, err);
        status = ed_dist_agree(d, status, err);
    }
    ed_docs_free(&train_docs);
    ed_docs_free(&val_docs);
    return status;
}

/* The model (new, or resumed), the optimizer over this rank's slice, the train state
 * (restored on resume, weights from --init-from), then rank 0's weights on every rank. */
static int setup_model(ed_trainer *t, ed_error *err) {
    const ed_options *o = t->o;
    const ed_dist *d = t->d;
    if (!t->model) t->model = ed_ckpt_model_new(o, ed_tok_vocab_size(t->tok), &t->mach, err); /* else resumed */
    if (ed_dist_agree(d, t->model ? 0 : -1, err) != 0) return -1;
    size_t np = ed_gpt_num_params(t->model);
    /* ZeRO-1: each rank keeps the optimizer moments of one slice only; the gradient is
     * reduce-scattered onto the slices, each rank updates its slice and the parameters are
     * all-gathered. The per-element update is unchanged, but the reduction runs in another
     * order (reduce-scatter instead of allreduce) and the norm is a sum of per-slice sums,
     * so results match --zero 0 within float32 rounding, not bit for bit. */
    trainer_slice *z = &t->slice;
    z->zero = o->zero == 1 && d->world > 1;
    z->lo = 0;
    z->hi = np;
    if (z->zero) {
        z->counts = ed_malloc((size_t)d->world * sizeof(int));
        z->displs = ed_malloc((size_t)d->world * sizeof(int));
        ed_dist_slices(d, np, z->counts, z->displs, &z->lo, &z->hi);
    }
    ed_optim_init(&t->optim, o->optimizer, z->lo, z->hi, o->beta1, o->beta2, o->eps, o->weight_decay, o->momentum);
    ed_train_state_init(&t->st, o->seed, d->world);
    if (t->resume_path[0] && load_state(t, err) != 0) return -1;
    if (check_resume_data(t, ed_dataset_fingerprint(&t->train_ds), err) != 0) return -1;
    if (t->init_path[0]) {
        int status = ed_ckpt_read_model(t->init_ckpt, t->model, err);
        ed_ckpt_close(t->init_ckpt);
        t->init_ckpt = NULL;
        if (ed_dist_agree(d, status, err) != 0) return -1;
    }
    continue_stopped(t);
    /* The loss scaler runs in fp16 only. A fresh fp16 run, or one resumed from a checkpoint
     * without a scale (an fp32 or bf16 run, or an older file), starts it at
     * --loss-scale-init; a resumed fp16 run continues the checkpoint's scale and tracker.
     * Other precisions switch it off, so a later fp16 leg starts afresh. The count of
     * skipped steps is the run's and stays. */
    if (o->precision == ED_PREC_FP16) {
        if (!(t->st.scaler.scale > 0)) ed_loss_scaler_init(&t->st.scaler, o->loss_scale_init);
    } else {
        t->st.scaler.scale = 0.0;
        t->st.scaler.growth_tracker = 0;
    }
    /* Every rank initialised (or loaded) the same weights, unless a node's libm rounds
     * differently or its copy of the checkpoint differs: rank 0's copy wins, so the
     * replicas start bit-identical whatever the nodes are. */
    ed_dist_bcast_floats(d, ed_gpt_params(t->model), np, 0);
    /* packed per-window rows take a new width every micro-batch (set before the GEMM pick
     * measures, so it times what the run will execute) */
    ed_gpt_set_varying_rows(t->model, ed_row_layout_of(o) == ED_ROWS_PACKED);
    return 0;
}

/* Sharding, the batch buffers, the gradient buckets. */
static void setup_batches(ed_trainer *t) {
    const ed_options *o = t->o;
    const ed_dist *d = t->d;
    size_t np = ed_gpt_num_params(t->model);
    ed_sampler_init(&t->train_s, t->train_ds.n_windows, o->batch_size, o->grad_accum, d->rank, d->world,
                    o->seed, 1);
    /* Micro-batches balanced by padded tokens (dataset.h): a slot may hold more, shorter,
     * rows than batch_size, never more tokens than batch_size x (max_length - 1). */
    ed_row_layout layout = ed_row_layout_of(o);
    ed_sampler_set_layout(&t->train_s, &t->train_ds, layout);
    size_t max_rows = ed_sampler_max_rows(&t->train_s);
    if (t->has_val) {
        ed_sampler_init(&t->val_s, t->val_ds.n_windows, o->batch_size, 1, d->rank, d->world, o->seed, 0);
        ed_sampler_set_layout(&t->val_s, &t->val_ds, layout);
        if (ed_sampler_max_rows(&t->val_s) > max_rows) max_rows = ed_sampler_max_rows(&t->val_s);
    }
    ed_batch_init(&t->batch, o->batch_size, o->max_length - 1);
    ed_gpt_reserve(t->model, o->batch_size, o->max_length - 1); /* no step grows it (page faults) */
    t->ids = ed_malloc(max_rows * sizeof *t->ids);
    if (t->slice.zero)
        ed_grad_sync_init_scatter(&t->sync, d->comm, ed_gpt_grads(t->model), np, o->bucket_mb << 20, t->slice.counts,
                                  t->slice.displs);
    else
        ed_grad_sync_init(&t->sync, d->comm, ed_gpt_grads(t->model), np, o->bucket_mb << 20);
    if (!t->slice.zero && o->grad_comm == ED_COMM_BF16) ed_grad_sync_set_bf16(&t->sync);
    t->sync.watch = d->watch; /* the bucket waits under --comm-timeout too */
}

/* The run's step counts, FLOPs per token and the MFU reference, and the paths and
 * config text the loop writes. */
static void setup_run_totals(ed_trainer *t) {
    const ed_options *o = t->o;
    size_t np = ed_gpt_num_params(t->model);
    t->steps_per_epoch = ed_sampler_steps(&t->train_s);
    t->epoch_steps = trainer_epoch_steps(t);
    /* The steps taken so far, the rest of this epoch, the full epochs after it: equal to
     * steps_per_epoch x epochs unless a resume changed the global batch. */
    t->total_steps = t->st.global_step;
    if (t->st.epoch < t->o->epochs)
        t->total_steps += t->epoch_steps - t->st.step_in_epoch + t->steps_per_epoch * (t->o->epochs - t->st.epoch - 1);
    if (o->max_steps > 0 && o->max_steps < t->total_steps) t->total_steps = o->max_steps;
    t->timing.flops_per_token = ed_flops_per_token(ed_gpt_config(t->model), np, o->max_length - 1);
    t->timing.mem = ed_mem_none();
    trainer_mfu_reference(t); /* collective */
    t->config_json = ed_options_to_json(t->o);
    if (o->history_file[0])
        snprintf(t->history_path, sizeof t->history_path, "%s", o->history_file);
    else
        snprintf(t->history_path, sizeof t->history_path, "%s/history.json", o->checkpoint_dir);
    snprintf(t->log_path, sizeof t->log_path, "%s/train.log", o->checkpoint_dir);
}

int trainer_setup(ed_trainer *t, const ed_options *o, const ed_dist *d, ed_error *err) {
    memset(t, 0, sizeof *t);
    t->options = *o;
    t->o = &t->options;
    o = t->o; /* from here on the effective options: a resume replaces some (resolve_resume) */
    t->d = d;
    t->verbose = d->rank == 0 && !o->quiet;
    t->tty = d->rank == 0 && ed_progress_bar_wanted(stdout);
    setup_process(t);
    if (resolve_resume(t, err) != 0 || resolve_init(t, err) != 0) return -1;

    /* the data: a prepared token file, or text */
    ed_window_options wo = {.max_length = o->max_length, .stride = o->stride, .pack = o->pack,
                            .loss_on = o->loss_on, .truncate = o->truncate};
    if ((o->data_file[0] ? load_prepared(t, &wo, err) : load_text(t, &wo, err)) != 0) return -1;
    /* --val-generate: every rank reads the references (each generates its share) */
    if (o->val_generate[0]) {
        int rs = t->has_val ? ed_refs_read(o->val_generate, &t->gen_refs, err)
                            : ed_fail(err, "--val-generate scores at validations: give --val-file (or --data-file with a val split)");
        if (ed_dist_agree(d, rs, err) != 0) return -1;
    }
    /* Before anything whose collectives depend on the data: a rank with other data would
     * run another number of steps and hang the others at the end of its epoch. */
    if (trainer_check_consistent(t, err) != 0) return -1;

    if (setup_model(t, err) != 0 || trainer_pick_gemm(t, err) != 0) return -1;
    setup_batches(t);
    if (t->resume_path[0]) report_resume(t);
    setup_run_totals(t);
    return 0;
}

void trainer_free(ed_trainer *t) {
    /* A run that failed may leave a write in flight: let it finish (its outcome no longer
     * matters to this run; a failed one removed its .tmp). */
    ed_ckpt_writer_free(&t->writer);
    ed_ckpt_close(t->resume_ckpt); /* left open when setup failed half-way */
    ed_ckpt_close(t->init_ckpt);
    if (t->tok) ed_tok_free(t->tok);
    ed_dataset_free(&t->train_ds);
    if (t->has_val) ed_dataset_free(&t->val_ds);
    if (t->train_s.step_win) ed_sampler_free(&t->train_s);
    if (t->val_s.step_win) ed_sampler_free(&t->val_s);
    if (t->batch.inputs) ed_batch_free(&t->batch);
    free(t->ids);
    ed_refs_free(&t->gen_refs);
    if (t->model) {
        ed_optim_free(&t->optim);
        ed_grad_sync_free(&t->sync);
        ed_gpt_free(t->model);
    }
    ed_history_free(&t->hist);
    free(t->config_json);
    free(t->hosts);
    free(t->slice.counts);
    free(t->slice.displs);
    memset(t, 0, sizeof *t);
}
