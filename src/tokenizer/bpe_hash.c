/* bpe_hash.c — the id-pair map BPE needs: packed id pair -> value (pair ranks, training
 * pair index). Open addressing with linear probing, load factor <= 1/2, power-of-two
 * tables. (Its byte-string maps are word_table.h's table, shared with the word
 * tokenizer.) */
#include <stdlib.h>
#include <string.h>

#include "bpe_internal.h"

static size_t pow2_at_least(size_t n) {
    size_t p = 16;
    while (p < n) p *= 2;
    return p;
}

void bpe_umap_init(bpe_umap *m, size_t expect) {
    size_t ns = pow2_at_least(2 * expect + 1);
    m->keys = ed_malloc(ns * sizeof *m->keys);
    memset(m->keys, 0xff, ns * sizeof *m->keys);
    m->vals = ed_malloc(ns * sizeof *m->vals);
    m->mask = ns - 1;
    m->n = 0;
}

void bpe_umap_free(bpe_umap *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

int32_t *bpe_umap_put(bpe_umap *m, uint64_t key, int32_t init) {
    size_t i = (size_t)ed_hash_mix64(key) & m->mask;
    for (;; i = (i + 1) & m->mask) {
        if (m->keys[i] == key) return &m->vals[i];
        if (m->keys[i] == UINT64_MAX) break;
    }
    if (2 * (m->n + 1) > m->mask + 1) {
        size_t old_n = m->mask + 1, ns = 2 * old_n;
        uint64_t *ok = m->keys;
        int32_t *ov = m->vals;
        m->keys = ed_malloc(ns * sizeof *m->keys);
        memset(m->keys, 0xff, ns * sizeof *m->keys);
        m->vals = ed_malloc(ns * sizeof *m->vals);
        m->mask = ns - 1;
        for (size_t k = 0; k < old_n; k++) {
            if (ok[k] == UINT64_MAX) continue;
            size_t j = (size_t)ed_hash_mix64(ok[k]) & m->mask;
            while (m->keys[j] != UINT64_MAX) j = (j + 1) & m->mask;
            m->keys[j] = ok[k];
            m->vals[j] = ov[k];
        }
        free(ok);
        free(ov);
        i = (size_t)ed_hash_mix64(key) & m->mask;
        while (m->keys[i] != UINT64_MAX) i = (i + 1) & m->mask;
    }
    m->keys[i] = key;
    m->vals[i] = init;
    m->n++;
    return &m->vals[i];
}
