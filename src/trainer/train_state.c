/* train_state.c — the resumable trainer state starts here (see train_state.h). */
#include <math.h>
#include <string.h>

#include "expert/train_state.h"

void ed_train_state_where(const ed_train_state *s, char *buf, size_t len) {
    if (s->epoch_windows > 0 || s->step_in_epoch > 0)
        snprintf(buf, len, "in epoch %d", s->epoch + 1);
    else
        snprintf(buf, len, "%d epoch(s) done", s->epoch);
}

void ed_train_state_init(ed_train_state *s, uint64_t seed, int world_size) {
    memset(s, 0, sizeof *s);
    s->best_val_loss = INFINITY;
    s->patience_best = INFINITY;
    s->world_size = world_size;
    s->seed = seed;
}
