/* bpe_internal.h — private pieces of the byte-level BPE tokenizer (GPT-2 style).
 *
 * Files:  bpe_hash.c    the id-pair map (u64 -> int32); byte strings use word_table.h
 *         bpe_bytes.c   GPT-2's byte <-> printable-unicode mapping of token strings
 *         bpe_pretok.c  pre-tokenization regexes (GPT-2's, or a tokenizer.json's steps)
 *         bpe_train.c   learning merges (incremental pair counts + lazy max-heap)
 *         bpe.c         the model: build from (vocab, merges), encode/decode, vtable
 *         bpe_json.c    our JSON format and GPT-2's vocab.json + merges.txt
 *         bpe_added.c   added tokens matched in the raw text before BPE (tokenizer.json)
 *         hf_json.c     Hugging Face tokenizer.json (byte-level BPE) onto this engine
 *
 * Id layout of a trained tokenizer: 0..3 the specials, 4+b the byte b, 260+r the result
 * of merge r (unless the same string was already made by an earlier merge, then that id
 * is reused). A loaded tokenizer may use any layout: only the merge table and the token
 * bytes matter, so nothing outside bpe_build() assumes the trained layout. An imported
 * one (tokenizer.json, GPT-2's files) keeps its own ids: its special tokens sit wherever
 * the file puts them ("raw" tokens below) and its roles (BOS, EOS...) are recorded. */
#ifndef EXPERT_BPE_INTERNAL_H
#define EXPERT_BPE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <jansson.h>

#include "expert/common.h"
#include "word_table.h"

/* ---- hash maps ------------------------------------------------------------------- */

/* bytes -> int64: wt_table (word_table.h), the tokenizers' one string table. */

/* u64 -> int32 (pair (left, right) packed as left << 32 | right). */
typedef struct {
    uint64_t *keys; /* UINT64_MAX = empty (no pair of ids < 2^31 packs to it) */
    int32_t *vals;
    size_t mask, n;
} bpe_umap;

void bpe_umap_init(bpe_umap *m, size_t expect);
void bpe_umap_free(bpe_umap *m);
static inline uint64_t bpe_pair_key(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }
/* Value of key or -1. Inline: it is the inner loop of encoding. */
static inline int32_t bpe_umap_get(const bpe_umap *m, uint64_t key) {
    size_t i = (size_t)ed_hash_mix64(key) & m->mask;
    for (;;) {
        if (m->keys[i] == key) return m->vals[i];
        if (m->keys[i] == UINT64_MAX) return -1;
        i = (i + 1) & m->mask;
    }
}
/* Pointer to the value of key, inserting init when absent (pointer valid until next insert). */
int32_t *bpe_umap_put(bpe_umap *m, uint64_t key, int32_t init);


/* ---- GPT-2 byte <-> unicode mapping ---------------------------------------------- */

/* Appends the printable form of bytes s[0..n) (each byte one code point, UTF-8 encoded)
 * to buf (grown with ed_realloc); returns the new length. buf is NUL-terminated. */
size_t bpe_bytes_to_str(const unsigned char *s, size_t n, char **buf, size_t *cap, size_t len);
/* Inverse: the raw bytes of a printable token string into out (at most strlen(str) bytes);
 * returns their count, or -1 if str contains a character outside the mapping. */
long bpe_str_to_bytes(const char *str, size_t len, unsigned char *out);

/* ---- pre-tokenizer ---------------------------------------------------------------- */

enum { BPE_PRETOK_MAX_STEPS = 8 };
/* A chain of splitting steps; each cuts every piece of the step before it (matches and
 * the text between them are pieces). A step without a regex passes pieces on whole. */
typedef struct {
    pcre2_code *re[BPE_PRETOK_MAX_STEPS];
    uint8_t prefix_space[BPE_PRETOK_MAX_STEPS]; /* prepend ' ' to a piece not starting with one */
    int n;
} bpe_pretok;

extern const char bpe_gpt2_pattern[];
/* The one-step GPT-2 pre-tokenizer (ours). */
int bpe_pretok_init(bpe_pretok *p, ed_error *err);
/* Appends a step (pattern NULL: no split); `what` prefixes a regex compile error. p must
 * be zeroed or initialised first. */
int bpe_pretok_add(bpe_pretok *p, const char *pattern, int prefix_space, const char *what, ed_error *err);
void bpe_pretok_free(bpe_pretok *p);
typedef void (*bpe_piece_fn)(void *ctx, const char *s, size_t len);
/* Calls fn for every pre-token of text[0..len) in order; the pieces tile the text exactly
 * (plus any prefix spaces). Invalid UTF-8 bytes (which the regex cannot see) become
 * one-byte pieces, so any byte string survives encode/decode. */
