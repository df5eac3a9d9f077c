/* windows.c — ed_dataset_build: documents -> one token array -> (start, length) windows.
 *
 * Per document (the seed's sliding window): the document is [BOS] ids [EOS], of length L;
 * windows start at 0, stride, 2*stride, ... and hold min(max_length, L - start) tokens;
 * the window that reaches the end of the document is the last one. So a short document
 * gives one short window, stride < max_length overlaps, stride > max_length skips tokens.
 * Windows under 2 tokens teach nothing (no input/target pair) and are dropped.
 *
 * pack=1: the documents are one stream and every window is a full max_length tokens
 * (starts 0, stride, ...); the tail that does not fill a window is left out. Only when
 * the whole stream is shorter than max_length does it become one (short) window. */
#include <stdlib.h>
#include <string.h>

#include "expert/dataset.h"

typedef struct {
    uint64_t *start;
    uint32_t *len;
    size_t n, cap;
} win_list;

static void win_push(win_list *w, uint64_t start, uint32_t len) {
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 1024;
        w->start = ed_realloc(w->start, w->cap * sizeof *w->start);
        w->len = ed_realloc(w->len, w->cap * sizeof *w->len);
    }
    w->start[w->n] = start;
    w->len[w->n] = len;
    w->n++;
}

/* Windows of the token range [begin, end), one document. */
static void doc_windows(win_list *w, uint64_t begin, uint64_t end, uint64_t max_length, uint64_t stride) {
    for (uint64_t s = begin; s < end; s += stride) {
        uint64_t len = end - s < max_length ? end - s : max_length;
        if (len >= 2) win_push(w, s, (uint32_t)len);
        if (s + max_length >= end) break;
    }
}

void ed_dataset_cut_windows(ed_dataset *ds, const uint64_t *off, size_t n_docs, const ed_window_options *opt) {
    win_list w = {0};
    uint64_t ml = (uint64_t)opt->max_length, st = (uint64_t)opt->stride, n = ds->n_tokens;
    if (opt->pack) {
        for (uint64_t s = 0; s + ml <= n; s += st) win_push(&w, s, (uint32_t)ml);
        if (w.n == 0 && n >= 2) win_push(&w, 0, (uint32_t)n);
    } else {
        for (size_t d = 0; d < n_docs; d++) doc_windows(&w, off[d], off[d + 1], ml, st);
    }
    ds->win_start = w.start;
    ds->win_len = w.len;
    ds->n_windows = w.n;
    ds->n_docs = n_docs;
    ds->max_length = opt->max_length;
}

int ed_dataset_build(ed_dataset *ds, const ed_docs *docs, const ed_tokenizer *tok, const ed_window_options *opt,
                     ed_error *err) {
    memset(ds, 0, sizeof *ds);
    if (opt->max_length < 2) return ed_fail(err, "max_length must be >= 2 (one input and one target), got %d", opt->max_length);
    if (opt->stride < 1) return ed_fail(err, "stride must be >= 1, got %d", opt->stride);
    ed_ivec tokens = {0};
    size_t total = 0;
    for (size_t d = 0; d < docs->n; d++) total += docs->len[d];
    /* Words average well over 3 bytes; this avoids most regrowth of the one big array. */
    ed_ivec_reserve(&tokens, total / 3 + 2 * docs->n + 16);
    uint64_t *off = ed_malloc((docs->n + 1) * sizeof *off);
    off[0] = 0;
    for (size_t d = 0; d < docs->n; d++) {
        ed_tok_encode(tok, docs->text[d], docs->len[d], 1, &tokens);
        off[d + 1] = tokens.len;
    }
    ds->tokens = tokens.data;
    ds->n_tokens = tokens.len;
    ed_dataset_cut_windows(ds, off, docs->n, opt);
    free(off);
    if (ds->n_windows == 0 || ds->n_windows > UINT32_MAX) {
        size_t nw = ds->n_windows;
        ed_dataset_free(ds);
        if (nw == 0) return ed_fail(err, "%s: no training windows (no documents)", docs->path ? docs->path : "dataset");
        return ed_fail(err, "%s: %zu windows, more than the 2^32-1 supported", docs->path ? docs->path : "dataset", nw);
    }
    return 0;
}

void ed_dataset_free(ed_dataset *ds) {
    free(ds->tokens);
    free(ds->win_start);
    free(ds->win_len);
    memset(ds, 0, sizeof *ds);
}
