/* bpe_json.c — BPE on disk: our JSON format (also the checkpoint blob) and GPT-2's
 * published vocab.json + merges.txt pair.
 *
 * Ours: {"kind": "bpe", "version": 1, "vocab": ["<PAD>", "<UNK>", "<BOS>", "<EOS>", "!", ...],
 *        "merges": ["Ġ t", "h e", ...]}
 * vocab[i] is token i in GPT-2's printable byte mapping (bpe_bytes.c); merges are in rank
 * order, each "left right" (a token string never holds a real space). The merged token
 * must itself be in vocab. See docs/formats.md. */
#include <stdlib.h>
#include <string.h>

#include "bpe_internal.h"
#include "tok_internal.h"

json_t *bpe_to_json(const void *impl) {
    const ed_bpe *b = impl;
    json_t *root = json_object(), *vocab = json_array(), *merges = json_array();
    for (int i = 0; i < b->n_vocab; i++) json_array_append_new(vocab, json_string(b->strs + b->str_off[i]));
    char *buf = NULL;
    size_t cap = 0;
    for (int r = 0; r < b->n_merges; r++) {
        const char *l = b->strs + b->str_off[b->merges[3 * r]], *rr = b->strs + b->str_off[b->merges[3 * r + 1]];
        size_t ll = strlen(l), rl = strlen(rr);
        if (ll + rl + 2 > cap) buf = ed_realloc(buf, cap = 2 * (ll + rl + 2));
        memcpy(buf, l, ll);
        buf[ll] = ' ';
        memcpy(buf + ll + 1, rr, rl + 1);
        json_array_append_new(merges, json_string(buf));
    }
    free(buf);
    json_object_set_new(root, "kind", json_string(ed_tok_kind_names[ED_TOK_BPE]));
    json_object_set_new(root, "version", json_integer(1));
    json_object_set_new(root, "vocab", vocab);
    json_object_set_new(root, "merges", merges);
    return root;
}

/* Looks up "left right" in the string map; fills pair[0..2). */
static int parse_merge(const wt_table *ids, const char *s, size_t len, int32_t *pair) {
    const char *sp = memchr(s, ' ', len);
    if (!sp || sp == s || sp == s + len - 1 || memchr(sp + 1, ' ', (size_t)(s + len - sp - 1))) return -1;
    int32_t a = wt_lookup(ids, s, (size_t)(sp - s));
    int32_t b = wt_lookup(ids, sp + 1, (size_t)(s + len - sp - 1));
    if (a < 0 || b < 0) return -2;
    pair[0] = (int32_t)ids->value[a];
    pair[1] = (int32_t)ids->value[b];
    return 0;
}

void *ed_bpe_from_json(const json_t *root, ed_error *err) {
    const json_t *vocab = json_object_get(root, "vocab"), *merges = json_object_get(root, "merges");
    if (!json_is_array(vocab)) return ed_fail(err, "\"vocab\" must be an array of strings"), NULL;
    if (!json_is_array(merges)) return ed_fail(err, "\"merges\" must be an array of strings"), NULL;
    size_t nv = json_array_size(vocab), nm = json_array_size(merges);
    if (nv > (1u << 30) || nm > (1u << 30)) return ed_fail(err, "too many tokens or merges"), NULL;
    const char **strs = ed_malloc((nv + 1) * sizeof *strs);
    int32_t *pairs = ed_malloc((2 * nm + 1) * sizeof *pairs);
    wt_table ids;
    wt_init(&ids);
    ed_bpe *b = NULL;
    for (size_t i = 0; i < nv; i++) {
        const json_t *s = json_array_get(vocab, i);
        if (!json_is_string(s)) {
            ed_fail(err, "vocab[%zu] is not a string", i);
            goto out;
        }
        strs[i] = json_string_value(s);
        if (i >= ED_NUM_SPECIAL) wt_put(&ids, strs[i], json_string_length(s), (int64_t)i, NULL);
    }
    for (size_t r = 0; r < nm; r++) {
        const json_t *s = json_array_get(merges, r);
        if (!json_is_string(s)) {
            ed_fail(err, "merges[%zu] is not a string", r);
            goto out;
        }
        int rc = parse_merge(&ids, json_string_value(s), json_string_length(s), pairs + 2 * r);
        if (rc != 0) {
            ed_fail(err, "merges[%zu] \"%s\" %s", r, json_string_value(s),
                    rc == -1 ? "is not two tokens separated by one space" : "uses a token not in vocab");
            goto out;
        }
    }
    b = bpe_build(strs, (int)nv, pairs, (int)nm, NULL, "bpe", err);
out:
    wt_free(&ids);
    free(strs);
    free(pairs);
    return b;
}

