/* tok_spm.c — the "sentencepiece" kind: a user's SentencePiece .model file (Llama 1/2,
 * Mistral, Gemma, T5 style; BPE or unigram, byte fallback as the model says) encoded and
 * decoded by libsentencepiece itself (spm_wrap.cc), with the model's own ids and its own
 * BOS/EOS/UNK/PAD. The tokenizer keeps the file's bytes: saved files and checkpoints
 * store them (base64 in the JSON blob), so a checkpoint needs no .model next to it. */
#include <stdlib.h>
#include <string.h>

#include "spm_wrap.h"
#include "tok_internal.h"

typedef struct {
    ed_spm *sp;
    unsigned char *model; /* the .model bytes */
    size_t model_len;
} spm_tok;

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const unsigned char *s, size_t n) {
    char *out = ed_malloc(4 * ((n + 2) / 3) + 1), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
        *o++ = B64[v >> 18];
        *o++ = B64[(v >> 12) & 63];
        *o++ = i + 1 < n ? B64[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? B64[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* -1 on a character outside the alphabet or a length that is not a multiple of 4. */
static long b64_decode(const char *s, size_t n, unsigned char *out) {
    if (n % 4) return -1;
    long o = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            char c = s[i + k];
            const char *p = c ? strchr(B64, c) : NULL;
            if (c == '=' && i + 4 == n && k >= 2) pad++, p = B64;
            else if (!p || pad) return -1;
            v = v << 6 | (uint32_t)(p - B64);
        }
        out[o++] = (unsigned char)(v >> 16);
        if (pad < 2) out[o++] = (unsigned char)(v >> 8);
        if (pad < 1) out[o++] = (unsigned char)v;
    }
    return o;
}

void *ed_spm_from_bytes(const char *data, size_t len, const char *origin, ed_error *err) {
    char why[256] = "";
    ed_spm *sp = len ? ed_spm_load(data, len, why, sizeof why) : NULL;
    if (!sp) { /* the library's parse failure names its own source line: say what it means */
        const char *reason = !len                            ? "the file is empty"
                             : strstr(why, "ParseFromArray") ? "it does not parse as a ModelProto (truncated, or "
                                                               "another format)"
                                                             : why;
        return ed_fail(err, "%s: not a SentencePiece model: %s", origin, reason), NULL;
    }
    if (ed_spm_size(sp) <= 0) {
        ed_spm_free(sp);
        return ed_fail(err, "%s: the SentencePiece model has no pieces", origin), NULL;
    }
    spm_tok *t = ed_malloc(sizeof *t);
    t->sp = sp;
    t->model = ed_malloc(len);
    memcpy(t->model, data, len);
    t->model_len = len;
    return t;
}

static void spm_encode(const void *impl, const char *text, size_t len, ed_ivec *out) {
    const spm_tok *t = impl;
    size_t n = out->len, cap = out->cap;
    int32_t *ids = out->data;
    /* refused only on allocation failure: the library encodes any bytes */
    ED_CHECK(ed_spm_encode(t->sp, text, len, &ids, &n, &cap) == 0, "sentencepiece: cannot encode %zu bytes", len);
    out->data = ids, out->len = n, out->cap = cap;
}

static char *spm_decode(const void *impl, const int32_t *ids, size_t n) {
    const spm_tok *t = impl;
    int32_t roles[4], V = ed_spm_size(t->sp);
    ed_spm_roles(t->sp, roles);
    int32_t *ok = ed_malloc((n ? n : 1) * sizeof *ok);
    for (size_t i = 0; i < n; i++) /* out of range: <unk>, as the other kinds decode it */
        ok[i] = ids[i] >= 0 && ids[i] < V ? ids[i] : (roles[1] >= 0 ? roles[1] : 0);
    char *s = ed_spm_decode(t->sp, ok, n);
    free(ok);
    ED_CHECK(s, "sentencepiece: cannot decode %zu ids", n);
    return s;
}

static const char *spm_token(const void *impl, int32_t id) {
    const spm_tok *t = impl;
    return id >= 0 && id < ed_spm_size(t->sp) ? ed_spm_piece(t->sp, id) : NULL;
}

static int spm_vocab_size(const void *impl) { return ed_spm_size(((const spm_tok *)impl)->sp); }

static void spm_roles(const void *impl, int32_t roles[4]) { ed_spm_roles(((const spm_tok *)impl)->sp, roles); }

static json_t *spm_to_json(const void *impl) {
    const spm_tok *t = impl;
    json_t *root = json_object();
    char *b = b64_encode(t->model, t->model_len);
    json_object_set_new(root, "kind", json_string(ed_tok_kind_names[ED_TOK_SPM]));
    json_object_set_new(root, "model_base64", json_string(b));
    free(b);
    return root;
}

void *ed_spm_from_json(const json_t *root, ed_error *err) {
    const json_t *m = json_object_get(root, "model_base64");
    if (!json_is_string(m)) return ed_fail(err, "\"model_base64\" missing or not a string"), NULL;
    size_t n = json_string_length(m);
    unsigned char *bytes = ed_malloc(n / 4 * 3 + 1);
    long len = b64_decode(json_string_value(m), n, bytes);
    void *t = len < 0 ? (ed_fail(err, "\"model_base64\" is not base64"), NULL)
                      : ed_spm_from_bytes((const char *)bytes, (size_t)len, "model_base64", err);
    free(bytes);
    return t;
}

static const char *spm_source(const void *impl, size_t *len) {
    const spm_tok *t = impl;
    *len = t->model_len;
    return (const char *)t->model;
}

static void spm_free(void *impl) {
    spm_tok *t = impl;
    if (!t) return;
    ed_spm_free(t->sp);
    free(t->model);
    free(t);
}

const ed_tok_vtable ed_spm_vtable = {
    .encode = spm_encode,
    .decode = spm_decode,
    .token = spm_token,
    .vocab_size = spm_vocab_size,
    .roles = spm_roles,
    .to_json = spm_to_json,
    .source = spm_source,
    .free = spm_free,
};
