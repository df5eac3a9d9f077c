/* hf_json.c — a Hugging Face tokenizer.json (byte-level BPE: GPT-2, Llama 3, Qwen, SmolLM
 * style) on the byte-level BPE engine of bpe.c, with the file's own ids.
 *
 * What is read (https://huggingface.co/docs/tokenizers, the "tokenizer.json" layout):
 *   model          {"type": "BPE", "vocab": {token: id}, "merges": ["a b", ...] or [["a","b"], ...],
 *                   "ignore_merges": bool}; dropout, byte_fallback, a subword prefix/suffix
 *                   are refused
 *   added_tokens   [{"id", "content", "special", ...}]: matched in the raw text first
 *   normalizer     null or NFC (or a Sequence of those)
 *   pre_tokenizer  ByteLevel {add_prefix_space, use_regex}, Split {pattern: {Regex|String},
 *                   behavior: Isolated}, Digits {individual_digits}, or a Sequence of them;
 *                   a ByteLevel step is required (the vocabulary is byte-level)
 *   decoder        null or ByteLevel
 *   post_processor only to find the BOS a TemplateProcessing puts first
 * Anything else is refused with one line naming the component, never ignored: a tokenizer
 * that encodes differently from the user's would silently train on other ids.
 *
 * Roles (PAD UNK BOS EOS) are not in tokenizer.json itself: they come from the
 * tokenizer_config.json next to it when there is one (bos_token, eos_token...), else from
 * the usual names (<|begin_of_text|>, <s>, <|endoftext|>...). The checkpoint stores the
 * text and the roles, so a loaded model encodes exactly as it was trained. */
#include <stdlib.h>
#include <string.h>

#include "bpe_internal.h"
#include "tok_internal.h"

enum { R_PAD, R_UNK, R_BOS, R_EOS };
/* The roles in order (PAD UNK BOS EOS): their keys in tokenizer_config.json, and in our blob. */
const char *const ed_hf_config_keys[4] = {"pad_token", "unk_token", "bos_token", "eos_token"};
static const char *const BLOB_KEYS[4] = {"pad", "unk", "bos", "eos"};

/* The JSON type of a component, for messages. */
static const char *type_of(const json_t *o) {
    const char *t = json_string_value(json_object_get(o, "type"));
    return t ? t : "(no type)";
}

/* Appends a Split pattern's regex: {"Regex": r} as is, {"String": s} as a literal. */
static char *split_regex(const json_t *pat) {
    const char *r = json_string_value(json_object_get(pat, "Regex"));
    if (r) return ed_strdup(r);
    const char *s = json_string_value(json_object_get(pat, "String"));
    if (!s) return NULL;
    size_t n = strlen(s);
    char *out = ed_malloc(2 * n + 1), *o = out;
    for (size_t i = 0; i < n; i++) { /* escape every ASCII punctuation: a literal in PCRE2 */
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == ' '))
            *o++ = '\\';
        *o++ = (char)c;
    }
    *o = '\0';
    return out;
}

