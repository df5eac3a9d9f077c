/* word_table.h — the tokenizers' one string table (private to src/tokenizer/): bytes ->
 * entry with an int64 value. The word tokenizer's vocabulary, the word counts that word
 * and BPE training both start from (tok_count.c), and BPE's maps (token bytes -> id, the
 * encode cache).
 *
 * Open addressing with linear probing over a power-of-two slot array, ed_hash_bytes hashes.
 * Strings live back to back (NUL-terminated) in one growing arena and entries refer to
 * them by offset, so adding a word costs no malloc of its own. Entries keep insertion
 * order, so iterating 0..n is deterministic; the word tokenizer's entry i is token id i
 * once the vocabulary is final, and while counting, value is the word's count. */
#ifndef EXPERT_WORD_TABLE_H
#define EXPERT_WORD_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "expert/common.h"

typedef struct {
    char *arena;
    size_t arena_len, arena_cap;
    uint64_t *off;   /* [n] string offset in arena */
    uint32_t *len;   /* [n] string length in bytes */
    uint64_t *hash;  /* [n] cached hash, so probing and growing never re-hash */
    int64_t *value;  /* [n] the entry's value: a count, an id, a cache entry */
    size_t n, cap;
    int32_t *slots;  /* [n_slots] entry index or -1 */
    size_t n_slots;
} wt_table;

void wt_init(wt_table *t);
void wt_free(wt_table *t);
/* Empties the table, keeping its arrays. */
void wt_clear(wt_table *t);
static inline uint64_t wt_hash(const char *s, size_t n) { return ed_hash_bytes(s, n); }
/* Entry index of s[0..n), or -1. */
int32_t wt_find(const wt_table *t, const char *s, size_t n, uint64_t h);
/* Entry index of s[0..n), adding it (value 0) when absent; *added tells which. */
int32_t wt_insert(wt_table *t, const char *s, size_t n, uint64_t h, int *added);
/* The same, hashing s here; wt_put gives a new entry value v (added may be NULL). */
static inline int32_t wt_lookup(const wt_table *t, const char *s, size_t n) { return wt_find(t, s, n, wt_hash(s, n)); }
int32_t wt_put(wt_table *t, const char *s, size_t n, int64_t v, int *added);
static inline const char *wt_str(const wt_table *t, size_t i) { return t->arena + t->off[i]; }

#endif
