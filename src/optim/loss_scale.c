/* loss_scale.c — the dynamic loss scaler of --precision fp16 (expert/optim.h); the
 * trainer applies it in train_step.c. */
#include "expert/optim.h"

void ed_loss_scaler_init(ed_loss_scaler *s, double init_scale) {
    s->scale = init_scale;
    s->growth_tracker = 0;
}

void ed_loss_scaler_update(ed_loss_scaler *s, int found_inf, long growth_interval) {
    if (found_inf) {
        s->scale *= 0.5;
        s->growth_tracker = 0;
        s->skipped++;
        return;
    }
    if (++s->growth_tracker >= growth_interval) {
        s->scale *= 2.0;
        s->growth_tracker = 0;
    }
}