static int bool_field(const json_t *o, const char *key, int dflt) {
    const json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

/* One pre-tokenizer (or a Sequence of them) onto p; *byte_level set when a ByteLevel
 * step is seen. `at` is the field path for messages. */
static int add_pretok(bpe_pretok *p, const json_t *pt, const char *origin, const char *at, int *byte_level,
                      ed_error *err) {
    const char *type = type_of(pt);
    char what[160];
    snprintf(what, sizeof what, "%s: %s", origin, at);
    if (strcmp(type, "Sequence") == 0) {
        const json_t *list = json_object_get(pt, "pretokenizers");
        if (!json_is_array(list)) return ed_fail(err, "%s.pretokenizers: expected an array", what);
        for (size_t i = 0; i < json_array_size(list); i++) {
            char sub[128];
            snprintf(sub, sizeof sub, "%s.pretokenizers[%zu]", at, i);
            if (add_pretok(p, json_array_get(list, i), origin, sub, byte_level, err) != 0) return -1;
        }
        return 0;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        *byte_level = 1;
        return bpe_pretok_add(p, bool_field(pt, "use_regex", 1) ? bpe_gpt2_pattern : NULL,
                              bool_field(pt, "add_prefix_space", 0), what, err);
    }
    if (strcmp(type, "Digits") == 0)
        return bpe_pretok_add(p, bool_field(pt, "individual_digits", 0) ? "\\p{N}" : "\\p{N}+", 0, what, err);
    if (strcmp(type, "Split") == 0) {
        const char *beh = json_string_value(json_object_get(pt, "behavior"));
        if (!beh || strcmp(beh, "Isolated") != 0)
            return ed_fail(err, "%s.behavior \"%s\" is not supported (only Isolated)", what, beh ? beh : "(none)");
        if (bool_field(pt, "invert", 0)) return ed_fail(err, "%s.invert true is not supported", what);
        char *re = split_regex(json_object_get(pt, "pattern"));
        if (!re) return ed_fail(err, "%s.pattern: expected {\"Regex\": ...} or {\"String\": ...}", what);
        int rc = bpe_pretok_add(p, re, 0, what, err);
        free(re);
        return rc;
    }
    return ed_fail(err, "%s: pre-tokenizer \"%s\" is not supported (ByteLevel, Split, Digits, Sequence)", what,
                   type);
}

static int check_normalizer(const json_t *n, const char *origin, const char *at, int *nfc, ed_error *err) {
    if (json_is_null(n) || !n) return 0;
    const char *type = type_of(n);
    if (strcmp(type, "NFC") == 0) return *nfc = 1, 0;
    if (strcmp(type, "Sequence") == 0) {
        const json_t *list = json_object_get(n, "normalizers");
        for (size_t i = 0; i < json_array_size(list); i++) {
            char sub[96];
            snprintf(sub, sizeof sub, "%s.normalizers[%zu]", at, i);
            if (check_normalizer(json_array_get(list, i), origin, sub, nfc, err) != 0) return -1;
        }
        return 0;
    }
    return ed_fail(err, "%s: %s: normalizer \"%s\" is not supported (only NFC)", origin, at, type);
}

/* The model section's options that change encoding and that the engine does not have. */
static int check_model(const json_t *m, const char *origin, ed_error *err) {
    if (!json_is_object(m)) return ed_fail(err, "%s: model: missing or not an object", origin);
    const char *type = json_string_value(json_object_get(m, "type"));
    if (type && strcmp(type, "BPE") != 0)
        return ed_fail(err, "%s: model.type \"%s\" is not supported (only byte-level BPE)", origin, type);
    const json_t *v = json_object_get(m, "dropout");
    if (v && !json_is_null(v)) return ed_fail(err, "%s: model.dropout is not supported (must be null)", origin);
    if (bool_field(m, "byte_fallback", 0))
        return ed_fail(err, "%s: model.byte_fallback true is not supported (a byte-level BPE needs none)", origin);
    static const char *const affix[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const char *s = json_string_value(json_object_get(m, affix[i]));
        if (s && s[0]) return ed_fail(err, "%s: model.%s \"%s\" is not supported", origin, affix[i], s);
    }
    return 0;
}

/* The id of a token named by a config field: a string or {"content": string}. */
static int32_t id_of_name(const json_t *field, const json_t *vocab, const json_t *added) {
    const char *name = json_is_string(field) ? json_string_value(field)
                                             : json_string_value(json_object_get(field, "content"));
    if (!name) return -1;
    size_t i;
    const json_t *a;
    json_array_foreach(added, i, a) {
        const char *c = json_string_value(json_object_get(a, "content"));
        if (c && strcmp(c, name) == 0 && json_is_integer(json_object_get(a, "id")))
            return (int32_t)json_integer_value(json_object_get(a, "id"));
    }
    const json_t *id = json_object_get(vocab, name);
    return json_is_integer(id) ? (int32_t)json_integer_value(id) : -1;
}

/* -1 with err when the config names a token the file does not have. */
static int find_roles(const json_t *root, const json_t *config, int32_t roles[4], const char *origin, ed_error *err) {
    const json_t *model = json_object_get(root, "model"), *vocab = json_object_get(model, "vocab"),
                 *added = json_object_get(root, "added_tokens");
    /* the usual names, first found wins; GPT-2 style files have one <|endoftext|> for both */
    static const char *const names[4][4] = {{"<pad>", "<|pad|>", "[PAD]", NULL},
                                            {"<unk>", "<|unk|>", "[UNK]", NULL},
                                            {"<|begin_of_text|>", "<s>", "<|endoftext|>", NULL},
                                            {"<|end_of_text|>", "</s>", "<|endoftext|>", NULL}};
    for (int r = 0; r < 4; r++) {
        roles[r] = -1;
        const json_t *f = json_object_get(config, ed_hf_config_keys[r]);
        if (f) { /* the config names the role, or says there is none (null) */
            roles[r] = json_is_null(f) ? -1 : id_of_name(f, vocab, added);
            if (roles[r] < 0 && !json_is_null(f))
                return ed_fail(err, "%s: tokenizer_config.json beside it: %s names no token of this file", origin,
                               ed_hf_config_keys[r]);
            continue;
        }
        if (r == R_UNK) roles[r] = id_of_name(json_object_get(model, "unk_token"), vocab, added);
        if (r == R_BOS) { /* a TemplateProcessing that starts with a special token */
            const json_t *pp = json_object_get(root, "post_processor");
            if (strcmp(type_of(pp), "TemplateProcessing") == 0) {
                const json_t *first = json_array_get(json_object_get(pp, "single"), 0);
                roles[r] = id_of_name(json_object_get(json_object_get(first, "SpecialToken"), "id"), vocab, added);
            }
        }
        for (int k = 0; roles[r] < 0 && names[r][k]; k++) {
            json_t *s = json_string(names[r][k]);
            roles[r] = id_of_name(s, vocab, added);
            json_decref(s);
        }
    }
    return 0;
}

/* One merge as two token ids: "a b" (exactly one space) or ["a", "b"]. */
static int parse_merge(const json_t *mg, const json_t *vocab, int32_t *pair, const char *origin, size_t r,
                       ed_error *err) {
    char *left = NULL;
    const char *a = NULL, *b = NULL;
    if (json_is_string(mg)) {
        const char *s = json_string_value(mg), *sp = strchr(s, ' ');
        size_t ll = sp ? (size_t)(sp - s) : 0;
        if (!sp || ll == 0 || !sp[1] || strchr(sp + 1, ' '))
            return ed_fail(err, "%s: model.merges[%zu] \"%.60s\" is not two tokens separated by one space", origin,
                           r, s);
        left = ed_malloc(ll + 1);
        memcpy(left, s, ll);
        left[ll] = '\0';
        a = left, b = sp + 1;
    } else if (json_is_array(mg) && json_array_size(mg) == 2) {
        a = json_string_value(json_array_get(mg, 0));
        b = json_string_value(json_array_get(mg, 1));
    }
    if (!a || !b) return ed_fail(err, "%s: model.merges[%zu] is not \"a b\" nor [\"a\", \"b\"]", origin, r);
    const json_t *ia = json_object_get(vocab, a), *ib = json_object_get(vocab, b);
    int rc = 0;
    if (!json_is_integer(ia) || !json_is_integer(ib)) {
        rc = ed_fail(err, "%s: model.merges[%zu] uses \"%.60s\", which is not in model.vocab", origin, r,
                     json_is_integer(ia) ? b : a);
    } else {
        pair[0] = (int32_t)json_integer_value(ia);
        pair[1] = (int32_t)json_integer_value(ib);
    }
    free(left);
    return rc;
}

void *ed_hf_from_text(const char *text, size_t len, const char *origin, const char *config, size_t config_len,
                      const int32_t *roles, ed_error *err) {
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je), *cfg = NULL;
    if (!root) return ed_fail(err, "%s:%d: not valid JSON: %s", origin, je.line, je.text), NULL;
    ed_bpe *b = NULL;
    const char **strs = NULL;
    uint8_t *raw = NULL;
    int32_t *pairs = NULL, *added_ids = NULL;
    const char **added_strs = NULL;
    bpe_pretok pre = {0};
    int nfc = 0, byte_level = 0;
    const json_t *model = json_object_get(root, "model"), *vocab = json_object_get(model, "vocab"),
                 *merges = json_object_get(model, "merges"), *added = json_object_get(root, "added_tokens");
    if (config && !(cfg = json_loadb(config, config_len, 0, &je))) {
        ed_fail(err, "%s: the tokenizer_config.json next to it is not valid JSON (line %d: %s)", origin, je.line,
                je.text);
        goto out;
    }
    if (check_model(model, origin, err) != 0 ||
        check_normalizer(json_object_get(root, "normalizer"), origin, "normalizer", &nfc, err) != 0)
        goto out;
    const json_t *dec = json_object_get(root, "decoder");
    if (dec && !json_is_null(dec) && strcmp(type_of(dec), "ByteLevel") != 0) {
        ed_fail(err, "%s: decoder \"%s\" is not supported (only ByteLevel)", origin, type_of(dec));
        goto out;
    }
    const json_t *pt = json_object_get(root, "pre_tokenizer");
    if (pt && !json_is_null(pt) && add_pretok(&pre, pt, origin, "pre_tokenizer", &byte_level, err) != 0) goto out;
    if (!byte_level) {
        ed_fail(err, "%s: pre_tokenizer has no ByteLevel step: only byte-level BPE vocabularies are supported",
                origin);
        goto out;
    }
    if (!json_is_object(vocab) || !json_is_array(merges)) {
        ed_fail(err, "%s: model.%s: missing or of the wrong type (vocab: an object, merges: an array)", origin,
                json_is_object(vocab) ? "merges" : "vocab");
        goto out;
    }
    if (added && !json_is_array(added)) {
        ed_fail(err, "%s: added_tokens: expected an array", origin);
        goto out;
    }
    /* ids: the vocabulary's and the added tokens'; together they must cover 0..n-1 */
    size_t na = json_array_size(added), nm = json_array_size(merges);
    json_int_t max_id = -1;
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)vocab, key, val) {
        json_int_t id = json_is_integer(val) ? json_integer_value(val) : -1;
        if (id < 0 || id >= (1 << 30)) {
            ed_fail(err, "%s: model.vocab[\"%.60s\"]: the id is not an integer in 0..2^30", origin, key);
            goto out;
        }
        if (id > max_id) max_id = id;
    }
    added_ids = ed_malloc((na + 1) * sizeof *added_ids);
    added_strs = ed_malloc((na + 1) * sizeof *added_strs);
    for (size_t i = 0; i < na; i++) {
        const json_t *a = json_array_get(added, i), *id = json_object_get(a, "id");
        const char *c = json_string_value(json_object_get(a, "content"));
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= (1 << 30) || !c || !c[0]) {
            ed_fail(err, "%s: added_tokens[%zu]: expected an integer \"id\" and a non-empty \"content\"", origin, i);
            goto out;
        }
        static const char *const unsupported[] = {"single_word", "lstrip", "rstrip"};
        for (int k = 0; k < 3; k++)
            if (bool_field(a, unsupported[k], 0)) {
                ed_fail(err, "%s: added_tokens[%zu].%s true is not supported", origin, i, unsupported[k]);
                goto out;
            }
        added_ids[i] = (int32_t)json_integer_value(id);
        added_strs[i] = c;
        if (added_ids[i] > max_id) max_id = added_ids[i];
    }
    if ((size_t)(max_id + 1) > json_object_size(vocab) + na) { /* a gap, found before allocating for it */
        ed_fail(err, "%s: model.vocab: ids run to %lld but there are %zu tokens (ids must be 0..n-1 without gaps)",
                origin, (long long)max_id, json_object_size(vocab) + na);
        goto out;
    }
    int n = (int)(max_id + 1);
    strs = ed_calloc((size_t)(n > 0 ? n : 1), sizeof *strs);
    raw = ed_calloc((size_t)(n > 0 ? n : 1), 1);
    json_object_foreach((json_t *)vocab, key, val) {
        json_int_t id = json_integer_value(val);
        if (strs[id]) {
            ed_fail(err, "%s: model.vocab: id %lld is used by \"%.60s\" and \"%.60s\"", origin, (long long)id,
                    strs[id], key);
            goto out;
        }
        strs[id] = key;
    }
    for (size_t i = 0; i < na; i++) {
        int32_t id = added_ids[i];
        if (strs[id] && !raw[id] && strcmp(strs[id], added_strs[i]) != 0) {
            ed_fail(err, "%s: added_tokens[%zu]: id %d is \"%.60s\" in model.vocab", origin, i, id, strs[id]);
            goto out;
        }
        strs[id] = added_strs[i];
        raw[id] = 1;
    }
    for (int id = 0; id < n; id++)
        if (!strs[id]) {
            ed_fail(err, "%s: model.vocab: no token has id %d (ids must be 0..%d without gaps)", origin, id, n - 1);
            goto out;
        }
    pairs = ed_malloc((2 * nm + 1) * sizeof *pairs);
    for (size_t r = 0; r < nm; r++)
        if (parse_merge(json_array_get(merges, r), vocab, pairs + 2 * r, origin, r, err) != 0) goto out;
    char src[96];
    snprintf(src, sizeof src, "%s: model", origin);
    b = bpe_build(strs, n, pairs, (int)nm, raw, src, err);
    if (!b) goto out;
    bpe_pretok_free(&b->pre);
    b->pre = pre;
    memset(&pre, 0, sizeof pre);
    bpe_added_init(&b->added, added_ids, (int)na, added_strs);
    b->nfc = nfc;
    b->ignore_merges = bool_field(model, "ignore_merges", 0);
    if (roles) {
        memcpy(b->roles, roles, sizeof b->roles);
    } else if (find_roles(root, cfg, b->roles, origin, err) != 0) {
        bpe_free(b);
        b = NULL;
        goto out;
    }
    for (int r = 0; r < 4; r++)
        if (b->roles[r] >= n) b->roles[r] = -1;
    b->hf_text = ed_malloc(len + 1);
    memcpy(b->hf_text, text, len);
    b->hf_text[len] = '\0';
