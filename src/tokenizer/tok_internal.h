/* tok_internal.h — what each tokenizer kind provides to the dispatch in tokenizer.c.
 * Private to src/tokenizer/. A kind is a vtable plus an opaque implementation pointer;
 * serialization goes through jansson so the file format and the checkpoint blob are one. */
#ifndef EXPERT_TOK_INTERNAL_H
#define EXPERT_TOK_INTERNAL_H

#include <jansson.h>

#include "expert/tokenizer.h"

typedef struct {
    /* ids of text without specials, appended to out */
    void (*encode)(const void *impl, const char *text, size_t len, ed_ivec *out);
    /* malloc'd text of ids; specials already filtered by the caller when skip_special */
    char *(*decode)(const void *impl, const int32_t *ids, size_t n);
    const char *(*token)(const void *impl, int32_t id);
    int (*vocab_size)(const void *impl);
    json_t *(*to_json)(const void *impl); /* includes "kind" */
    void (*free)(void *impl);
} ed_tok_vtable;

struct ed_tokenizer {
    ed_tok_kind kind;
    const ed_tok_vtable *vt;
    void *impl;
};

/* word.c */
extern const ed_tok_vtable ed_word_vtable;
void *ed_word_train(const ed_tok_options *opt, const char *const *texts, const size_t *lens, size_t n,
                    ed_error *err);
void *ed_word_from_json(const json_t *root, ed_error *err);

/* bpe.c */
extern const ed_tok_vtable ed_bpe_vtable;
void *ed_bpe_train(const ed_tok_options *opt, const char *const *texts, const size_t *lens, size_t n,
                   ed_error *err);
void *ed_bpe_from_json(const json_t *root, ed_error *err);

#endif
