/* evaluate.c — validation: every rank runs forward on its shard of the windows (no
 * shuffling, no dropout), then ONE allreduce of (loss sum, tokens, correct argmax) gives
 * every rank the same metrics. Inside the loop only the stop-signal poll (while training):
 * a pass over a long validation set (minutes) must not outlast Slurm's notice. The sampler
 * gives every rank the same number of steps (an empty micro-batch where a shard is short),
 * so every rank polls equally often.
 *
 * Test hook: ED_EVAL_DEBUG_DELAY=SECONDS sleeps before each batch (a long validation on
 * a tiny model, for the signal tests; results unchanged). */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "trainer_internal.h"

int ed_trainer_evaluate(ed_gpt *m, const ed_dataset *ds, ed_sampler *s, ed_batch *b, uint32_t *ids,
                        ed_row_layout layout, const ed_dist *d, ed_eval_result *r, ed_error *err) {
    double sums[4] = {0, 0, 0, 0};
    int status = 0;
    long steps = ed_sampler_steps(s);
    const char *delay_env = getenv("ED_EVAL_DEBUG_DELAY");
    double delay = delay_env ? atof(delay_env) : 0.0;
    for (long step = 0; step < steps; step++) {
        if (delay > 0) {
            struct timespec ts = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
            nanosleep(&ts, NULL); /* a signal ends it early: the poll below sees the flag */
        }
        /* the poll agrees on every rank (a collective), so all leave at the same batch */
        int sig = ed_signal_agreed(d);
        if (sig) return sig;
        int n = ed_sampler_micro(s, step, 0, ids);
        if (n == 0 || status != 0) continue;
        if (ed_batch_fill(b, ds, ids, n, layout, err) != 0) {
            /* a damaged window: no more work here (the polls go on), the others learn it from the sum */
            sums[3] = 1, status = -1;
            continue;
        }
        double ls = 0.0;
        long cnt = 0;
        ed_gpt_forward_rows(m, b->inputs, b->targets, b->packed ? b->seg : NULL, b->packed ? b->pos : NULL, b->B, b->T,
                            0.0f, 0, NULL, &ls, &cnt);
        sums[0] += ls;
        sums[1] += (double)cnt;
        sums[2] += (double)ed_gpt_correct(m);
    }
    ed_dist_sum(d, sums, 4);
    if (sums[3] > 0) return ed_dist_agree(d, status, err);
    r->tokens = (long)sums[1];
    r->loss = sums[1] > 0 ? sums[0] / sums[1] : NAN;
    r->perplexity = exp(r->loss);
    r->accuracy = sums[1] > 0 ? sums[2] / sums[1] : NAN;
    r->bleu = r->rouge1 = r->rouge2 = r->rougeL = NAN;
    return 0;
}