out:
    bpe_pretok_free(&pre);
    free(strs);
    free(raw);
    free(pairs);
    free(added_ids);
    free(added_strs);
    json_decref(cfg);
    json_decref(root);
    return b;
}

/* The checkpoint blob / saved file of an hf tokenizer: the text and the roles. */
json_t *ed_hf_to_json(const void *impl) {
    const ed_bpe *b = impl;
    json_t *root = json_object(), *roles = json_object();
    for (int r = 0; r < 4; r++) json_object_set_new(roles, BLOB_KEYS[r], json_integer(b->roles[r]));
    json_object_set_new(root, "kind", json_string(ed_tok_kind_names[ED_TOK_HF]));
    json_object_set_new(root, "roles", roles);
    json_object_set_new(root, "tokenizer_json", json_string(b->hf_text));
    return root;
}

void *ed_hf_from_json(const json_t *root, ed_error *err) {
    const char *text = json_string_value(json_object_get(root, "tokenizer_json"));
    const json_t *r = json_object_get(root, "roles");
    if (!text || !json_is_object(r)) return ed_fail(err, "\"tokenizer_json\" (a string) or \"roles\" missing"), NULL;
    int32_t roles[4];
    for (int k = 0; k < 4; k++) {
        const json_t *v = json_object_get(r, BLOB_KEYS[k]);
        if (!json_is_integer(v)) return ed_fail(err, "roles.%s: expected an integer id (-1: none)", BLOB_KEYS[k]), NULL;
        roles[k] = (int32_t)json_integer_value(v);
    }
    return ed_hf_from_text(text, strlen(text), "tokenizer_json", NULL, 0, roles, err);
}
