/* prep_helpers.h — shared by the prepared-file tests: a generated corpus file (English and
 * Russian paragraphs of very different lengths) and a field-by-field dataset comparison. */
#ifndef ED_TEST_PREP_HELPERS_H
#define ED_TEST_PREP_HELPERS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expert/dataset.h"
#include "expert/rng.h"

static const char *const ph_words[] = {
    "the", "cat", "sat", "on", "a", "mat", "and", "they", "went", "home", "it's", "don't", "42", "1999",
    "кот", "сидел", "на", "ковре", "и", "потом", "они", "пошли", "домой", "ёлка", "съешь", "ещё",
    "(quoted)", "—", "well,", "end.", "😀", "naïve", "Straße"};
enum { PH_NWORDS = sizeof ph_words / sizeof *ph_words };

/* Writes n_docs paragraphs to path; document i has between 1 and max_words words, a few
 * are long enough to need several windows. Returns total bytes written. */
static inline size_t ph_write_corpus(const char *path, int n_docs, int max_words, uint64_t seed) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    ed_rng r;
    ed_rng_seed(&r, seed, 0);
    size_t bytes = 0;
    for (int d = 0; d < n_docs; d++) {
        int words = 1 + (int)ed_rng_below(&r, (uint64_t)(d % 7 == 0 ? max_words : max_words / 8 + 1));
        for (int i = 0; i < words; i++) {
            const char *w = ph_words[ed_rng_below(&r, PH_NWORDS)];
            int nl = i > 0 && ed_rng_below(&r, 20) == 0; /* a line break inside a paragraph */
            bytes += (size_t)fprintf(f, "%s%s", i ? (nl ? "\n" : " ") : "", w);
        }
        bytes += (size_t)fprintf(f, "\n\n");
    }
    fclose(f);
    return bytes;
}

/* Returns a description of the first difference, or NULL when a and b are identical. */
static inline const char *ph_dataset_diff(const ed_dataset *a, const ed_dataset *b) {
    if (a->n_tokens != b->n_tokens) return "n_tokens";
    if (a->n_windows != b->n_windows) return "n_windows";
    if (a->n_docs != b->n_docs) return "n_docs";
    if (a->max_length != b->max_length) return "max_length";
    for (size_t i = 0; i < a->n_tokens; i++)
        if (ed_dataset_id(a, i) != ed_dataset_id(b, i)) return "tokens";
    for (size_t w = 0; w < a->n_windows; w++) {
        uint64_t sa, sb;
        uint32_t la, lb;
        ed_dataset_window(a, w, &sa, &la);
        ed_dataset_window(b, w, &sb, &lb);
        if (sa != sb) return "window start";
        if (la != lb) return "window length";
    }
    return NULL;
}

/* Fills every batch of one shuffled epoch from both datasets and compares them. */
static inline const char *ph_batches_diff(const ed_dataset *a, const ed_dataset *b, int B, int rank, int world) {
    ed_sampler s;
    ed_sampler_init(&s, a->n_windows, B, 2, rank, world, 1234, 1);
    ed_sampler_set_epoch(&s, 1);
    ed_batch x, y;
    ed_batch_init(&x, B, a->max_length - 1);
    ed_batch_init(&y, B, b->max_length - 1);
    uint32_t *ids = malloc((size_t)B * sizeof *ids);
    const char *diff = NULL;
    for (long step = 0; step < ed_sampler_steps(&s) && !diff; step++)
        for (int micro = 0; micro < 2 && !diff; micro++) {
            int n = ed_sampler_micro(&s, step, micro, ids);
            if (ed_batch_fill(&x, a, ids, n, 0, NULL) != 0 || ed_batch_fill(&y, b, ids, n, 0, NULL) != 0)
                diff = "batch fill failed";
            size_t cells = (size_t)x.B * (size_t)x.T;
            if (diff) break;
            if (x.B != y.B || x.T != y.T || x.n_targets != y.n_targets) diff = "batch shape";
            else if (memcmp(x.inputs, y.inputs, cells * sizeof *x.inputs) != 0) diff = "batch inputs";
            else if (memcmp(x.targets, y.targets, cells * sizeof *x.targets) != 0) diff = "batch targets";
            else if (memcmp(x.mask, y.mask, cells) != 0) diff = "batch mask";
        }
    free(ids);
    ed_batch_free(&x);
    ed_batch_free(&y);
    ed_sampler_free(&s);
    return diff;
}

#endif
