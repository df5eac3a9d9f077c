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
static int parse_merge(const bpe_smap *ids, const char *s, size_t len, int32_t *pair) {
    const char *sp = memchr(s, ' ', len);
    if (!sp || sp == s || sp == s + len - 1 || memchr(sp + 1, ' ', (size_t)(s + len - sp - 1))) return -1;
    int64_t a = bpe_smap_find(ids, s, (size_t)(sp - s));
    int64_t b = bpe_smap_find(ids, sp + 1, (size_t)(s + len - sp - 1));
    if (a < 0 || b < 0) return -2;
    pair[0] = (int32_t)ids->items[a].value;
    pair[1] = (int32_t)ids->items[b].value;
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
    bpe_smap ids;
    bpe_smap_init(&ids, nv);
    ed_bpe *b = NULL;
    for (size_t i = 0; i < nv; i++) {
        const json_t *s = json_array_get(vocab, i);
        if (!json_is_string(s)) {
            ed_fail(err, "vocab[%zu] is not a string", i);
            goto out;
        }
        strs[i] = json_string_value(s);
        if (i >= ED_NUM_SPECIAL) bpe_smap_put(&ids, strs[i], json_string_length(s), (int64_t)i, NULL);
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
    b = bpe_build(strs, (int)nv, pairs, (int)nm, "bpe", err);
out:
    bpe_smap_free(&ids);
    free(strs);
    free(pairs);
    return b;
}

/* GPT-2's files: vocab.json maps token -> id (0..n-1, "<|endoftext|>" last), merges.txt
 * has a "#version" line then one "left right" per line. Our specials take ids 0..3, so
 * every GPT-2 token keeps its order and moves up by 4 (GPT-2 id k -> k + 4), except
 * "<|endoftext|>", which GPT-2 uses both to end and to start documents: it becomes our
 * <EOS> (3). <PAD>, <UNK>, <BOS> have no GPT-2 counterpart and stay unused by encoding. */
ed_tokenizer *ed_tok_load_gpt2(const char *vocab_json, const char *merges_txt, ed_error *err) {
    json_error_t jerr;
    json_t *root = json_load_file(vocab_json, 0, &jerr);
    if (!root) return ed_fail(err, "%s:%d: %s", vocab_json, jerr.line, jerr.text), NULL;
    ed_tokenizer *tok = NULL;
    char *text = NULL;
    const char **strs = NULL, **by_id = NULL;
    int32_t *pairs = NULL;
    bpe_smap ids;
    bpe_smap_init(&ids, 1024);
    if (!json_is_object(root)) {
        ed_fail(err, "%s:1: expected a JSON object mapping token -> id", vocab_json);
        goto out;
    }
    size_t n = json_object_size(root);
    if (n == 0 || n > (1u << 30)) {
        ed_fail(err, "%s:1: vocabulary has %zu tokens", vocab_json, n);
        goto out;
    }
    by_id = ed_calloc(n, sizeof *by_id);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        json_int_t id = json_is_integer(val) ? json_integer_value(val) : -1;
        if (id < 0 || (size_t)id >= n || by_id[id]) {
            ed_fail(err, "%s: token \"%s\" has id %s; ids must be 0..%zu, each used once", vocab_json, key,
                    json_is_integer(val) ? "out of range or repeated" : "that is not an integer", n - 1);
            goto out;
        }
        by_id[id] = key;
    }
    strs = ed_malloc((n + ED_NUM_SPECIAL) * sizeof *strs);
    int nv = 0;
    for (int i = 0; i < ED_NUM_SPECIAL; i++) strs[nv++] = bpe_special_names[i];
    for (size_t k = 0; k < n; k++) {
        if (strcmp(by_id[k], "<|endoftext|>") == 0) continue;
        unsigned char tmp[8];
        size_t kl = strlen(by_id[k]);
        /* check the alphabet here, to name the file; bpe_build re-checks everything */
        unsigned char *bytes = kl <= sizeof tmp ? tmp : ed_malloc(kl);
        long nb = bpe_str_to_bytes(by_id[k], kl, bytes);
        if (bytes != tmp) free(bytes);
        if (nb <= 0) {
            ed_fail(err, "%s: token \"%s\" (id %zu) is not in GPT-2's byte-to-unicode alphabet", vocab_json,
                    by_id[k], k);
            goto out;
        }
        bpe_smap_put(&ids, by_id[k], kl, nv, NULL);
        strs[nv++] = by_id[k];
    }
    size_t tlen;
    if (ed_read_file(merges_txt, &text, &tlen, err) != 0) goto out;
    size_t pcap = 1024, nm = 0;
    pairs = ed_malloc(2 * pcap * sizeof *pairs);
    long line = 0;
    for (char *p = text, *end = text + tlen; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        line++;
        size_t ll = (size_t)(e - p);
        if (ll > 0 && p[ll - 1] == '\r') ll--;
        if (!(line == 1 && ll >= 8 && memcmp(p, "#version", 8) == 0) && ll > 0) {
            if (nm == pcap) pairs = ed_realloc(pairs, 2 * (pcap *= 2) * sizeof *pairs);
            int rc = parse_merge(&ids, p, ll, pairs + 2 * nm);
            if (rc != 0) {
                ed_fail(err, "%s:%ld: %s", merges_txt, line,
                        rc == -1 ? "expected two tokens separated by one space"
                                 : "merge uses a token that is not in vocab.json");
                goto out;
            }
            nm++;
        }
        p = e + 1;
    }
    ed_bpe *b = bpe_build(strs, nv, pairs, (int)nm, merges_txt, err);
    if (b) {
        tok = ed_malloc(sizeof *tok);
        tok->kind = ED_TOK_BPE;
        tok->vt = &ed_bpe_vtable;
        tok->impl = b;
    }
out:
    bpe_smap_free(&ids);
    free(by_id);
    free(strs);
    free(pairs);
    free(text);
    json_decref(root);
    return tok;
}