/* GPT-2's files: vocab.json maps token -> id (0..n-1, "<|endoftext|>" last), merges.txt
 * has a "#version" line then one "left right" per line. They say what a tokenizer.json
 * with a ByteLevel pre-tokenizer and "<|endoftext|>" as an added token says, so they
 * become one (kind hf, GPT-2's ids): one engine and one stored form for both. Lines are
 * checked here first, so errors name merges.txt:line. */
ed_tokenizer *ed_tok_load_gpt2(const char *vocab_json, const char *merges_txt, ed_error *err) {
    json_error_t jerr;
    json_t *vocab = json_load_file(vocab_json, 0, &jerr);
    if (!vocab) return ed_fail(err, "%s:%d: %s", vocab_json, jerr.line, jerr.text), NULL;
    ed_tokenizer *tok = NULL;
    char *text = NULL, *doc = NULL;
    json_t *root = NULL, *merges = json_array();
    if (!json_is_object(vocab) || json_object_size(vocab) == 0) {
        ed_fail(err, "%s:1: expected a non-empty JSON object mapping token -> id", vocab_json);
        goto out;
    }
    size_t n = json_object_size(vocab);
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        json_int_t id = json_is_integer(val) ? json_integer_value(val) : -1;
        if (id < 0 || (size_t)id >= n) {
            ed_fail(err, "%s: token \"%s\" has id %s; ids must be 0..%zu, each used once", vocab_json, key,
                    json_is_integer(val) ? "out of range" : "that is not an integer", n - 1);
            goto out;
        }
    }
    size_t tlen;
    if (ed_read_file(merges_txt, &text, &tlen, err) != 0) goto out;
    long line = 0;
    for (char *p = text, *end = text + tlen; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        line++;
        size_t ll = (size_t)(e - p);
        if (ll > 0 && p[ll - 1] == '\r') ll--;
        if (!(line == 1 && ll >= 8 && memcmp(p, "#version", 8) == 0) && ll > 0) {
            const char *sp = memchr(p, ' ', ll);
            int ok = sp && sp != p && sp != p + ll - 1 && !memchr(sp + 1, ' ', (size_t)(p + ll - sp - 1));
            if (!ok) {
                ed_fail(err, "%s:%ld: expected two tokens separated by one space", merges_txt, line);
                goto out;
            }
            json_t *a = json_stringn(p, (size_t)(sp - p)), *b = json_stringn(sp + 1, (size_t)(p + ll - sp - 1));
            int known = a && b && json_object_get(vocab, json_string_value(a)) &&
                        json_object_get(vocab, json_string_value(b));
            json_t *pair = json_array();
            json_array_append_new(pair, a ? a : json_null());
            json_array_append_new(pair, b ? b : json_null());
            json_array_append_new(merges, pair);
            if (!known) {
                ed_fail(err, "%s:%ld: merge uses a token that is not in vocab.json", merges_txt, line);
                goto out;
            }
        }
        p = e + 1;
    }
    json_t *added = json_array(), *eot = json_object_get(vocab, "<|endoftext|>");
    if (eot)
        json_array_append_new(added, json_pack("{s:O, s:s, s:b}", "id", eot, "content", "<|endoftext|>", "special", 1));
    root = json_pack("{s:{s:s, s:O, s:O}, s:{s:s, s:b, s:b}, s:{s:s}, s:o}", "model", "type", "BPE", "vocab", vocab,
                     "merges", merges, "pre_tokenizer", "type", "ByteLevel", "add_prefix_space", 0, "use_regex", 1,
                     "decoder", "type", "ByteLevel", "added_tokens", added);
    doc = json_dumps(root, JSON_COMPACT);
    ED_CHECK(doc, "cannot build the tokenizer.json of %s", vocab_json);
    tok = ed_tok_wrap(ED_TOK_HF, ed_hf_from_text(doc, strlen(doc), vocab_json, NULL, 0, NULL, err));
out:
    free(text);
    free(doc);
    json_decref(root);
    json_decref(merges);
    json_decref(vocab);
    return tok;
}
