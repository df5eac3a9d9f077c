/* sampler.c — which windows a rank uses at (epoch, step, micro); the sharding contract
 * is in include/expert/dataset.h. Everything is a pure function of (seed, epoch, step,
 * micro, rank, world, B): no cursor, no hidden state, so resuming mid-epoch needs only
 * (seed, epoch, step) and a different world size at the same G sees the same steps. */
#include <stdlib.h>
#include <string.h>

#include "expert/dataset.h"
#include "expert/rng.h"

/* Stream tag of the data-order random stream ("data" in ASCII), mixed with the epoch so
 * each epoch's permutation is independent of the others and of every other stream. */
#define SAMPLER_STREAM 0x64617461ULL

void ed_sampler_init(ed_sampler *s, size_t n_windows, int batch_size, int grad_accum, int rank, int world,
                     uint64_t seed, int shuffle) {
    ED_CHECK(batch_size >= 1 && grad_accum >= 1 && world >= 1 && rank >= 0 && rank < world,
             "sampler: batch_size %d grad_accum %d rank %d world %d", batch_size, grad_accum, rank, world);
    ED_CHECK(n_windows <= UINT32_MAX, "sampler: %zu windows", n_windows);
    memset(s, 0, sizeof *s);
    s->n_windows = n_windows;
    s->batch_size = batch_size;
    s->grad_accum = grad_accum;
    s->rank = rank;
    s->world = world;
    s->seed = seed;
    s->shuffle = shuffle;
    s->perm = ed_malloc((n_windows ? n_windows : 1) * sizeof *s->perm);
    ed_sampler_set_epoch(s, 0);
}

void ed_sampler_free(ed_sampler *s) {
    free(s->perm);
    memset(s, 0, sizeof *s);
}

void ed_sampler_set_epoch(ed_sampler *s, int epoch) {
    /* Always from the identity: the permutation must not depend on earlier epochs. */
    for (size_t i = 0; i < s->n_windows; i++) s->perm[i] = (uint32_t)i;
    if (s->shuffle) {
        ed_rng r;
        ed_rng_seed(&r, s->seed, (SAMPLER_STREAM << 32) ^ (uint64_t)(uint32_t)epoch);
        ed_rng_shuffle_u32(&r, s->perm, s->n_windows);
    }
    s->epoch = epoch;
}

static uint64_t group_size(const ed_sampler *s) {
    return (uint64_t)s->batch_size * (uint64_t)s->grad_accum * (uint64_t)s->world;
}

long ed_sampler_steps(const ed_sampler *s) {
    uint64_t G = group_size(s);
    return (long)((s->n_windows + G - 1) / G);
}

int ed_sampler_micro(const ed_sampler *s, long step, int micro, uint32_t *ids) {
    ED_CHECK(step >= 0, "sampler: step %ld", step);
    return ed_sampler_micro_at(s, (uint64_t)step * group_size(s), micro, ids);
}

uint64_t ed_sampler_step_windows(const ed_sampler *s, uint64_t first) {
    if (first >= s->n_windows) return 0;
    uint64_t G = group_size(s);
    return s->n_windows - first < G ? s->n_windows - first : G;
}

int ed_sampler_micro_at(const ed_sampler *s, uint64_t first, int micro, uint32_t *ids) {
    ED_CHECK(micro >= 0 && micro < s->grad_accum, "sampler: micro %d", micro);
    uint64_t B = (uint64_t)s->batch_size;
    uint64_t k = (uint64_t)micro * (uint64_t)s->world + (uint64_t)s->rank;
    uint64_t begin = first + k * B;
    if (begin >= s->n_windows) return 0;
    uint64_t end = begin + B < s->n_windows ? begin + B : s->n_windows;
    memcpy(ids, s->perm + begin, (size_t)(end - begin) * sizeof *ids);
    return (int)(end - begin);
}
