/* batch.c — windows -> (inputs, targets, mask) rows, the seed's collate function:
 * inputs = window[:-1], targets = window[1:], right-padded with <PAD> inputs, -100
 * targets (ignored by the loss) and mask 0. Rows are T apart (T = padded length), so
 * the three arrays are dense [B, T] matrices the model reads directly. Instruction data
 * (--loss-on completion) gets -100 at every target that is not a loss
 * token too, so n_targets — what the trainer normalises by — counts loss tokens only.
 *
 * Packed rows (ED_ROWS_PACKED) hold several windows each, one segment per window: the
 * window's tokens are the same, its positions restart at 0 and its tokens attend only to
 * its own (seg), so every logit, and therefore the loss and its gradient, is what a
 * padded row of its own gives, up to the order in which floats are added. */
#include <stdlib.h>
#include <string.h>

#include "expert/dataset.h"

void ed_batch_init(ed_batch *b, int cap_B, int cap_T) {
    ED_CHECK(cap_B >= 1 && cap_T >= 1, "batch capacity %d x %d", cap_B, cap_T);
    memset(b, 0, sizeof *b);
    b->cap_B = cap_B;
    b->cap_T = cap_T;
    size_t n = (size_t)cap_B * (size_t)cap_T;
    b->inputs = ed_malloc(n * sizeof *b->inputs);
    b->targets = ed_malloc(n * sizeof *b->targets);
    b->mask = ed_malloc(n * sizeof *b->mask);
    b->seg = ed_malloc(n * sizeof *b->seg);
    b->pos = ed_malloc(n * sizeof *b->pos);
    b->fill = ed_malloc(n * sizeof *b->fill); /* a row or a window holds at least one token */
    b->len = ed_malloc(n * sizeof *b->len);
}

void ed_batch_free(ed_batch *b) {
    free(b->inputs);
    free(b->targets);
    free(b->mask);
    free(b->seg);
    free(b->pos);
    free(b->fill);
    free(b->len);
    memset(b, 0, sizeof *b);
}

ed_row_layout ed_row_layout_of(const ed_options *o) {
    if (o->pack) return o->doc_mask ? ED_ROWS_DOC_MASK : o->pad_to_max ? ED_ROWS_MAX : ED_ROWS_LONGEST;
    return o->pad_to_max ? ED_ROWS_MAX : ED_ROWS_PACKED;
}

int ed_pack_place(uint32_t *fill, int *rows, int max_rows, uint32_t len, uint32_t cap) {
    int r = 0;
    while (r < *rows && fill[r] + len > cap) r++;
    if (r == *rows) {
        if (*rows >= max_rows) return -1;
        fill[(*rows)++] = 0;
    }
    fill[r] += len;
    return r;
}

/* Window ids -> its m + 1 tokens at row offset `at`: inputs the first m, targets the last
 * m (-100 where instruction data has no loss), mask 1. Returns the loss tokens. */
static long put_window(ed_batch *b, const ed_dataset *ds, uint64_t start, int m, size_t at, ed_error *err) {
    int32_t *in = b->inputs + at, *tg = b->targets + at;
    /* the id past the inputs goes into tg[m - 1] directly, so the copy reads each id once */
    if (ed_dataset_tokens(ds, start, (size_t)m, in, err) != 0 ||
        ed_dataset_tokens(ds, start + (uint64_t)m, 1, tg + m - 1, err) != 0)
        return -1;
    memcpy(tg, in + 1, (size_t)(m - 1) * sizeof *tg);
    memset(b->mask + at, 1, (size_t)m);
    long counted = m;
    if (ds->completion && !ds->loss_all) /* target t is token start + 1 + t */
        for (int t = 0; t < m; t++)
            if (!ds->completion[start + 1 + (uint64_t)t]) tg[t] = -100, counted--;
    return counted;
}

/* Positions [from, to) of row `at` are padding: any input (the ignore label keeps it out
 * of the loss), and with segments the row's last segment continues over them. */
static void put_padding(ed_batch *b, size_t at, int from, int to) {
    for (int t = from; t < to; t++) {
        b->inputs[at + t] = 0;
        b->targets[at + t] = -100;
        b->mask[at + t] = 0;
        if (b->packed) {
            b->seg[at + t] = t > 0 ? b->seg[at + t - 1] : 0;
            b->pos[at + t] = t - b->seg[at + t];
        }
    }
}

/* DOC_MASK segments of a row holding stream tokens [start, start + m + 1) (inputs the
 * first m): a new segment at each document's first token, and no prediction across a
 * boundary — the target of a document's last token (the next one's BOS) becomes -100, so
 * every prediction stays inside its document as with per-document windows. doc_off[d] is
 * found by binary search. Returns the targets it removed from the loss, or -1. */
static long doc_segments(ed_batch *b, const ed_dataset *ds, uint64_t start, int m, size_t at, ed_error *err) {
    if (!ds->doc_off) return ed_fail(err, "%s: --doc-mask needs the document index", ds->origin);
    size_t lo = 0, hi = ds->n_docs; /* the first document starting after `start` */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ds->doc_off[mid] <= start) lo = mid + 1;
        else hi = mid;
    }
    int seg = 0;
    long removed = 0;
    for (int t = 0; t <= m; t++) {
        for (; lo < ds->n_docs && ds->doc_off[lo] <= start + (uint64_t)t; lo++)
            if (ds->doc_off[lo] == start + (uint64_t)t) {
                seg = t;
                if (t > 0 && b->targets[at + t - 1] != -100) b->targets[at + t - 1] = -100, removed++;
            }
        if (t < m) {
            b->seg[at + t] = seg;
            b->pos[at + t] = t - seg;
        }
    }
    return removed;
}

