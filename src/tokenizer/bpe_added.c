/* bpe_added.c — a tokenizer.json's added tokens (e.g. "<|endoftext|>", "<|eot_id|>"):
 * found in the raw text before normalizing and pre-tokenizing, so a special token written
 * in the text becomes its id and never a sequence of byte pieces. HF matches them
 * leftmost-longest (aho-corasick); the entries are few (hundreds), so a table by first
 * byte, longest first, finds the same match with a handful of comparisons. */
#include <stdlib.h>
#include <string.h>

#include "bpe_internal.h"

typedef struct {
    const char *s;
    size_t len;
    int32_t id;
} entry;

static int by_first_then_longest(const void *pa, const void *pb) {
    const entry *a = pa, *b = pb;
    unsigned ca = (unsigned char)a->s[0], cb = (unsigned char)b->s[0];
    if (ca != cb) return ca < cb ? -1 : 1;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

void bpe_added_init(bpe_added *a, const int32_t *ids, int n, const char *const *strs) {
    memset(a, 0, sizeof *a);
    entry *e = ed_malloc((size_t)(n > 0 ? n : 1) * sizeof *e);
    int m = 0;
    size_t total = 0;
    for (int k = 0; k < n; k++) {
        size_t l = strlen(strs[k]);
        if (l == 0) continue; /* an empty token cannot be found in text */
        e[m++] = (entry){strs[k], l, ids[k]};
        total += l;
    }
    qsort(e, (size_t)m, sizeof *e, by_first_then_longest);
    a->n = m;
    a->ids = ed_malloc((size_t)(m > 0 ? m : 1) * sizeof *a->ids);
    a->off = ed_malloc((size_t)(m + 1) * sizeof *a->off);
    a->strs = ed_malloc(total + 1);
    size_t o = 0;
    int k = 0;
    for (int c = 0; c < 256; c++) {
        a->first[c] = k;
        for (; k < m && (unsigned char)e[k].s[0] == c; k++) {
            a->ids[k] = e[k].id;
            a->off[k] = o;
            memcpy(a->strs + o, e[k].s, e[k].len);
            o += e[k].len;
        }
    }
    a->first[256] = m;
    a->off[m] = o;
    free(e);
}

void bpe_added_free(bpe_added *a) {
    free(a->ids);
    free(a->off);
    free(a->strs);
    memset(a, 0, sizeof *a);
}

size_t bpe_added_match(const bpe_added *a, const char *s, size_t n, int32_t *id) {
    unsigned c = (unsigned char)s[0];
    for (int k = a->first[c]; k < a->first[c + 1]; k++) {
        size_t l = a->off[k + 1] - a->off[k];
        if (l <= n && memcmp(s, a->strs + a->off[k], l) == 0) {
            *id = a->ids[k];
            return l;
        }
    }
    return 0;
}
