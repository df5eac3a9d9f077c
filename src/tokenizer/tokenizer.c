/* tokenizer.c — the kind-independent tokenizer interface (include/expert/tokenizer.h):
 * option checks, special tokens, and the JSON file/blob format, dispatched by kind
 * through the vtables of tok_internal.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* The file and the checkpoint blob are byte-identical: one token per line keeps the
 * file readable and diffable, and sorted keys keep it deterministic. */
#define TOK_JSON_FLAGS (JSON_INDENT(1) | JSON_SORT_KEYS)

const char *const ed_tok_kind_names[] = {"word", "bpe", NULL};

ed_tokenizer *ed_tok_wrap(ed_tok_kind kind, void *impl) {
    if (!impl) return NULL;
    ed_tokenizer *t = ed_malloc(sizeof *t);
    t->kind = kind;
    t->vt = kind == ED_TOK_WORD ? &ed_word_vtable : &ed_bpe_vtable;
    ED_CHECK(t->vt, "tokenizer kind %d has no implementation", (int)kind);
    t->impl = impl;
    return t;
}

ed_tokenizer *ed_tok_train(const ed_tok_options *opt, const char *const *texts, const size_t *lens, size_t n,
                           ed_error *err) {
    ed_tok_counter *c = ed_tok_counter_new(opt, err);
    if (!c) return NULL;
    for (size_t i = 0; i < n; i++) ed_tok_counter_add(c, texts[i], lens[i]);
    ed_tokenizer *t = ed_tok_train_counts(opt, c, err);
    ed_tok_counter_free(c);
    return t;
}

void ed_tok_free(ed_tokenizer *t) {
    if (!t) return;
    t->vt->free(t->impl);
    free(t);
}

ed_tok_kind ed_tok_kind_of(const ed_tokenizer *t) { return t->kind; }

int ed_tok_vocab_size(const ed_tokenizer *t) { return t->vt->vocab_size(t->impl); }

void ed_tok_encode(const ed_tokenizer *t, const char *text, size_t len, int add_special, ed_ivec *out) {
    if (add_special) ed_ivec_push(out, ED_BOS);
    t->vt->encode(t->impl, text, len, out);
    if (add_special) ed_ivec_push(out, ED_EOS);
}

char *ed_tok_decode(const ed_tokenizer *t, const int32_t *ids, size_t n, int skip_special) {
    if (!skip_special) return t->vt->decode(t->impl, ids, n);
    /* <UNK> stays: dropping it would silently delete words from the text. */
    int32_t *keep = ed_malloc((n ? n : 1) * sizeof *keep);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] != ED_PAD && ids[i] != ED_BOS && ids[i] != ED_EOS) keep[m++] = ids[i];
    char *s = t->vt->decode(t->impl, keep, m);
    free(keep);
    return s;
}

const char *ed_tok_token(const ed_tokenizer *t, int32_t id) { return t->vt->token(t->impl, id); }

char *ed_tok_serialize(const ed_tokenizer *t, size_t *len) {
    json_t *root = t->vt->to_json(t->impl);
    char *s = json_dumps(root, TOK_JSON_FLAGS);
    json_decref(root);
    ED_CHECK(s, "cannot serialize the tokenizer");
    /* json_dumps allocates with jansson's allocator (malloc by default); hand back our own copy
     * so callers can always free() it. */
    char *out = ed_strdup(s);
    free(s);
    if (len) *len = strlen(out);
    return out;
}

/* Parses a tokenizer from JSON text; `origin` (a path, or "tokenizer blob") prefixes errors. */
static ed_tokenizer *from_text(const char *data, size_t len, const char *origin, ed_error *err) {
    json_error_t je;
    json_t *root = json_loadb(data, len, 0, &je);
    if (!root) {
        ed_fail(err, "%s:%d: not a valid tokenizer JSON file: %s", origin, je.line, je.text);
        return NULL;
    }
    ed_tokenizer *t = NULL;
    ed_error sub;
    const char *kind = json_string_value(json_object_get(root, "kind"));
    int k = kind ? ed_name_index(ed_tok_kind_names, kind) : -1;
    if (!json_is_object(root) || !kind) {
        ed_fail(err, "%s: not a tokenizer: expected an object with a \"kind\" field (word or bpe)", origin);
    } else if (k == ED_TOK_WORD) {
        t = ed_tok_wrap(ED_TOK_WORD, ed_word_from_json(root, &sub));
        if (!t) ed_fail(err, "%s: %s", origin, sub.msg);
    } else if (k == ED_TOK_BPE) {
        t = ed_tok_wrap(ED_TOK_BPE, ed_bpe_from_json(root, &sub));
        if (!t) ed_fail(err, "%s: %s", origin, sub.msg);
    } else {
        ed_fail(err, "%s: unknown tokenizer kind \"%s\" (expected word or bpe)", origin, kind);
    }
    json_decref(root);
    return t;
}

ed_tokenizer *ed_tok_deserialize(const char *data, size_t len, ed_error *err) {
    return from_text(data, len, "tokenizer blob", err);
}

int ed_tok_save(const ed_tokenizer *t, const char *path, ed_error *err) {
    size_t len;
    char *s = ed_tok_serialize(t, &len);
    /* The common atomic write (common.h): a crash never leaves half a vocabulary. */
    s = ed_realloc(s, len + 2);
    s[len] = '\n';
    s[len + 1] = '\0';
    int rc = ed_write_file_atomic(path, s, len + 1, "tokenizer", err);
    free(s);
    return rc;
}

ed_tokenizer *ed_tok_load(const char *path, ed_error *err) {
    char *data;
    size_t len;
    if (ed_read_file(path, &data, &len, err) != 0) return NULL;
    ed_tokenizer *t = from_text(data, len, path, err);
    free(data);
    return t;
}
