/* tokenizer.c — the kind-independent tokenizer interface (include/expert/tokenizer.h):
 * option checks, special tokens, and the JSON file/blob format, dispatched by kind
 * through the vtables of tok_internal.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tok_internal.h"

/* The file and the checkpoint blob are byte-identical: one token per line keeps the
 * file readable and diffable, and sorted keys keep it deterministic. */
#define TOK_JSON_FLAGS (JSON_INDENT(1) | JSON_SORT_KEYS)
enum { PATH_CAP = 4096 };

const char *const ed_tok_kind_names[] = {"word", "bpe", "sentencepiece", "hf", NULL};

ed_tokenizer *ed_tok_wrap(ed_tok_kind kind, void *impl) {
    static const ed_tok_vtable *const vts[] = {&ed_word_vtable, &ed_bpe_vtable, &ed_spm_vtable, &ed_hf_vtable};
    if (!impl) return NULL;
    ED_CHECK((unsigned)kind < sizeof vts / sizeof vts[0], "tokenizer kind %d has no implementation", (int)kind);
    ed_tokenizer *t = ed_malloc(sizeof *t);
    t->kind = kind;
    t->vt = vts[kind];
    t->impl = impl;
    for (int r = 0; r < ED_NUM_ROLES; r++) t->role[r] = r; /* ours: <PAD>=0 <UNK>=1 <BOS>=2 <EOS>=3 */
    if (t->vt->roles) t->vt->roles(impl, t->role);
    return t;
}

int32_t ed_tok_role_id(const ed_tokenizer *t, ed_tok_role r) { return t->role[r]; }

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
    if (add_special && t->role[ED_ROLE_BOS] >= 0) ed_ivec_push(out, t->role[ED_ROLE_BOS]);
    t->vt->encode(t->impl, text, len, out);
    if (add_special && t->role[ED_ROLE_EOS] >= 0) ed_ivec_push(out, t->role[ED_ROLE_EOS]);
}

char *ed_tok_decode(const ed_tokenizer *t, const int32_t *ids, size_t n, int skip_special) {
    if (!skip_special) return t->vt->decode(t->impl, ids, n);
    /* <UNK> stays: dropping it would silently delete words from the text. */
    int32_t *keep = ed_malloc((n ? n : 1) * sizeof *keep);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] != t->role[ED_ROLE_PAD] && ids[i] != t->role[ED_ROLE_BOS] && ids[i] != t->role[ED_ROLE_EOS])
            keep[m++] = ids[i];
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
    static void *(*const from_json[])(const json_t *, ed_error *) = {ed_word_from_json, ed_bpe_from_json,
                                                                       ed_spm_from_json, ed_hf_from_json};
    if (!json_is_object(root) || !kind) {
        ed_fail(err, "%s: not a tokenizer: expected an object with a \"kind\" field (word, bpe, sentencepiece, hf)",
                origin);
    } else if (k >= 0) {
        t = ed_tok_wrap((ed_tok_kind)k, from_json[k](root, &sub));
        if (!t) ed_fail(err, "%s: %s", origin, sub.msg);
    } else {
        ed_fail(err, "%s: unknown tokenizer kind \"%s\" (expected word, bpe, sentencepiece or hf)", origin, kind);
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

static int is_file(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 && S_ISREG(s.st_mode);
}

/* A Hugging Face tokenizer.json, with the roles of the tokenizer_config.json beside it. */
static ed_tokenizer *load_hf(const char *path, const char *data, size_t len, ed_error *err) {
    char cfg_path[PATH_CAP];
    const char *slash = strrchr(path, '/');
    int dl = slash ? (int)(slash - path) : 1;
    snprintf(cfg_path, sizeof cfg_path, "%.*s/tokenizer_config.json", dl, slash ? path : ".");
    char *cfg = NULL;
    size_t cfg_len = 0;
    if (is_file(cfg_path) && ed_read_file(cfg_path, &cfg, &cfg_len, err) != 0) return NULL;
    ed_tokenizer *t = ed_tok_wrap(ED_TOK_HF, ed_hf_from_text(data, len, path, cfg, cfg_len, NULL, err));
    free(cfg);
    return t;
}

ed_tokenizer *ed_tok_load(const char *path, ed_error *err) {
    char *data;
    size_t len;
    if (ed_read_file(path, &data, &len, err) != 0) return NULL;
    size_t i = 0, pl = strlen(path);
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r')) i++;
    ed_tokenizer *t = NULL;
    /* JSON: ours ("kind") or a tokenizer.json ("model"); a SentencePiece model is protobuf,
     * which never starts with '{' or '[' */
    if ((pl >= 5 && strcmp(path + pl - 5, ".json") == 0) || (i < len && (data[i] == '{' || data[i] == '['))) {
        json_t *root = json_loadb(data, len, 0, NULL);
        int hf = root && !json_object_get(root, "kind") && json_object_get(root, "model");
        json_decref(root);
        t = hf ? load_hf(path, data, len, err) : from_text(data, len, path, err);
    } else {
        t = ed_tok_wrap(ED_TOK_SPM, ed_spm_from_bytes(data, len, path, err));
    }
    free(data);
    return t;
}

ed_tokenizer *ed_tok_load_dir(const char *dir, const char *ours, ed_error *err) {
    /* a directory with both holds a SentencePiece model and its conversion to
     * tokenizer.json (Llama 2, Mistral): the .model is the original */
    static const char *const files[] = {"tokenizer.model", "tokenizer.json"};
    char path[PATH_CAP], merges[PATH_CAP];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (is_file(path)) return ed_tok_load(path, err);
    }
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    snprintf(merges, sizeof merges, "%s/merges.txt", dir);
    if (is_file(path)) return ed_tok_load_gpt2(path, merges, err);
    if (ours) {
        snprintf(path, sizeof path, "%s/%s", dir, ours);
        if (is_file(path)) return ed_tok_load(path, err);
    }
    return ed_fail(err, "%s: no tokenizer (tokenizer.json, tokenizer.model, vocab.json + merges.txt%s%s)", dir,
                   ours ? ", or " : "", ours ? ours : ""),
           NULL;
}

int ed_tok_save_dir(const ed_tokenizer *t, const char *dir, const char *ours, ed_error *err) {
    char path[PATH_CAP];
    size_t len;
    const char *src = t->vt->source ? t->vt->source(t->impl, &len) : NULL;
    if (!src) {
        snprintf(path, sizeof path, "%s/%s", dir, ours);
        return ed_tok_save(t, path, err);
    }
    snprintf(path, sizeof path, "%s/%s", dir, t->kind == ED_TOK_SPM ? "tokenizer.model" : "tokenizer.json");
    if (ed_write_file_atomic(path, src, len, "tokenizer", err) != 0) return -1;
    /* the roles by name, as Hugging Face's tokenizer_config.json gives them (null: none) */
    json_t *cfg = json_object();
    for (int r = 0; r < ED_NUM_ROLES; r++) {
        const char *name = t->role[r] >= 0 ? ed_tok_token(t, t->role[r]) : NULL;
        json_object_set_new(cfg, ed_hf_config_keys[r], name ? json_string(name) : json_null());
    }
    char *s = json_dumps(cfg, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(cfg);
    ED_CHECK(s, "cannot write the tokenizer config");
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    int rc = ed_write_file_atomic(path, s, strlen(s), "tokenizer", err);
    free(s);
    return rc;
}
