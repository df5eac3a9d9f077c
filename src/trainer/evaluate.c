/* evaluate.c — validation: every rank runs forward on its shard of the windows (no
 * shuffling, no dropout), then ONE allreduce of (loss sum, tokens, correct argmax) gives
 * every rank the same metrics. No collective inside the loop, so uneven shards are fine. */
#include <math.h>

#include "trainer_internal.h"

int ed_trainer_evaluate(ed_gpt *m, const ed_dataset *ds, ed_sampler *s, ed_batch *b, uint32_t *ids,
                        ed_row_layout layout, const ed_dist *d, ed_eval_result *r, ed_error *err) {
    double sums[4] = {0, 0, 0, 0};
    int status = 0;
    long steps = ed_sampler_steps(s);
    for (long step = 0; step < steps; step++) {
        int n = ed_sampler_micro(s, step, 0, ids);
        if (n == 0) continue;
        if (ed_batch_fill(b, ds, ids, n, layout, err) != 0) {
            sums[3] = 1, status = -1; /* a damaged window: stop here, the others learn it from the sum */
            break;
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
