/* sampler.c — which windows a rank uses at (epoch, step, micro); the sharding contract
 * is in include/expert/dataset.h. Everything is a pure function of (seed, epoch, step,
 * micro, rank, world, B) and the window lengths: no cursor, no hidden state, so resuming
 * mid-epoch needs only (seed, epoch, step) and a different world size at the same G sees
 * the same windows in the same steps.
 *
 * Balancing, per optimizer step: a micro-batch costs its padded tokens, rows x its
 * longest row (what the engine computes on), and a step lasts as long as its costliest
 * rank. The step's windows (a fixed set) are sorted longest first and cut into S runs of
 * consecutive windows, one per slot, with the smallest possible maximum run cost: a
 * binary search on the bound C, each probe filling runs greedily (a run takes windows
 * while rows x its first row <= C). Keeping runs consecutive in length order is what
 * makes that the optimum over ALL assignments (design.md: any assignment can be
 * rearranged into runs of the same sizes without raising a cost) and it also puts
 * windows of similar length together, which cuts the padding. The slots are then dealt to
 * (micro, rank) in snake order by cost, so per-rank sums stay even when grad_accum > 1. */
#include <stdlib.h>
#include <string.h>

#include "expert/dataset.h"
#include "expert/rng.h"

/* Stream tag of the data-order random stream ("data" in ASCII), mixed with the epoch so
 * each epoch's permutation is independent of the others and of every other stream. */
#define SAMPLER_STREAM 0x64617461ULL

static uint64_t group_size(const ed_sampler *s) {
    return (uint64_t)s->batch_size * (uint64_t)s->grad_accum * (uint64_t)s->world;
}

void ed_sampler_init(ed_sampler *s, size_t n_windows, int batch_size, int grad_accum, int rank, int world,
                     uint64_t seed, int shuffle) {
    ED_CHECK(batch_size >= 1 && grad_accum >= 1 && world >= 1 && rank >= 0 && rank < world,
             "sampler: batch_size %d grad_accum %d rank %d world %d", batch_size, grad_accum, rank, world);
    ED_CHECK(n_windows <= UINT32_MAX, "sampler: %zu windows", n_windows);
    memset(s, 0, sizeof *s);
    s->batch_size = batch_size;
    s->grad_accum = grad_accum;
    s->world = world;
    ED_CHECK(group_size(s) <= UINT32_MAX, "sampler: global batch %d x %d x %d is too large", batch_size,
             grad_accum, world);
    s->n_windows = n_windows;
    s->rank = rank;
    s->seed = seed;
    s->shuffle = shuffle;
    size_t G = group_size(s), S = (size_t)grad_accum * (size_t)world;
    s->step_win = ed_malloc(G * sizeof *s->step_win);
    s->slot_cost = ed_malloc(S * sizeof *s->slot_cost);
    s->slot_order = ed_malloc(S * sizeof *s->slot_order);
    s->row_fill = ed_malloc((size_t)batch_size * sizeof *s->row_fill);
    ed_sampler_set_epoch(s, 0);
}

void ed_sampler_set_lengths(ed_sampler *s, const uint32_t *win_len, int pad_to) {
    ED_CHECK(pad_to >= 0, "sampler: pad_to %d", pad_to);
    s->win_len = win_len;
    s->pad_to = pad_to;
    s->pack_to = 0;
}

void ed_sampler_set_dataset(ed_sampler *s, const ed_dataset *ds, int pad_to) {
    ED_CHECK(pad_to >= 0, "sampler: pad_to %d", pad_to);
    ED_CHECK(ds->n_windows == s->n_windows, "sampler: %zu windows, dataset %zu", s->n_windows, ds->n_windows);
    s->win_len = NULL;
    s->ds = ds;
    s->pad_to = pad_to;
    s->pack_to = 0;
}

void ed_sampler_set_packed(ed_sampler *s, int len) {
    ED_CHECK(len >= 1 && !s->pad_to && (s->win_len || s->ds), "sampler: packed rows of %d need lengths", len);
    s->pack_to = len;
}

void ed_sampler_set_layout(ed_sampler *s, const ed_dataset *ds, ed_row_layout layout) {
    ed_sampler_set_dataset(s, ds, layout == ED_ROWS_MAX ? ds->max_length - 1 : 0);
    if (layout == ED_ROWS_PACKED) ed_sampler_set_packed(s, ds->max_length - 1);
}

void ed_sampler_free(ed_sampler *s) {
    free(s->row_fill);
    free(s->step_win);
    free(s->slot_cost);
    free(s->slot_order);
    memset(s, 0, sizeof *s);
}