void bpe_pretok_each(const bpe_pretok *p, const char *text, size_t len, bpe_piece_fn fn, void *ctx);
/* Length of the longest valid UTF-8 prefix of s[0..n). */
size_t bpe_utf8_valid_prefix(const unsigned char *s, size_t n);
/* bpe_train.c: adds the pre-tokens of text[0..len) to counts (the counter's table:
 * piece -> occurrences, word_table.h). */
void ed_bpe_count(wt_table *counts, const bpe_pretok *p, const char *text, size_t len);

/* ---- the model -------------------------------------------------------------------- */

/* Encode cache: pre-token bytes -> ids. The one piece of mutable state behind a shared,
 * logically immutable tokenizer; guarded by a mutex that encode only *tries* to take, so
 * threads never wait on each other (a miss just recomputes). Results never depend on it. */
typedef struct {
    pthread_mutex_t lock;
    wt_table map;  /* value = offset into ids << 8 | count */
    ed_ivec ids;
} bpe_cache;

/* Added tokens (tokenizer.json's added_tokens): found in the raw text before anything
 * else, leftmost and then longest first, as HF does; the text between them is encoded
 * normally. Sorted by first byte, longest first within a byte. */
typedef struct {
    int n;
    int32_t *ids;
    size_t *off;       /* [n+1] raw bytes of entry k: strs[off[k] .. off[k+1]) */
    char *strs;
    int32_t first[257]; /* entries starting with byte c: [first[c], first[c+1]) */
} bpe_added;

/* Builds the matcher over the raw strings of ids[0..n) (bytes in b's table). */
void bpe_added_init(bpe_added *a, const int32_t *ids, int n, const char *const *strs);
void bpe_added_free(bpe_added *a);
/* Length of the added token starting at s[0..n) (its id in *id), or 0. */
size_t bpe_added_match(const bpe_added *a, const char *s, size_t n, int32_t *id);

typedef struct {
    int n_vocab;
    size_t *tok_off;   /* [n_vocab+1] raw bytes of token id: bytes[tok_off[id] .. tok_off[id+1]) */
    unsigned char *bytes;
    size_t *str_off;   /* [n_vocab+1] printable string (specials: their names), NUL-terminated */
    char *strs;
    int32_t byte_id[256];
    int n_merges;
    int32_t *merges;   /* [3*n_merges]: left, right, result of rank r */
    bpe_umap rank;     /* pair key -> rank */
    bpe_pretok pre;
    bpe_cache *cache;
    /* tokenizer.json only (hf_json.c); all zero for ours */
    bpe_added added;
    int nfc;           /* normalizer NFC (utf8proc) on the text between added tokens */
    int ignore_merges; /* a piece that is itself a token is that token (Llama 3) */
    wt_table whole;    /* token bytes -> id, for ignore_merges */
    char *hf_text;     /* the tokenizer.json text: what the checkpoint stores */
    int32_t roles[4];  /* PAD UNK BOS EOS ids, -1 none */
} ed_bpe;

/* Builds the model from token strings and merges as id pairs (merges[2r], merges[2r+1]);
 * a merge's result is the token whose bytes are the concatenation. Tokens are printable
 * (GPT-2's byte mapping) except "raw" ones, whose string is their bytes and which no
 * merge makes: raw NULL means ours, ids 0..3 raw and named <PAD> <UNK> <BOS> <EOS>;
 * otherwise raw[id] != 0 marks them (an imported file's special tokens). src names the
 * input in error messages. */
ed_bpe *bpe_build(const char *const *tok_str, int n_vocab, const int32_t *pairs, int n_merges,
                  const uint8_t *raw, const char *src, ed_error *err);
void bpe_free(void *impl);
json_t *bpe_to_json(const void *impl); /* bpe_json.c */

/* Merges byte ids ids[0..n) in place by rank (lowest first, leftmost first, as GPT-2's
 * bpe()); returns the new length. _simple scans the word's pair ranks once per merge step
 * (fast for short words, O(n^2) worst case); _heap keeps a heap of candidate pairs
 * (O(n log n), for pieces longer than 128 bytes). */
size_t bpe_merge_simple(const ed_bpe *b, int32_t *ids, size_t n);
size_t bpe_merge_heap(const ed_bpe *b, int32_t *ids, size_t n);

extern const char *const bpe_special_names[4];

#endif
