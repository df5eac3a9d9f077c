/* windows.c — the window rule: a token array of documents -> (start, length) windows,
 * computed on demand from the document index instead of stored per window (the
 * ed_dataset around it, its token array and its life cycle are in dataset.c).
 *
 * Per document (the seed's sliding window): the document is [BOS] ids [EOS], of length L;
 * windows start at 0, stride, 2*stride, ... and hold min(max_length, L - start) tokens;
 * the window that reaches the end of the document is the last one. So a short document
 * gives one short window, stride < max_length overlaps, stride > max_length skips tokens.
 * Windows under 2 tokens teach nothing (no input/target pair) and are dropped; only a
 * document's last window can be that short, so window k of a document starts at
 * k * stride whatever was dropped.
 *
 * pack=1: the documents are one stream and every window is a full max_length tokens
 * (starts 0, stride, ...); the tail that does not fill a window is left out. Only when
 * the whole stream is shorter than max_length does it become one (short) window.
 *
 * Why no per-window arrays: a 10 G-token corpus has tens of millions of windows; 12
 * bytes each per rank would outgrow the model. The block index (one uint64 per
 * ED_WIN_BLOCK documents) plus the document index is all a lookup needs.
 *
 * Why every lookup checks what it reads: both indexes may be mapped from a prepared file
 * that start-up no longer scans (O(1) start), so a damaged entry must surface as an error
 * naming it when a window reads it, not as a wild read. Each lookup walks its whole block
 * (<= 64 documents) to recount the block's windows: a wrong entry is caught by the blocks
 * next to it, and any window returned lies inside the token array. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "expert/dataset.h"

uint64_t ed_windows_in_doc(uint64_t L, const ed_window_options *opt) {
    uint64_t ml = (uint64_t)opt->max_length, st = (uint64_t)opt->stride;
    if (L < 2) return 0;
    if (opt->examples) return 1; /* instruction data: the example's last max_length tokens */
    /* the loop ends at the first k that reaches the end (k*st + ml >= L) or runs past it
     * (k*st >= L), whichever comes first */
    uint64_t k_reach = L <= ml ? 0 : (L - ml + st - 1) / st;
    uint64_t k_last = (L - 1) / st;
    uint64_t k = k_reach < k_last ? k_reach : k_last;
    return k + 1 - (L - k * st < 2 ? 1 : 0);
}

static uint64_t pack_windows(uint64_t n, const ed_window_options *opt) {
    uint64_t ml = (uint64_t)opt->max_length, st = (uint64_t)opt->stride;
    if (n >= ml) return (n - ml) / st + 1;
    return n >= 2 ? 1 : 0;
}

static int copy_off(void *ctx, uint64_t first, size_t n, uint64_t *out) {
    memcpy(out, (const uint64_t *)ctx + first, n * sizeof *out);
    return 0;
}

int ed_dataset_index(ed_dataset *ds, size_t n_docs, const ed_window_options *opt, ed_offsets_fn read_off,
                     void *ctx, ed_error *err) {
    ds->n_docs = n_docs;
    if (!ds->index_origin[0]) snprintf(ds->index_origin, sizeof ds->index_origin, "%s", ds->origin);
    ds->max_length = opt->max_length;
    ds->stride = opt->stride;
    ds->pack = opt->pack;
    ds->examples = opt->examples;
    ds->n_windows = 0;
    free(ds->own_blocks);
    ds->own_blocks = NULL;
    ds->block_win = NULL;
    ds->n_blocks = 0;
    uint64_t total = 0;
    if (opt->pack) {
        /* O(1): the windows do not depend on the documents */
        total = pack_windows(ds->n_tokens, opt);
    } else {
        if (!read_off) read_off = copy_off, ctx = (void *)ds->doc_off;
        enum { PIECE = 1 << 16 };
        uint64_t *buf = ed_malloc((PIECE + 1) * sizeof *buf);
        ds->n_blocks = (n_docs + ED_WIN_BLOCK - 1) / ED_WIN_BLOCK;
        uint64_t *blocks = ed_malloc((ds->n_blocks + 1) * sizeof *blocks);
        ds->own_blocks = blocks;
        ds->block_win = blocks;
        uint64_t prev = 0;
        int rc = 0;
        /* offsets[0 .. n_docs], read PIECE at a time; buf[0] repeats the previous end */
        for (uint64_t at = 0; at <= n_docs && rc == 0; at += PIECE) {
            size_t k = n_docs + 1 - at < PIECE ? (size_t)(n_docs + 1 - at) : PIECE;
            if (read_off(ctx, at, k, buf) != 0) {
                rc = ed_fail(err, "%s: the document index cannot be read", ds->origin);
                break;
            }
            for (size_t i = 0; i < k; i++) {
                uint64_t d = at + i, o = buf[i];
                if (d == 0) {
                    if (o != 0) rc = ed_fail(err, "%s: the document index starts at %llu, expected 0", ds->origin,
                                             (unsigned long long)o);
                } else {
                    if (o < prev + 2 || o > ds->n_tokens) {
                        rc = ed_fail(err, "%s: document %llu spans tokens [%llu, %llu) of %zu, expected at least 2 "
                                          "tokens inside the array: the document index is damaged",
                                     ds->origin, (unsigned long long)(d - 1), (unsigned long long)prev,
                                     (unsigned long long)o, ds->n_tokens);
                        break;
                    }
                    total += ed_windows_in_doc(o - prev, opt);
                }
                if (d % ED_WIN_BLOCK == 0 && d / ED_WIN_BLOCK <= ds->n_blocks) blocks[d / ED_WIN_BLOCK] = total;
                prev = o;
            }
        }
        free(buf);
        if (rc == 0 && prev != ds->n_tokens)
            rc = ed_fail(err, "%s: the document index ends at token %llu, the array has %zu", ds->origin,
                         (unsigned long long)prev, ds->n_tokens);
        if (rc != 0) return -1;
        blocks[ds->n_blocks] = total;
    }
    if (total == 0) return ed_fail(err, "%s: no training windows (no documents)", ds->origin);
    if (total > UINT32_MAX)
        return ed_fail(err, "%s: %llu windows, more than the 2^32-1 supported (raise --stride)", ds->origin,
                       (unsigned long long)total);
    ds->n_windows = (size_t)total;
    return 0;
}

