/* train_step.c — one optimizer step, identical on every rank (trainer.h has the outline).
 *
 * Invariants:
 *  - every rank reaches every collective in the same order, even with zero windows in some
 *    (or all) of its micro-batches: the bucket launches and the scalar allreduce below run
 *    unconditionally;
 *  - after the reduction every rank holds the same gradient (under ZeRO-1: the reduced
 *    gradient of its own slice), takes the same decisions (NaN skip, clipping) from the
 *    same reduced numbers and applies the same update (ZeRO-1: to its slice, then the
 *    parameters are all-gathered). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer_internal.h"

/* Dropout masks come from (seed, global step, slot): a pure function, so a resumed run
 * draws the same masks without saving a generator position. */
static void dropout_rng(const ed_trainer *t, int micro, ed_rng *r) {
    uint64_t slot = (uint64_t)micro * (uint64_t)t->d->world + (uint64_t)t->d->rank;
    ed_rng_seed(r, t->st.seed ^ 0x64726f706f7574ULL, ((uint64_t)t->st.global_step << 24) ^ slot);
}

double trainer_lr(const ed_trainer *t, long step) {
    const ed_options *o = t->o;
    return ed_lr_at(o->lr_schedule, o->lr, o->min_lr, o->warmup_steps, t->total_steps, step);
}

long trainer_epoch_steps(const ed_trainer *t) {
    long n = (long)t->train_ds.n_windows, G = (long)t->o->batch_size * t->o->grad_accum * t->d->world;
    long left = n > t->st.epoch_windows ? n - t->st.epoch_windows : 0;
    return t->st.step_in_epoch + (left + G - 1) / G;
}

