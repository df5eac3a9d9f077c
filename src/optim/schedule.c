/* schedule.c — learning-rate schedules. Warmup is linear and reaches base_lr at the end
 * of step warmup-1 (lr = base * (step+1)/warmup), so the very first step already moves. */
#include <math.h>

#include "expert/optim.h"

float ed_lr_at(ed_sched_kind kind, float base_lr, float min_lr, long warmup, long total, long step) {
    if (step < 0) step = 0;
    if (warmup > 0 && step < warmup) return base_lr * (float)(step + 1) / (float)warmup;
    if (kind == ED_SCHED_CONSTANT) return base_lr;
    long span = total - warmup;
    if (span <= 0) return min_lr;
    double progress = (double)(step - warmup) / (double)span; /* 0 at the end of warmup */
    if (progress > 1.0) progress = 1.0;
    if (kind == ED_SCHED_LINEAR) return (float)(base_lr + (min_lr - base_lr) * progress);
    return (float)(min_lr + 0.5 * (base_lr - min_lr) * (1.0 + cos(M_PI * progress)));
}