/* First-fit rows of width W for windows len[0..n) (longest first, each <= W): how many. */
static int rows_at(const uint32_t *len, int n, uint32_t W, uint32_t *fill) {
    int rows = 0;
    for (int i = 0; i < n; i++) ed_pack_place(fill, &rows, n, len[i], W);
    return rows;
}

/* The row width of a packed micro-batch: the W in [longest, cap] whose first-fit rows x W
 * (the positions the model computes) is least, ties to the narrower. Tried: cap (what
 * the sampler costed, so it always fits the buffer), total/r for r = 1, 2, ... (rows
 * filled exactly when first fit manages it) and 16 widths evenly between. */
static uint32_t best_width(const uint32_t *len, int n, uint32_t cap, uint32_t *fill) {
    uint64_t total = 0;
    for (int i = 0; i < n; i++) total += len[i];
    uint32_t longest = len[0], best = cap;
    uint64_t best_cost = (uint64_t)rows_at(len, n, cap, fill) * cap;
    enum { EVEN = 16 };
    for (int k = 0; k < 2 * EVEN + 2; k++) {
        uint64_t W;
        if (k < EVEN + 1) W = longest + (uint64_t)(cap - longest) * (uint64_t)k / EVEN;
        else W = (total + (uint64_t)(k - EVEN) - 1) / (uint64_t)(k - EVEN); /* ceil(total / r) */
        if (W < longest || W > cap) continue;
        uint64_t cost = (uint64_t)rows_at(len, n, (uint32_t)W, fill) * W;
        if (cost < best_cost || (cost == best_cost && W < best)) best = (uint32_t)W, best_cost = cost;
    }
    return best;
}

int ed_batch_fill(ed_batch *b, const ed_dataset *ds, const uint32_t *ids, int n, ed_row_layout layout,
                  ed_error *err) {
    ED_CHECK(n >= 0, "batch of %d windows", n);
    ED_CHECK((size_t)n <= (size_t)b->cap_B * (size_t)b->cap_T, "batch of %d windows exceeds capacity %d x %d", n,
             b->cap_B, b->cap_T);
    int packed = layout == ED_ROWS_PACKED;
    int T = layout == ED_ROWS_MAX ? ds->max_length - 1 : 0, rows = packed ? 0 : n;
    for (int i = 0; i < n; i++) {
        uint64_t start;
        uint32_t len;
        if (ed_dataset_locate(ds, ids[i], &start, &len, err) != 0) {
            b->B = 0, b->n_targets = 0;
            return -1;
        }
        b->len[i] = len - 1;
        if (!packed && layout != ED_ROWS_MAX && (int)len - 1 > T) T = (int)len - 1;
    }
    if (packed && n > 0) { /* windows come longest first (the sampler's order) */
        for (int i = 1; i < n; i++)
            ED_CHECK(b->len[i] <= b->len[i - 1], "packed batch: window %d is longer than the one before", i);
        ED_CHECK(b->len[0] <= (uint32_t)b->cap_T, "window of %u tokens exceeds the row capacity %d", b->len[0],
                 b->cap_T);
        T = (int)best_width(b->len, n, (uint32_t)b->cap_T, b->fill);
        rows = rows_at(b->len, n, (uint32_t)T, b->fill);
    }
    ED_CHECK(T <= b->cap_T, "batch length %d exceeds capacity %d", T, b->cap_T);
    ED_CHECK((size_t)rows * (size_t)T <= (size_t)b->cap_B * (size_t)b->cap_T,
             "batch of %d rows x %d tokens exceeds capacity %d x %d", rows, T, b->cap_B, b->cap_T);
    b->B = rows;
    b->T = T;
    b->n_targets = 0;
    b->packed = packed || layout == ED_ROWS_DOC_MASK;
    int placed = 0; /* the same first fit again, now writing */
    for (int i = 0; i < n; i++) {
        uint64_t start;
        uint32_t len;
        ed_dataset_locate(ds, ids[i], &start, &len, err); /* found above */
        int m = (int)len - 1, row = i, off = 0;
        if (packed) {
            row = ed_pack_place(b->fill, &placed, rows, (uint32_t)m, (uint32_t)T);
            off = (int)b->fill[row] - m;
        }
        size_t at = (size_t)row * T + (size_t)off;
        long counted = put_window(b, ds, start, m, at, err);
        if (counted < 0) {
            b->B = 0, b->n_targets = 0;
            return -1;
        }
        if (packed) {
            for (int t = 0; t < m; t++) b->seg[at + t] = off, b->pos[at + t] = t;
        } else if (layout == ED_ROWS_DOC_MASK) {
            long removed = doc_segments(b, ds, start, m, at, err);
            if (removed < 0) {
                b->B = 0, b->n_targets = 0;
                return -1;
            }
            counted -= removed;
        }
        b->n_targets += counted;
        if (!packed) put_padding(b, (size_t)row * T, m, T);
    }
    if (packed)
        for (int r = 0; r < rows; r++) put_padding(b, (size_t)r * T, (int)b->fill[r], T);
    return 0;
}
