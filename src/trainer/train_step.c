/* train_step.c — one optimizer step, identical on every rank (trainer.h has the outline).
 *
 * fp16 (the loss scaler, expert/optim.h): the backward runs on scale / N times the loss
 * SUM, N = batch_size x (max_length - 1) x grad_accum x world, the most target tokens a
 * step can hold. That is GradScaler's "scale x mean loss" when every window is full, and
 * N, unlike the step's real token count, is known before the backward and the same for
 * every split of the global batch (-n 1 --grad-accum 2 scales like -n 2). After the
 * reduction the gradient is multiplied by N / (scale x count) instead of 1 / count: the
 * true gradient of the mean loss, which clipping and the optimizer see. An Inf/NaN in it
 * (a scaled value overflowed an fp16 operand) with a finite loss is an overflow: the step
 * is skipped and the scale halved. It is decided from the reduced global norm, which every
 * rank holds identically, so all ranks skip together. A non-finite LOSS is not the
 * scaler's business (the forward does not see the scale): --on-nan applies, as in fp32.
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

/* What this rank's micro-batches add up to, before the reduction: the objective (with
 * label smoothing) and the plain cross-entropy that is logged, so that train and
 * validation losses measure the same thing. */
typedef struct {
    double loss_sum, nll_sum;
    long count;
    int data_status;   /* -1: a window held a damaged id (data_err): stop computing, still reduce */
    ed_error data_err;
} local_sums;

/* N of the fp16 loss scaling (above): the most target tokens one step can hold. */
static double nominal_tokens(const ed_trainer *t) {
    const ed_options *o = t->o;
    return (double)o->batch_size * (double)(o->max_length - 1) * (double)o->grad_accum * (double)t->d->world;
}

/* Phase 1, micro-batches: for each a < grad_accum, sampler -> batch -> forward (loss SUM,
 * target count) -> backward (scale 1; fp16: loss scale / N), gradients accumulating in the
 * flat buffer. Only the last micro-batch makes gradients final, so only its backward
 * reports finished ranges and starts the gradient buckets, which run while it continues.
 * --debug-inf-step K: the last rank's last backward of step K runs with an infinite scale,
 * as if its scaled gradients had overflowed; the allreduce carries the Inf to every rank. */
static void micro_batches(ed_trainer *t, local_sums *s) {
    const ed_options *o = t->o;
    float bw_scale = t->st.scaler.scale > 0 ? (float)(t->st.scaler.scale / nominal_tokens(t)) : 1.0f;
    int inject = o->debug_inf_step > 0 && t->st.global_step + 1 == o->debug_inf_step && t->d->rank == t->d->world - 1;
    s->loss_sum = s->nll_sum = 0.0;
    s->count = 0;
    s->data_status = 0;
    ed_gpt_zero_grad(t->model);
    ed_grad_sync_begin(&t->sync);
    for (int a = 0; a < o->grad_accum; a++) {
        int last = a == o->grad_accum - 1;
        int n = ed_sampler_micro_at(&t->train_s, (uint64_t)t->st.epoch_windows, a, t->ids);
        if (n == 0 || s->data_status != 0) continue; /* a partial last step: this rank still joins the reductions */
        if (ed_batch_fill(&t->batch, &t->train_ds, t->ids, n, ed_row_layout_of(o), &s->data_err) != 0) {
            s->data_status = -1;
            continue;
        }
        ed_rng rng;
        dropout_rng(t, a, &rng);
        double ls = 0.0;
        long cnt = 0;
        const ed_batch *b = &t->batch;
        ed_gpt_forward_rows(t->model, b->inputs, b->targets, b->packed ? b->seg : NULL, b->packed ? b->pos : NULL,
                            b->B, b->T, o->label_smoothing, 1, &rng, &ls, &cnt);
        s->loss_sum += ls;
        s->nll_sum += ed_gpt_nll_sum(t->model);
        s->count += cnt;
        ed_gpt_backward(t->model, last && inject ? INFINITY : bw_scale, last ? ed_grad_sync_ready : NULL,
                        last ? &t->sync : NULL);
    }
}

/* Phase 2, reduce: wait for the buckets (allreduce, or reduce-scatter onto the slices),
 * one allreduce of (objective sum, target count, stop signal, plain cross-entropy sum),
 * gradients /= global count (fp16: and unscaled) and the global norm. Every rank ends with
 * the same loss, count and norm. */
