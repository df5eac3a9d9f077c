/* consistency.h — the start-up check that every rank is about to train the same thing
 * (src/comm/consistency.c).
 *
 * Data parallelism assumes that every rank holds the same token streams, the same
 * tokenizer and the same options; only the choice of windows differs by rank. Nothing
 * else in the trainer re-checks that, and a rank whose copy of the data differs (a stale
 * or truncated file on one node's disk, another --config file) computes a different
 * number of steps per epoch and hangs the others in a collective at the end of its
 * epoch, hours later. So setup fingerprints what it loaded and calls these once; a
 * mismatch is one error naming the rank, its host and the file, on every rank, before
 * the first step.
 *
 * Cost: one pass over token arrays built in memory (~1 GB/s), O(1) samples of a mapped
 * prepared file (ed_dataset_fingerprint), and a few small collectives. */
#ifndef EXPERT_CONSISTENCY_H
#define EXPERT_CONSISTENCY_H

#include <stddef.h>
#include <stdint.h>

#include "expert/dist.h"

/* One thing every rank must hold identically. `what` and `file` name it in the error. */
typedef struct {
    const char *what;  /* "training tokens", "tokenizer", ... */
    const char *unit;  /* what count counts: "tokens", "bytes" */
    const char *file;  /* where this rank got it from ("" if nowhere in particular) */
    uint64_t count;
    uint64_t hash;
} ed_fingerprint;

/* Collective. Compares every rank's fingerprints fp[0..n) (same n and order on all
 * ranks) with rank 0's. Returns 0 when all agree; else -1 on every rank, with err (on
 * every rank) describing the lowest rank that differs:
 *   "rank 1 on n2: training tokens of /data/train.txt differ from rank 0's (on n1):
 *    9500 tokens vs 10000, hash ... vs ...; every rank must read identical data" */
int ed_dist_check_fingerprints(const ed_dist *d, const ed_fingerprint *fp, int n, ed_error *err);

/* Collective. Compares "name = value" lines (the effective options) with rank 0's and
 * names the first option that differs. `source` says where options came from. */
int ed_dist_check_lines(const ed_dist *d, const char *what, const char *text, const char *source, ed_error *err);

#endif
