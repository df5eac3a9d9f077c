/* tok_internal.h — what each tokenizer kind provides to the dispatch in tokenizer.c.
 * Private to src/tokenizer/. A kind is a vtable plus an opaque implementation pointer;
 * serialization goes through jansson so the file format and the checkpoint blob are one. */
#ifndef EXPERT_TOK_INTERNAL_H
#define EXPERT_TOK_INTERNAL_H

#include <jansson.h>

#include "expert/tokenizer.h"
#include "word_split.h"
#include "word_table.h"

typedef struct {
    /* ids of text without specials, appended to out */
    void (*encode)(const void *impl, const char *text, size_t len, ed_ivec *out);
    /* malloc'd text of ids; specials already filtered by the caller when skip_special */
    char *(*decode)(const void *impl, const int32_t *ids, size_t n);
    const char *(*token)(const void *impl, int32_t id);
    int (*vocab_size)(const void *impl);
    /* PAD UNK BOS EOS ids (-1: none); NULL for our own kinds, whose roles are ids 0..3 */
    void (*roles)(const void *impl, int32_t roles[4]);
    json_t *(*to_json)(const void *impl); /* includes "kind" */
    /* the user's file as loaded (tokenizer.json text, .model bytes); NULL for our kinds */
    const char *(*source)(const void *impl, size_t *len);
    void (*free)(void *impl);
} ed_tok_vtable;

struct ed_tokenizer {
    ed_tok_kind kind;
    const ed_tok_vtable *vt;
    void *impl;
    int32_t role[ED_NUM_ROLES]; /* filled by ed_tok_wrap from vt->roles */
};

/* tokenizer.c: a tokenizer of kind around impl (NULL when impl is NULL). */
ed_tokenizer *ed_tok_wrap(ed_tok_kind kind, void *impl);

/* word.c. Options are checked by the kind (the same message before counting and at
 * training); count adds the word tokens of text (folded with lowercase, fb its scratch)
 * to the counter's table; train reads that table (entry e: wt_str(t, e), t->len[e]
 * bytes, seen t->value[e] times), as bpe's does (tok_count.c owns it). */
extern const ed_tok_vtable ed_word_vtable;
int ed_word_check_options(const ed_tok_options *opt, ed_error *err);
void ed_word_count(wt_table *counts, int lowercase, ws_foldbuf *fb, const char *text, size_t len);
void *ed_word_train_counts(const ed_tok_options *opt, const wt_table *counts, ed_error *err);
void *ed_word_from_json(const json_t *root, ed_error *err);

/* bpe.c, bpe_train.c (counting a text's pre-tokens: ed_bpe_count in bpe_internal.h). */
extern const ed_tok_vtable ed_bpe_vtable;
int ed_bpe_check_options(const ed_tok_options *opt, ed_error *err);
void *ed_bpe_train_counts(const ed_tok_options *opt, const wt_table *counts, ed_error *err);
void *ed_bpe_from_json(const json_t *root, ed_error *err);

/* hf_json.c: Hugging Face tokenizer.json on the bpe engine (same functions, other
 * serialization). From the file's text (config: a tokenizer_config.json's text or NULL;
 * roles: PAD UNK BOS EOS when already known, else NULL to find them); origin prefixes
 * errors. From/to our JSON blob {"kind": "hf", "roles": {...}, "tokenizer_json": text}. */
extern const ed_tok_vtable ed_hf_vtable;
void *ed_hf_from_text(const char *text, size_t len, const char *origin, const char *config, size_t config_len,
                      const int32_t *roles, ed_error *err);
json_t *ed_hf_to_json(const void *impl);
extern const char *const ed_hf_config_keys[4]; /* "pad_token" ... "eos_token" (role order) */
void *ed_hf_from_json(const json_t *root, ed_error *err);

/* tok_spm.c: SentencePiece .model bytes (copied), or our blob {"kind": "sentencepiece",
 * "model_base64": ...}. */
extern const ed_tok_vtable ed_spm_vtable;
void *ed_spm_from_bytes(const char *data, size_t len, const char *origin, ed_error *err);
void *ed_spm_from_json(const json_t *root, ed_error *err);

#endif