static int reduce(ed_trainer *t, const local_sums *s, step_result *r, double *loss_sum, ed_error *err) {
    const trainer_slice *z = &t->slice;
    double tc = ed_now();
    long step = t->st.global_step + 1; /* for the watchdog's message (dist.h) */
    ed_dist_phase(t->d, step, z->zero ? "gradient reduce-scatter" : "gradient allreduce");
    ed_grad_sync_finish(&t->sync);
    ed_dist_phase(t->d, step, "loss allreduce");
    /* one allreduce of every per-step sum (a flag counts the ranks that raised it) */
    enum { SUM_OBJECTIVE, SUM_COUNT, SUM_STOP, SUM_NLL, SUM_DATA_FAILED, N_SUMS };
    double sum[N_SUMS] = {[SUM_OBJECTIVE] = s->loss_sum, [SUM_COUNT] = (double)s->count,
                          [SUM_STOP] = ed_signal_pending() ? 1.0 : 0.0, [SUM_NLL] = s->nll_sum,
                          [SUM_DATA_FAILED] = s->data_status ? 1.0 : 0.0};
    ed_dist_sum(t->d, sum, N_SUMS);
    r->comm_seconds += ed_now() - tc;
    if (sum[SUM_DATA_FAILED] > 0) { /* some rank read a damaged window: all learn its message, all stop */
        if (s->data_status && err) *err = s->data_err;
        return ed_dist_agree(t->d, s->data_status, err);
    }
    *loss_sum = sum[SUM_NLL]; /* the plain cross-entropy feeds the history */
    r->count = (long)sum[SUM_COUNT];
    r->stop_signal = sum[SUM_STOP] > 0;
    if (r->count == 0) { /* cannot happen with n_windows > 0, but never divide by zero */
        r->loss = r->objective = r->grad_norm = NAN;
        return 0;
    }
    r->objective = sum[SUM_OBJECTIVE] / (double)r->count;
    r->loss = sum[SUM_NLL] / (double)r->count;
    float *g = ed_gpt_grads(t->model);
    double unscale = t->st.scaler.scale > 0 ? nominal_tokens(t) / t->st.scaler.scale : 1.0;
    ed_scale(g + z->lo, z->hi - z->lo, (float)(unscale / (double)r->count));
    double ss = ed_sumsq(g + z->lo, z->hi - z->lo);
    ed_dist_phase(t->d, step, "gradient norm allreduce");
    if (z->zero) {
        /* The global norm from the slices: one sum of squares per slice, summed in double
         * over ranks, so the NaN and clipping decisions below agree everywhere. */
        ed_dist_sum(t->d, &ss, 1);
        r->grad_norm = sqrt(ss);
    } else {
        /* Identical reduced gradients give identical norms; the MAX only guards against
         * ranks that summed in a different thread order. */
        r->grad_norm = sqrt(ss);
        ed_dist_max(t->d, &r->grad_norm, 1);
    }
    return 0;
}

/* Phase 3, update: the fp16 overflow skip, NaN policy, clipping, the optimizer at the
 * scheduled lr on this rank's part of the buffer, and under ZeRO-1 the all-gather of the
 * updated slices. */
static int update(ed_trainer *t, step_result *r, ed_error *err) {
    const ed_options *o = t->o;
    const trainer_slice *z = &t->slice;
    int finite_loss = isfinite(r->objective) && isfinite(r->loss);
    if (t->st.scaler.scale > 0 && finite_loss && !isfinite(r->grad_norm)) {
        r->skipped = r->overflow = 1; /* the scaler backs off (trainer_step) */
        return 0;
    }
    if (!finite_loss || !isfinite(r->grad_norm)) {
        r->skipped = 1;
        t->st.nan_skipped++;
        if (o->on_nan == ED_NAN_STOP)
            return ed_fail(err, "step %ld: loss %g, grad norm %g is not finite (--on-nan stop)", t->st.global_step + 1,
                           r->loss, r->grad_norm);
        if (t->d->rank == 0)
            fprintf(stderr, "warning: step %ld: loss %g, grad norm %g is not finite: update skipped (%ld so far)\n",
                    t->st.global_step + 1, r->loss, r->grad_norm, t->st.nan_skipped);
        return 0;
    }
    float *g = ed_gpt_grads(t->model);
    if (o->max_grad_norm > 0) {
        float f = ed_clip_factor(r->grad_norm, o->max_grad_norm);
        if (f != 1.0f) ed_scale(g + z->lo, z->hi - z->lo, f);
    }
    ed_optim_step(&t->optim, ed_gpt_params(t->model), g, ed_gpt_tensors(t->model), ed_gpt_num_tensors(t->model),
                  (float)r->lr);
    if (z->zero) { /* each rank updated its slice: share them */
        double tz = ed_now();
        ed_dist_phase(t->d, t->st.global_step + 1, "parameter allgather");
        ed_dist_allgather_slices(t->d, ed_gpt_params(t->model), z->counts, z->displs);
        r->comm_seconds += ed_now() - tz;
    }
    return 0;
}

int trainer_step(ed_trainer *t, step_result *r, ed_error *err) {
    ed_train_state *st = &t->st;
    memset(r, 0, sizeof *r);
    r->lr = trainer_lr(t, st->global_step);

    local_sums local;
    double loss_sum = 0.0;
    micro_batches(t, &local);
    if (reduce(t, &local, r, &loss_sum, err) != 0) return -1;
    if (update(t, r, err) != 0) return -1;
    /* the scaler judges every step it took part in; a NaN loss (skipped above) leaves it */
    if (t->st.scaler.scale > 0 && (!r->skipped || r->overflow))
        ed_loss_scaler_update(&st->scaler, r->overflow, t->o->loss_scale_growth_interval);

    /* an overflow skip still measured a finite loss on the step's tokens */
    if (!r->skipped || r->overflow) {
        st->epoch_loss_sum += loss_sum;
        st->epoch_count += r->count;
        st->log_loss_sum += loss_sum;
        st->log_count += r->count;
        st->tokens_seen += r->count;
    }
    st->global_step++;
    st->step_in_epoch++;
    st->epoch_windows += (long)ed_sampler_step_windows(&t->train_s, (uint64_t)st->epoch_windows);

    int check = t->o->check_every > 0 && st->global_step % t->o->check_every == 0;
    if (check && ed_dist_check_same(t->d, ed_gpt_params(t->model), ed_gpt_num_params(t->model), err) != 0) {
        ed_error e = *err;
        return ed_fail(err, "step %ld: %s", st->global_step, e.msg);
    }
    return 0;
}
