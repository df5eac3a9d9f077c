/* word_split.h — how the word tokenizer cuts text into tokens (private to src/tokenizer/).
 *
 * The rule, by Unicode general category (utf8proc):
 *  - word characters: letters (L*), marks (M*) and numbers (N*). A run of them is one token.
 *  - joiners: ' (U+0027), ’ (U+2019), - (U+002D), ‐ (U+2010), ‑ (U+2011). Between two word
 *    characters they stay inside the word ("don't", "well-known", "кто-то", "из-за");
 *    anywhere else they are punctuation.
 *  - separators: spaces (Z*), controls (Cc: tab, newline, ...) and format characters (Cf:
 *    zero-width space, BOM). They only separate and never become tokens.
 *  - everything else (punctuation P*, symbols S*, private use, unassigned) is one token per
 *    code point, so "?!" is two tokens and "..." three.
 *  - a byte that is not valid UTF-8 becomes a one-byte token (it maps to <UNK>): encode
 *    never fails, datasets reject such input before it gets here.
 * Case folding (lowercase option) maps each code point through utf8proc_tolower; there is
 * no other normalisation (NFC text stays NFC; NFD text gives different tokens). */
#ifndef EXPERT_WORD_SPLIT_H
#define EXPERT_WORD_SPLIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint8_t *s;
    size_t len, pos;
} ws_iter;

static inline void ws_iter_init(ws_iter *it, const char *s, size_t len) {
    it->s = (const uint8_t *)s;
    it->len = len;
    it->pos = 0;
}

/* Next token as [*start, *start + *n) of the input; returns 0 at the end. */
int ws_next(ws_iter *it, size_t *start, size_t *n);

/* Writes the case-folded bytes of s[0..n) to out (room for 4*n bytes); returns the length. */
size_t ws_fold(const char *s, size_t n, char *out);

/* Scratch space for ws_fold in a loop over tokens: on the stack for ordinary words, on
 * the heap only for the rare token longer than that (free with ws_foldbuf_free). */
typedef struct {
    char small[1024];
    char *big;
    size_t big_cap;
} ws_foldbuf;

/* The folded s[0..n), in fb (valid until the next call), its length in *out_n. */
const char *ws_fold_into(ws_foldbuf *fb, const char *s, size_t n, size_t *out_n);
void ws_foldbuf_free(ws_foldbuf *fb);

/* Spacing used by decode: 1 when tok takes no space before it (closing punctuation). */
int ws_is_closer(const char *tok);
/* 1 when the token after tok takes no space (opening punctuation). */
int ws_is_opener(const char *tok);
/* 1 for the ASCII quotes " and ', which open and close alternately. */
int ws_is_toggle_quote(const char *tok);

#endif
