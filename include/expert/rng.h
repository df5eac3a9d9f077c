/* rng.h — small deterministic random numbers (splitmix64 seeding + xoshiro256**).
 *
 * Every random stream in expert-dist (weight init, data shuffle, dropout, sampling) is an
 * ed_rng derived from (seed, purpose, counters) so runs are reproducible and resumable:
 * the whole state is four uint64 words, saved in checkpoints as-is. */
#ifndef EXPERT_RNG_H
#define EXPERT_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} ed_rng;

/* Seeds from a 64-bit seed and a stream id (e.g. a purpose tag mixed with an epoch). */
void ed_rng_seed(ed_rng *r, uint64_t seed, uint64_t stream);
uint64_t ed_rng_u64(ed_rng *r);
/* Uniform in [0, 1) with 24 random bits (exact in float). */
float ed_rng_uniform(ed_rng *r);
/* Uniform integer in [0, n), unbiased. */
uint64_t ed_rng_below(ed_rng *r, uint64_t n);
/* Standard normal (Box-Muller, double precision). */
double ed_rng_normal(ed_rng *r);

#endif