int trainer_step(ed_trainer *t, step_result *r, ed_error *err) {
    const ed_options *o = t->o;
    ed_train_state *st = &t->st;
    memset(r, 0, sizeof *r);

    if (o->debug_exit_step > 0 && st->global_step == o->debug_exit_step && t->d->rank == o->debug_exit_rank) {
        fprintf(stderr, "expert-dist: rank %d: --debug-exit-step %ld reached, exiting with status 1\n", t->d->rank,
                o->debug_exit_step);
        exit(ED_EXIT_FAILURE); /* deliberately without MPI_Finalize: mpirun must abort the job */
    }

    double t0 = ed_now();
    ed_gpt_zero_grad(t->model);
    ed_grad_sync_begin(&t->sync);
    double local_loss = 0.0, local_nll = 0.0;
    long local_count = 0;
    for (int a = 0; a < o->grad_accum; a++) {
        int n = ed_sampler_micro_at(&t->train_s, (uint64_t)st->epoch_windows, a, t->ids);
        if (n == 0) continue; /* a partial last step: this rank still joins the reductions below */
        ed_batch_fill(&t->batch, &t->train_ds, t->ids, n, o->pad_to_max);
        ed_rng rng;
        dropout_rng(t, a, &rng);
        double ls = 0.0;
        long cnt = 0;
        ed_gpt_forward(t->model, t->batch.inputs, t->batch.targets, t->batch.B, t->batch.T, o->label_smoothing, 1,
                       &rng, &ls, &cnt);
        local_loss += ls;
        local_nll += ed_gpt_nll_sum(t->model);
        local_count += cnt;
        /* Only the last micro-batch makes gradients final, so only it may start buckets. */
        int last = a == o->grad_accum - 1;
        ed_gpt_backward(t->model, 1.0f, last ? ed_grad_sync_ready : NULL, last ? &t->sync : NULL);
    }
    double tc = ed_now();
    ed_grad_sync_finish(&t->sync);
    /* loss: the objective (with label smoothing); nll: the plain cross-entropy that is
     * logged, so that train and validation losses measure the same thing */
    double scal[4] = {local_loss, (double)local_count, ed_signal_pending() ? 1.0 : 0.0, local_nll};
    ed_dist_sum(t->d, scal, 4);
    double comm = ed_now() - tc;

    r->count = (long)scal[1];
    r->stop_signal = scal[2] > 0;
    r->lr = trainer_lr(t, st->global_step);
    float *g = ed_gpt_grads(t->model);
    size_t np = ed_gpt_num_params(t->model);
    /* The part of g this rank may read: all of it, or under ZeRO-1 its reduced slice
     * (the rest of the buffer is the reduce-scatter's scratch, see dist.h). */
    size_t lo = t->zero ? t->opt_state.lo : 0, hi = t->zero ? t->opt_state.hi : np;
    if (r->count > 0) {
        r->objective = scal[0] / (double)r->count;
        r->loss = scal[3] / (double)r->count;
        ed_scale(g + lo, hi - lo, (float)(1.0 / (double)r->count));
        double norm;
        if (t->zero) {
            /* The global norm from the shards: one sum of squares per slice, summed in
             * double over ranks. Every rank gets the same sum, so the NaN and clipping
             * decisions below agree everywhere. */
            double ss = ed_sumsq(g + lo, hi - lo);
            ed_dist_sum(t->d, &ss, 1);
            norm = sqrt(ss);
        } else {
            /* Identical reduced gradients give identical norms; the MAX only guards against
             * ranks that summed in a different thread order. */
            norm = sqrt(ed_sumsq(g, np));
            ed_dist_max(t->d, &norm, 1);
        }
        r->grad_norm = norm;
    } else {
        r->loss = r->objective = NAN; /* cannot happen with n_windows > 0, but never divide by zero */
        r->grad_norm = NAN;
    }

    if (!isfinite(r->objective) || !isfinite(r->loss) || !isfinite(r->grad_norm)) {
        r->skipped = 1;
        st->nan_skipped++;
        if (o->on_nan == ED_NAN_STOP)
            return ed_fail(err, "step %ld: loss %g, grad norm %g is not finite (--on-nan stop)", st->global_step + 1,
                           r->loss, r->grad_norm);
        if (t->d->rank == 0)
            fprintf(stderr, "warning: step %ld: loss %g, grad norm %g is not finite: update skipped (%ld so far)\n",
                    st->global_step + 1, r->loss, r->grad_norm, st->nan_skipped);
    } else {
        if (o->max_grad_norm > 0) {
            float f = ed_clip_factor(r->grad_norm, o->max_grad_norm);
            if (f != 1.0f) ed_scale(g + lo, hi - lo, f);
        }
        ed_optim_step(&t->opt_state, ed_gpt_params(t->model), g, ed_gpt_tensors(t->model),
                      ed_gpt_num_tensors(t->model), (float)r->lr);
        if (t->zero) { /* each rank updated its slice: share them */
            double tz = ed_now();
            ed_dist_allgather_slices(t->d, ed_gpt_params(t->model), t->zero_counts, t->zero_displs);
            comm += ed_now() - tz;
        }
        st->epoch_loss_sum += scal[3];
        st->epoch_count += r->count;
        st->log_loss_sum += scal[3];
        st->log_count += r->count;
        st->tokens_seen += r->count;
    }
    st->global_step++;
    st->step_in_epoch++;
    st->epoch_windows += (long)ed_sampler_step_windows(&t->train_s, (uint64_t)st->epoch_windows);

    if (o->check_every > 0 && st->global_step % o->check_every == 0 &&
        ed_dist_check_same(t->d, ed_gpt_params(t->model), np, err) != 0) {
        ed_error e = *err;
        return ed_fail(err, "step %ld: %s", st->global_step, e.msg);
    }
    /* The first step of a process pays for first-touch allocations and cold caches: keep it
     * out of the throughput figures (it is used only when it is the only step). */
    double dt = ed_now() - t0;
    if (t->steps_run++ == 0) {
        t->first_seconds = dt;
        t->first_comm = comm;
        t->first_tokens = r->count;
    } else {
        t->step_seconds += dt;
        t->comm_seconds += comm;
        t->tokens_run += r->count;
    }
    return 0;
}
