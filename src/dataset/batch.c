/* batch.c — windows -> (inputs, targets, mask) rows, the seed's collate function:
 * inputs = window[:-1], targets = window[1:], right-padded with <PAD> inputs, -100
 * targets (ignored by the loss) and mask 0. Rows are T apart (T = padded length), so
 * the three arrays are dense [B, T] matrices the model reads directly. Instruction data
 * (--loss-on completion) gets -100 at every target that is not a loss
 * token too, so n_targets — what the trainer normalises by — counts loss tokens only. */
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
}

void ed_batch_free(ed_batch *b) {
    free(b->inputs);
    free(b->targets);
    free(b->mask);
    memset(b, 0, sizeof *b);
}

int ed_batch_fill(ed_batch *b, const ed_dataset *ds, const uint32_t *ids, int n, int pad_to_max, ed_error *err) {
    ED_CHECK(n >= 0, "batch of %d windows", n);
    int T = pad_to_max ? ds->max_length - 1 : 0;
    for (int i = 0; i < n; i++) {
        uint64_t start;
        uint32_t len;
        if (ed_dataset_locate(ds, ids[i], &start, &len, err) != 0) {
            b->B = 0, b->n_targets = 0;
            return -1;
        }
        if (!pad_to_max && (int)len - 1 > T) T = (int)len - 1;
    }
    ED_CHECK(T <= b->cap_T, "batch length %d exceeds capacity %d", T, b->cap_T);
    ED_CHECK((size_t)n * (size_t)T <= (size_t)b->cap_B * (size_t)b->cap_T,
             "batch of %d rows x %d tokens exceeds capacity %d x %d", n, T, b->cap_B, b->cap_T);
    b->B = n;
    b->T = T;
    b->n_targets = 0;
    for (int i = 0; i < n; i++) {
        uint64_t start;
        uint32_t len;
        ed_dataset_locate(ds, ids[i], &start, &len, err); /* found above */
        int m = (int)len - 1;
        int32_t *in = b->inputs + (size_t)i * T, *tg = b->targets + (size_t)i * T;
        uint8_t *mk = b->mask + (size_t)i * T;
        /* the window's m + 1 ids: inputs are the first m, targets the last m; the id past
         * the inputs goes into tg[m - 1] directly, so the copy reads each id once */
        if (ed_dataset_tokens(ds, start, (size_t)m, in, err) != 0 ||
            ed_dataset_tokens(ds, start + (uint64_t)m, 1, tg + m - 1, err) != 0) {
            b->B = 0, b->n_targets = 0;
            return -1;
        }
        memcpy(tg, in + 1, (size_t)(m - 1) * sizeof *tg);
        memset(mk, 1, (size_t)m);
        int counted = m;
        if (ds->completion && !ds->loss_all) /* target t is token start + 1 + t */
            for (int t = 0; t < m; t++)
                if (!ds->completion[start + 1 + (uint64_t)t]) tg[t] = -100, counted--;
        for (int t = m; t < T; t++) {
            in[t] = 0; /* any row: the ignore label (-100) below keeps it out of the loss */
            tg[t] = -100;
            mk[t] = 0;
        }
        b->n_targets += counted;
    }
    return 0;
}
