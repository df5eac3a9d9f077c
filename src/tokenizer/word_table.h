/* word_table.h — the tokenizers' string table (private to src/tokenizer/): the word
 * tokenizer's vocabulary, and the word counts that word and BPE training both start from
 * (tok_count.c).
 *
 * Open addressing with linear probing over a power-of-two slot array, ed_hash_bytes hashes.
 * Strings live back to back (NUL-terminated) in one growing arena and entries refer to
 * them by offset, so adding a word costs no malloc of its own. Entry i is token id i
 * once the vocabulary is final; during training entry i carries the word's count. */
#ifndef EXPERT_WORD_TABLE_H
#define EXPERT_WORD_TABLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *arena;
    size_t arena_len, arena_cap;
    uint64_t *off;   /* [n] string offset in arena */
    uint32_t *len;   /* [n] string length in bytes */
    uint64_t *hash;  /* [n] cached hash, so probing and growing never re-hash */
    int64_t *count;  /* [n] occurrences (training) */
    size_t n, cap;
    int32_t *slots;  /* [n_slots] entry index or -1 */
    size_t n_slots;
} wt_table;

void wt_init(wt_table *t);
void wt_free(wt_table *t);
/* Empties the table, keeping its arrays. */
void wt_clear(wt_table *t);
uint64_t wt_hash(const char *s, size_t n);
/* Entry index of s[0..n), or -1. */
int32_t wt_find(const wt_table *t, const char *s, size_t n, uint64_t h);
/* Entry index of s[0..n), adding it (count 0) when absent; *added tells which. */
int32_t wt_insert(wt_table *t, const char *s, size_t n, uint64_t h, int *added);
static inline const char *wt_str(const wt_table *t, size_t i) { return t->arena + t->off[i]; }

#endif