/* The document and block indexes may be mapped straight from a prepared file,
 * where HDF5 puts a dataset at any byte offset: read their elements with memcpy (one
 * unaligned load on x86) instead of dereferencing a misaligned pointer, which is UB. */
static inline uint64_t load_u64(const void *base, size_t i) {
    uint64_t x;
    memcpy(&x, (const char *)base + i * sizeof x, sizeof x);
    return x;
}

/* "the window index is damaged" with what was found, naming the file's index. */
#define DAMAGED "the window index is damaged (`expert-dist verify` checks it; `prepare` rewrites it)"

int ed_dataset_locate(const ed_dataset *ds, size_t w, uint64_t *start, uint32_t *len, ed_error *err) {
    ED_CHECK(w < ds->n_windows, "window %zu out of range (%zu windows)", w, ds->n_windows);
    uint64_t ml = (uint64_t)ds->max_length, st = (uint64_t)ds->stride;
    if (ds->pack) {
        *start = (uint64_t)w * st;
        *len = (uint32_t)(ds->n_tokens < ml ? ds->n_tokens : ml);
        return 0;
    }
    /* the last block whose first window is <= w; the search ends whatever the entries
     * hold, and what it lands on is checked below */
    size_t lo = 0, hi = ds->n_blocks; /* block_win[lo] <= w < block_win[hi] */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (load_u64(ds->block_win, mid) <= w) lo = mid;
        else hi = mid;
    }
    uint64_t b0 = load_u64(ds->block_win, lo), b1 = load_u64(ds->block_win, lo + 1);
    if (!(b0 <= w && w < b1))
        return ed_fail(err, "%s/window_blocks[%zu] = %llu, [%zu] = %llu do not hold window %zu: " DAMAGED,
                       ds->index_origin, lo, (unsigned long long)b0, lo + 1, (unsigned long long)b1, w);
    /* walk the whole block: its documents must give exactly b1 - b0 windows */
    ed_window_options opt = {.max_length = ds->max_length, .stride = ds->stride, .examples = ds->examples};
    size_t first = lo * ED_WIN_BLOCK, last = first + ED_WIN_BLOCK < ds->n_docs ? first + ED_WIN_BLOCK : ds->n_docs;
    uint64_t rem = w - b0, count = 0, a = load_u64(ds->doc_off, first);
    int found = 0;
    for (size_t d = first; d < last; d++) {
        uint64_t e = load_u64(ds->doc_off, d + 1);
        if (e <= a || e - a < 2 || e > ds->n_tokens)
            return ed_fail(err, "%s/doc_offsets[%zu] = %llu after [%zu] = %llu: document %zu is not at least 2 tokens "
                                "inside the %zu of the array: " DAMAGED,
                           ds->index_origin, d + 1, (unsigned long long)e, d, (unsigned long long)a, d, ds->n_tokens);
        uint64_t c = ed_windows_in_doc(e - a, &opt);
        if (!found && rem < c) {
            /* an example's one window is its end: prompt tokens go first when it is long */
            uint64_t s = ds->examples ? (e - a > ml ? e - a - ml : 0) : rem * st;
            *start = a + s;
            *len = (uint32_t)(e - a - s < ml ? e - a - s : ml);
            found = 1;
        } else if (!found) {
            rem -= c;
        }
        count += c;
        a = e;
    }
    if (count != b1 - b0)
        return ed_fail(err, "%s/window_blocks[%zu..%zu] = %llu..%llu count %llu windows, documents %zu..%zu give %llu: "
                            DAMAGED,
                       ds->index_origin, lo, lo + 1, (unsigned long long)b0, (unsigned long long)b1,
                       (unsigned long long)(b1 - b0), first, last - 1, (unsigned long long)count);
    return 0;
}

void ed_dataset_window(const ed_dataset *ds, size_t w, uint64_t *start, uint32_t *len) {
    ed_error err;
    if (ed_dataset_locate(ds, w, start, len, &err) != 0) ED_DIE("%s", err.msg);
}