/* The epoch's order without an array: a keyed Feistel network on the smallest even
 * number of bits that holds n_windows, restricted to [0, n) by cycle walking (a value
 * outside is encrypted again until it lands inside; the domain is < 4n, so on average
 * fewer than 4 rounds trips). A bijection of [0, n) drawn from (seed, epoch), with O(1)
 * memory instead of 4 bytes per window. */
enum { FEISTEL_ROUNDS = 6 };

/* The Feistel round function. Not ed_hash_bytes (whose values may change between
 * versions): this one defines every epoch's window order, which a resumed run must
 * reproduce, so it is part of the format of a run. */
static uint64_t mix64(uint64_t x) { /* splitmix64's finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void ed_sampler_set_epoch(ed_sampler *s, int epoch) {
    /* Always from (seed, epoch): the order must not depend on earlier epochs. */
    s->half_bits = 1;
    while (((uint64_t)1 << (2 * s->half_bits)) < s->n_windows) s->half_bits++;
    ed_rng r;
    ed_rng_seed(&r, s->seed, (SAMPLER_STREAM << 32) ^ (uint64_t)(uint32_t)epoch);
    for (int i = 0; i < FEISTEL_ROUNDS; i++) s->key[i] = ed_rng_u64(&r);
    s->epoch = epoch;
}

static uint64_t feistel(const ed_sampler *s, uint64_t x) {
    unsigned h = (unsigned)s->half_bits;
    uint64_t mask = ((uint64_t)1 << h) - 1, L = x >> h, R = x & mask;
    for (int i = 0; i < FEISTEL_ROUNDS; i++) {
        uint64_t t = L ^ (mix64(R ^ s->key[i]) & mask);
        L = R;
        R = t;
    }
    return (L << h) | R;
}

uint32_t ed_sampler_at(const ed_sampler *s, uint64_t pos) {
    ED_CHECK(pos < s->n_windows, "sampler: position %llu of %zu", (unsigned long long)pos, s->n_windows);
    if (!s->shuffle) return (uint32_t)pos;
    uint64_t x = pos;
    do x = feistel(s, x);
    while (x >= s->n_windows);
    return (uint32_t)x;
}

long ed_sampler_steps(const ed_sampler *s) {
    uint64_t G = group_size(s);
    return (long)((s->n_windows + G - 1) / G);
}

size_t ed_sampler_max_rows(const ed_sampler *s) {
    /* Equal row lengths deal round-robin: at most B per slot. Otherwise a slot of short
     * windows may take more rows (never more tokens than B of the longest). */
    return (s->win_len || s->ds) && !s->pad_to ? (size_t)group_size(s) : (size_t)s->batch_size;
}

/* Padded row length of window w: its inputs (length - 1), or the fixed pad length. */
static uint32_t row_len(const ed_sampler *s, uint32_t w) {
    if (s->pad_to) return (uint32_t)s->pad_to;
    if (s->ds) { /* computed from the document index: no per-window array */
        uint64_t start;
        uint32_t len;
        ed_error err;
        /* a damaged file index: any length will do for the balance, ed_batch_fill of the
         * rank that gets the window reports the damage */
        if (ed_dataset_locate(s->ds, w, &start, &len, &err) != 0) return 1;
        return len - 1;
    }
    return s->win_len ? s->win_len[w] - 1 : 1;
}

