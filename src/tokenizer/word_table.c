/* word_table.c — open-addressing string table of the tokenizers (see word_table.h). */
#include "word_table.h"

#include <stdlib.h>
#include <string.h>

#include "expert/common.h"

void wt_init(wt_table *t) {
    memset(t, 0, sizeof *t);
    t->n_slots = 1024;
    t->slots = ed_malloc(t->n_slots * sizeof *t->slots);
    memset(t->slots, 0xff, t->n_slots * sizeof *t->slots);
}

void wt_free(wt_table *t) {
    free(t->arena);
    free(t->off);
    free(t->len);
    free(t->hash);
    free(t->value);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

void wt_clear(wt_table *t) {
    t->n = 0;
    t->arena_len = 0;
    memset(t->slots, 0xff, t->n_slots * sizeof *t->slots);
}


int32_t wt_find(const wt_table *t, const char *s, size_t n, uint64_t h) {
    size_t mask = t->n_slots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        int32_t e = t->slots[i];
        if (e < 0) return -1;
        if (t->hash[e] == h && t->len[e] == n && memcmp(t->arena + t->off[e], s, n) == 0) return e;
    }
}

static void grow_slots(wt_table *t) {
    size_t n_slots = t->n_slots * 2, mask = n_slots - 1;
    int32_t *slots = ed_malloc(n_slots * sizeof *slots);
    memset(slots, 0xff, n_slots * sizeof *slots);
    for (size_t e = 0; e < t->n; e++) {
        size_t i = t->hash[e] & mask;
        while (slots[i] >= 0) i = (i + 1) & mask;
        slots[i] = (int32_t)e;
    }
    free(t->slots);
    t->slots = slots;
    t->n_slots = n_slots;
}

int32_t wt_insert(wt_table *t, const char *s, size_t n, uint64_t h, int *added) {
    int32_t e = wt_find(t, s, n, h);
    *added = e < 0;
    if (e >= 0) return e;
    ED_CHECK(t->n < INT32_MAX && n < UINT32_MAX, "word table overflow");
    /* Keep the load factor under 1/2 so probe chains stay short. */
    if (2 * (t->n + 1) > t->n_slots) grow_slots(t);
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 1024;
        t->off = ed_realloc(t->off, t->cap * sizeof *t->off);
        t->len = ed_realloc(t->len, t->cap * sizeof *t->len);
        t->hash = ed_realloc(t->hash, t->cap * sizeof *t->hash);
        t->value = ed_realloc(t->value, t->cap * sizeof *t->value);
    }
    if (t->arena_len + n + 1 > t->arena_cap) {
        while (t->arena_len + n + 1 > t->arena_cap) t->arena_cap = t->arena_cap ? 2 * t->arena_cap : 65536;
        t->arena = ed_realloc(t->arena, t->arena_cap);
    }
    memcpy(t->arena + t->arena_len, s, n);
    t->arena[t->arena_len + n] = '\0';
    e = (int32_t)t->n++;
    t->off[e] = t->arena_len;
    t->len[e] = (uint32_t)n;
    t->hash[e] = h;
    t->value[e] = 0;
    t->arena_len += n + 1;
    size_t mask = t->n_slots - 1, i = h & mask;
    while (t->slots[i] >= 0) i = (i + 1) & mask;
    t->slots[i] = e;
    return e;
}

int32_t wt_put(wt_table *t, const char *s, size_t n, int64_t v, int *added) {
    int a;
    int32_t e = wt_insert(t, s, n, wt_hash(s, n), &a);
    if (a) t->value[e] = v;
    if (added) *added = a;
    return e;
}
