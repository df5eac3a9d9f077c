/* bpe_hash.c — the two hash maps BPE needs: word bytes -> value (word counts, vocabulary
 * lookup, encode cache) and packed id pair -> value (pair ranks, training pair index).
 * Open addressing with linear probing, load factor <= 1/2, power-of-two tables. */
#include <stdlib.h>
#include <string.h>

#include "bpe_internal.h"

/* The slot and the 32-bit tag kept beside it both come from the one run-time hash. */
uint32_t bpe_hash_bytes(const char *s, size_t n) { return (uint32_t)ed_hash_bytes(s, n); }

static size_t pow2_at_least(size_t n) {
    size_t p = 16;
    while (p < n) p *= 2;
    return p;
}

void bpe_smap_init(bpe_smap *m, size_t expect) {
    memset(m, 0, sizeof *m);
    size_t ns = pow2_at_least(2 * expect + 1);
    m->slots = ed_calloc(ns, sizeof *m->slots);
    m->mask = ns - 1;
}

void bpe_smap_free(bpe_smap *m) {
    free(m->slots);
    free(m->items);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

void bpe_smap_clear(bpe_smap *m) {
    memset(m->slots, 0, (m->mask + 1) * sizeof *m->slots);
    m->n = 0;
    m->arena_len = 0;
}

int64_t bpe_smap_find(const bpe_smap *m, const char *key, size_t len) {
    uint32_t h = bpe_hash_bytes(key, len);
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        uint64_t s = m->slots[i];
        if (s == 0) return -1;
        if ((uint32_t)(s >> 32) != h) continue; /* most misses end here, without touching items */
        int64_t k = (int64_t)(uint32_t)s - 1;
        const bpe_sitem *it = &m->items[k];
        if (it->len == len && memcmp(m->arena + it->off, key, len) == 0) return k;
    }
}

static void smap_grow(bpe_smap *m) {
    size_t ns = 2 * (m->mask + 1);
    free(m->slots);
    m->slots = ed_calloc(ns, sizeof *m->slots);
    m->mask = ns - 1;
    for (size_t k = 0; k < m->n; k++) {
        size_t i = m->items[k].hash & m->mask;
        while (m->slots[i]) i = (i + 1) & m->mask;
        m->slots[i] = (uint64_t)m->items[k].hash << 32 | (k + 1);
    }
}

int64_t bpe_smap_put(bpe_smap *m, const char *key, size_t len, int64_t v, int *added) {
    uint32_t h = bpe_hash_bytes(key, len);
    size_t i = h & m->mask;
    for (;; i = (i + 1) & m->mask) {
        uint64_t s = m->slots[i];
        if (s == 0) break;
        if ((uint32_t)(s >> 32) != h) continue;
        int64_t k = (int64_t)(uint32_t)s - 1;
        const bpe_sitem *it = &m->items[k];
        if (it->len == len && memcmp(m->arena + it->off, key, len) == 0) {
            if (added) *added = 0;
            return k;
        }
    }
    ED_CHECK(m->n < INT32_MAX && len <= UINT32_MAX, "bpe: hash map too large");
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->items = ed_realloc(m->items, m->cap * sizeof *m->items);
    }
    if (m->arena_len + len + 1 > m->arena_cap) {
        m->arena_cap = m->arena_cap ? 2 * m->arena_cap : 4096;
        while (m->arena_len + len + 1 > m->arena_cap) m->arena_cap *= 2;
        m->arena = ed_realloc(m->arena, m->arena_cap);
    }
    memcpy(m->arena + m->arena_len, key, len);
    m->arena[m->arena_len + len] = '\0'; /* keys double as C strings */
    m->items[m->n] = (bpe_sitem){.off = m->arena_len, .len = (uint32_t)len, .hash = h, .value = v};
    m->arena_len += len + 1;
    m->slots[i] = (uint64_t)h << 32 | (m->n + 1);
    int64_t idx = (int64_t)m->n++;
    if (2 * m->n > m->mask + 1) smap_grow(m);
    if (added) *added = 1;
    return idx;
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