static int by_length(const void *a, const void *b) {
    const ed_step_window *x = a, *y = b;
    if (x->T != y->T) return x->T > y->T ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Cuts step_win[0..m) (longest first) into runs of cost <= C, run k from first[k] to
 * first[k+1]; returns how many runs that takes (> S means C is too small). The greedy
 * fill gives the fewest runs for a bound C, so C is feasible iff this returns <= S. */
static size_t fill_runs(ed_sampler *s, size_t m, uint64_t C, int record) {
    size_t S = (size_t)s->grad_accum * (size_t)s->world, runs = 0, i = 0;
    while (i < m) {
        uint64_t T = s->step_win[i].T, rows = C / T; /* T of the run's first = longest row */
        if (rows == 0) return SIZE_MAX;               /* C below a single window */
        size_t end = i + rows < m ? i + (size_t)rows : m;
        if (record && runs < S) {
            for (size_t j = i; j < end; j++) s->step_win[j].slot = (uint32_t)runs;
            s->slot_cost[runs] = (uint64_t)(end - i) * T;
        }
        runs++;
        i = end;
    }
    return runs;
}

/* fill_runs for packed rows: a run takes windows (longest first) while their first-fit
 * packing into rows of pack_to positions needs at most C rows; a run costs its rows x
 * pack_to. First fit in this order never moves a window placed earlier, so a run's rows
 * only grow as it takes more windows and the greedy cut is still the fewest runs. */
static size_t fill_packed_runs(ed_sampler *s, size_t m, uint64_t C, int record) {
    size_t S = (size_t)s->grad_accum * (size_t)s->world, runs = 0, i = 0;
    uint32_t cap = (uint32_t)s->pack_to;
    while (i < m) {
        int rows = 0;
        size_t j = i;
        /* a window that would open row C + 1 starts the next run */
        while (j < m && ed_pack_place(s->row_fill, &rows, (int)C, s->step_win[j].T, cap) >= 0) j++;
        if (j == i) return SIZE_MAX; /* C == 0 */
        if (record && runs < S) {
            for (size_t k = i; k < j; k++) s->step_win[k].slot = (uint32_t)runs;
            s->slot_cost[runs] = (uint64_t)rows * cap;
        }
        runs++;
        i = j;
    }
    return runs;
}

/* Assigns the windows of the step that starts at position `begin` of the epoch's
 * permutation to slots: step_win[0..m) sorted longest first, each with its slot, and
 * slot_cost per slot (0 for a slot without windows). Returns m. */
static size_t assign_step(ed_sampler *s, uint64_t begin) {
    uint64_t G = group_size(s);
    size_t S = (size_t)s->grad_accum * (size_t)s->world;
    if (begin >= s->n_windows) return 0;
    size_t m = (size_t)(begin + G <= s->n_windows ? G : s->n_windows - begin);
    for (size_t i = 0; i < m; i++) {
        uint32_t w = ed_sampler_at(s, begin + i);
        s->step_win[i] = (ed_step_window){.id = w, .T = row_len(s, w), .pos = (uint32_t)i, .slot = 0};
    }
    qsort(s->step_win, m, sizeof *s->step_win, by_length);
    for (size_t k = 0; k < S; k++) s->slot_cost[k] = 0;
    if (s->pack_to) { /* the least row bound in [1, B] that S runs meet (B always does) */
        uint64_t lo = 1, hi = (uint64_t)s->batch_size;
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo) / 2;
            if (fill_packed_runs(s, m, mid, 0) <= S) hi = mid;
            else lo = mid + 1;
        }
        fill_packed_runs(s, m, hi, 1);
        return m;
    }
    /* The least C that S runs can meet. hi = B rows of the longest window is always met
     * (every run then takes >= B windows, and m <= S*B): so no slot ever costs more than
     * an unbalanced micro-batch of B rows could, which bounds its memory. */
    uint64_t lo = s->step_win[0].T, hi = (uint64_t)s->batch_size * s->step_win[0].T;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (fill_runs(s, m, mid, 0) <= S) hi = mid;
        else lo = mid + 1;
    }
    for (size_t k = 0; k < S; k++) s->slot_cost[k] = 0;
    fill_runs(s, m, hi, 1);
    return m;
}

static int by_cost(const void *a, const void *b) {
    const ed_slot_rank *x = a, *y = b;
    if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* Which slot (micro, rank) runs: slots sorted by cost, heaviest first, dealt to the ranks
 * in snake order (round a = micro a: ranks 0..W-1, then W-1..0, ...), so each rank's
 * micro-batches add up to about the same cost whatever grad_accum is. */
static uint32_t slot_of(ed_sampler *s, int micro, int rank) {
    size_t S = (size_t)s->grad_accum * (size_t)s->world, W = (size_t)s->world;
    for (size_t k = 0; k < S; k++) s->slot_order[k] = (ed_slot_rank){.cost = s->slot_cost[k], .slot = (uint32_t)k};
    qsort(s->slot_order, S, sizeof *s->slot_order, by_cost);
    size_t pos = (size_t)micro * W + (micro % 2 == 0 ? (size_t)rank : W - 1 - (size_t)rank);
    return s->slot_order[pos].slot;
}

int ed_sampler_micro(ed_sampler *s, long step, int micro, uint32_t *ids) {
    ED_CHECK(step >= 0, "sampler: step %ld", step);
    return ed_sampler_micro_at(s, (uint64_t)step * group_size(s), micro, ids);
}

uint64_t ed_sampler_step_windows(const ed_sampler *s, uint64_t first) {
    if (first >= s->n_windows) return 0;
    uint64_t G = group_size(s);
    return s->n_windows - first < G ? s->n_windows - first : G;
}

int ed_sampler_micro_at(ed_sampler *s, uint64_t first, int micro, uint32_t *ids) {
    ED_CHECK(micro >= 0 && micro < s->grad_accum, "sampler: micro %d", micro);
    size_t m = assign_step(s, first);
    if (m == 0) return 0;
    uint32_t k = slot_of(s, micro, s->rank);
    int n = 0;
    for (size_t i = 0; i < m; i++)
        if (s->step_win[i].slot == k) ids[n++] = s->step_win[i].id;
    return n;
}
