/* bpe.c — the byte-level BPE model: building it from a vocabulary and a merge table,
 * encoding (pre-tokenize, then merge each piece by rank), decoding, and the vtable the
 * tokenizer dispatch calls. Training is in bpe_train.c, file formats in bpe_json.c. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "bpe_internal.h"
#include "tok_internal.h"

const char *const bpe_special_names[4] = {"<PAD>", "<UNK>", "<BOS>", "<EOS>"};

/* Pieces longer than this skip the cache (rare, and would bloat it) and, past
 * HEAP_FROM, use the heap merge so a megabyte of '=' cannot take quadratic time. */
enum { CACHE_MAX_LEN = 64, CACHE_MAX_ITEMS = 1 << 18, HEAP_FROM = 128 };
_Static_assert(CACHE_MAX_LEN <= 255, "cache entries keep the id count in 8 bits");

/* ---- building ------------------------------------------------------------------- */

/* Ours: ids 0..3 are the specials. */
static int is_raw(const uint8_t *raw, int i) { return raw ? raw[i] != 0 : i < ED_NUM_SPECIAL; }

/* The token strings and their raw bytes (b->strs, b->bytes, offsets, byte_id), each
 * non-special token's bytes entered in by_bytes (bytes -> id). */
static int build_vocab(ed_bpe *b, const char *const *tok_str, const uint8_t *raw, wt_table *by_bytes, const char *src,
                       ed_error *err) {
    int n_vocab = b->n_vocab;
    b->tok_off = ed_malloc((size_t)(n_vocab + 1) * sizeof *b->tok_off);
    b->str_off = ed_malloc((size_t)(n_vocab + 1) * sizeof *b->str_off);
    size_t str_total = 0;
    for (int i = 0; i < n_vocab; i++) str_total += strlen(tok_str[i]) + 1;
    b->strs = ed_malloc(str_total);
    b->bytes = ed_malloc(str_total); /* raw bytes are never longer than their printable form */
    for (int i = 0; i < 256; i++) b->byte_id[i] = -1;
    size_t so = 0, bo = 0;
    for (int i = 0; i < n_vocab; i++) {
        size_t sl = strlen(tok_str[i]);
        memcpy(b->strs + so, tok_str[i], sl + 1);
        b->str_off[i] = so;
        b->tok_off[i] = bo;
        so += sl + 1;
        if (is_raw(raw, i)) { /* specials decode to their names (skip_special drops them) */
            memcpy(b->bytes + bo, tok_str[i], sl);
            bo += sl;
            continue;
        }
        long nb = bpe_str_to_bytes(tok_str[i], sl, b->bytes + bo);
        if (nb <= 0)
            return ed_fail(err, "%s: token %d \"%s\" is %s", src, i, tok_str[i],
                           nb == 0 ? "empty" : "not in GPT-2's byte-to-unicode alphabet");
        int added;
        int32_t k = wt_put(by_bytes, (const char *)b->bytes + bo, (size_t)nb, i, &added);
        if (!added)
            return ed_fail(err, "%s: token %d \"%s\" duplicates token %d", src, i, tok_str[i],
                           (int)by_bytes->value[k]);
        if (nb == 1) b->byte_id[b->bytes[bo]] = i;
        bo += (size_t)nb;
    }
    b->tok_off[n_vocab] = bo;
    b->str_off[n_vocab] = so;
    for (int c = 0; c < 256; c++)
        if (b->byte_id[c] < 0) return ed_fail(err, "%s: vocabulary lacks a token for byte 0x%02x", src, c);
    return 0;
}

/* The merge table (b->merges: left, right, result) and the pair -> rank map; every
 * merged token must be in the vocabulary (by_bytes) and no pair may repeat. */
static int build_merges(ed_bpe *b, const char *const *tok_str, const int32_t *pairs, int n_merges, const uint8_t *raw,
                        const wt_table *by_bytes, const char *src, ed_error *err) {
    int n_vocab = b->n_vocab;
    b->n_merges = n_merges;
    b->merges = ed_malloc((size_t)(3 * (n_merges > 0 ? n_merges : 1)) * sizeof *b->merges);
    bpe_umap_init(&b->rank, (size_t)n_merges);
    unsigned char *cat = NULL;
    size_t cat_cap = 0;
    int rc = 0;
    for (int r = 0; r < n_merges && rc == 0; r++) {
        int32_t l = pairs[2 * r], rr = pairs[2 * r + 1];
        if (l < 0 || l >= n_vocab || rr < 0 || rr >= n_vocab || is_raw(raw, l) || is_raw(raw, rr)) {
            rc = ed_fail(err, "%s: merge %d uses a special token or an id outside 0..%d", src, r, n_vocab - 1);
            break;
        }
        size_t ll = b->tok_off[l + 1] - b->tok_off[l], rl = b->tok_off[rr + 1] - b->tok_off[rr];
        if (ll + rl > cat_cap) cat = ed_realloc(cat, cat_cap = 2 * (ll + rl));
        memcpy(cat, b->bytes + b->tok_off[l], ll);
        memcpy(cat + ll, b->bytes + b->tok_off[rr], rl);
        int32_t k = wt_lookup(by_bytes, (const char *)cat, ll + rl);
        if (k < 0) {
            rc = ed_fail(err, "%s: merge %d \"%s %s\": the merged token is not in the vocabulary", src, r, tok_str[l],
                         tok_str[rr]);
            break;
        }
        int32_t *slot = bpe_umap_put(&b->rank, bpe_pair_key(l, rr), r);
        if (*slot != r) {
            rc = ed_fail(err, "%s: merge %d \"%s %s\" repeats merge %d", src, r, tok_str[l], tok_str[rr], *slot);
            break;
        }
        b->merges[3 * r] = l;
        b->merges[3 * r + 1] = rr;
        b->merges[3 * r + 2] = (int32_t)by_bytes->value[k];
    }
    free(cat);
    return rc;
}

ed_bpe *bpe_build(const char *const *tok_str, int n_vocab, const int32_t *pairs, int n_merges, const uint8_t *raw,
                  const char *src, ed_error *err) {
    if (n_vocab < (raw ? 256 : ED_NUM_SPECIAL + 256) || n_vocab > (1 << 30))
        return ed_fail(err, "%s: vocabulary has %d tokens, expected %s .. 2^30 (%s256 bytes + merges)", src, n_vocab,
                       raw ? "256" : "260", raw ? "" : "4 specials + "),
               NULL;
    for (int i = 0; !raw && i < ED_NUM_SPECIAL; i++)
        if (strcmp(tok_str[i], bpe_special_names[i]) != 0)
            return ed_fail(err, "%s: token %d is \"%s\", expected \"%s\"", src, i, tok_str[i],
                           bpe_special_names[i]),
                   NULL;
    ed_bpe *b = ed_calloc(1, sizeof *b);
    b->n_vocab = n_vocab;
    wt_table by_bytes;
    wt_init(&by_bytes);
    if (build_vocab(b, tok_str, raw, &by_bytes, src, err) != 0 ||
        build_merges(b, tok_str, pairs, n_merges, raw, &by_bytes, src, err) != 0) {
        wt_free(&by_bytes);
        bpe_free(b);
        return NULL;
    }
    b->whole = by_bytes; /* kept for ignore_merges (hf_json.c); freed with the model */
    for (int i = 0; i < 4; i++) b->roles[i] = raw ? -1 : i;
    if (bpe_pretok_init(&b->pre, err) != 0) {
        bpe_free(b);
        return NULL;
    }
    b->cache = ed_calloc(1, sizeof *b->cache);
    pthread_mutex_init(&b->cache->lock, NULL);
    wt_init(&b->cache->map);
    return b;
}

void bpe_free(void *impl) {
    ed_bpe *b = impl;
    if (!b) return;
    free(b->tok_off);
    free(b->bytes);
    free(b->str_off);
    free(b->strs);
    free(b->merges);
    if (b->rank.keys) bpe_umap_free(&b->rank);
    bpe_pretok_free(&b->pre);
    wt_free(&b->whole);
    bpe_added_free(&b->added);
    free(b->hf_text);
    if (b->cache) {
        pthread_mutex_destroy(&b->cache->lock);
        wt_free(&b->cache->map);
        ed_ivec_free(&b->cache->ids);
        free(b->cache);
    }
    free(b);
}

/* ---- merging one piece ------------------------------------------------------------- */

size_t bpe_merge_simple(const ed_bpe *b, int32_t *ids, size_t n) {
    /* ranks[i] is the rank of pair (ids[i], ids[i+1]); a merge step only looks up the pairs
     * next to the tokens it made, so a word costs O(n + merges) lookups, not O(n^2). */
    int32_t ranks_stack[HEAP_FROM];
    uint8_t made_stack[HEAP_FROM];
    if (n < 2) return n;
    int32_t *ranks = n <= HEAP_FROM ? ranks_stack : ed_malloc(n * sizeof *ranks);
    uint8_t *made = n <= HEAP_FROM ? made_stack : ed_malloc(n);
    for (size_t i = 0; i + 1 < n; i++) {
        int32_t r = bpe_umap_get(&b->rank, bpe_pair_key(ids[i], ids[i + 1]));
        ranks[i] = r < 0 ? INT32_MAX : r;
    }
    ranks[n - 1] = INT32_MAX;
    while (n >= 2) {
        int32_t best = INT32_MAX;
        for (size_t i = 0; i + 1 < n; i++)
            if (ranks[i] < best) best = ranks[i];
        if (best == INT32_MAX) break;
        int32_t res = b->merges[3 * best + 2];
        size_t j = 0;
        for (size_t i = 0; i < n; j++) {
            /* ranks are exact and unique per pair, so ranks[i] == best means the pair matches */
            if (i + 1 < n && ranks[i] == best) {
                ids[j] = res;
                made[j] = 1;
                i += 2;
            } else {
                ids[j] = ids[i];
                ranks[j] = ranks[i];
                made[j] = 0;
                i += 1;
            }
        }
        n = j;
        for (size_t k = 0; k + 1 < n; k++)
            if (made[k] || made[k + 1]) {
                int32_t r = bpe_umap_get(&b->rank, bpe_pair_key(ids[k], ids[k + 1]));
                ranks[k] = r < 0 ? INT32_MAX : r;
            }
    }
    if (ranks != ranks_stack) free(ranks);
    if (made != made_stack) free(made);
    return n;
}

typedef struct {
    int32_t rank, pos, rpos;
} heap_ent;

static int ent_less(heap_ent a, heap_ent b) { return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos); }

static void heap_push(heap_ent **h, size_t *n, size_t *cap, heap_ent e) {
    if (*n == *cap) *h = ed_realloc(*h, (*cap = 2 * *cap + 16) * sizeof **h);
    size_t i = (*n)++;
    while (i > 0 && ent_less(e, (*h)[(i - 1) / 2])) {
        (*h)[i] = (*h)[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    (*h)[i] = e;
}

static heap_ent heap_pop(heap_ent *h, size_t *n) {
    heap_ent top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && ent_less(h[c + 1], h[c])) c++;
        if (!ent_less(h[c], last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

/* Same result as bpe_merge_simple for a consistent merge table (a merge that uses a token
 * comes after the merge that makes it): the heap pops the lowest rank, leftmost first. */
size_t bpe_merge_heap(const ed_bpe *b, int32_t *ids, size_t n) {
    if (n < 2) return n;
    int32_t *next = ed_malloc(n * sizeof *next), *prev = ed_malloc(n * sizeof *prev);
    size_t hn = 0, hcap = n;
    heap_ent *h = ed_malloc(hcap * sizeof *h);
    for (size_t i = 0; i < n; i++) {
        next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        prev[i] = (int32_t)i - 1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        int32_t r = bpe_umap_get(&b->rank, bpe_pair_key(ids[i], ids[i + 1]));
        if (r >= 0) heap_push(&h, &hn, &hcap, (heap_ent){r, (int32_t)i, (int32_t)i + 1});
    }
    while (hn > 0) {
        heap_ent e = heap_pop(h, &hn);
        /* Lazy invalidation: an entry is live only if its two symbols are still neighbours
         * and still form the pair it was pushed for (ranks are unique per pair). */
        if (prev[e.pos] == -2 || next[e.pos] != e.rpos) continue;
        if (bpe_umap_get(&b->rank, bpe_pair_key(ids[e.pos], ids[e.rpos])) != e.rank) continue;
        ids[e.pos] = b->merges[3 * e.rank + 2];
        int32_t after = next[e.rpos];
        next[e.pos] = after;
        if (after >= 0) prev[after] = e.pos;
        prev[e.rpos] = -2; /* dead */
        if (prev[e.pos] >= 0) {
            int32_t r = bpe_umap_get(&b->rank, bpe_pair_key(ids[prev[e.pos]], ids[e.pos]));
            if (r >= 0) heap_push(&h, &hn, &hcap, (heap_ent){r, prev[e.pos], e.pos});
        }
        if (after >= 0) {
            int32_t r = bpe_umap_get(&b->rank, bpe_pair_key(ids[e.pos], ids[after]));
            if (r >= 0) heap_push(&h, &hn, &hcap, (heap_ent){r, e.pos, after});
        }
    }
    size_t m = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) ids[m++] = ids[i];
    free(next);
    free(prev);
    free(h);
    return m;
}

/* ---- encode / decode --------------------------------------------------------------- */

/* ed_ivec_reserve grows to exactly what is asked; appending piece by piece needs doubling
 * or every piece would copy the whole output so far. */
static void ivec_room(ed_ivec *v, size_t extra) {
    if (v->len + extra > v->cap) ed_ivec_reserve(v, v->len + extra > 2 * v->cap ? v->len + extra : 2 * v->cap);
}

typedef struct {
    const ed_bpe *b;
    ed_ivec *out;
    int32_t *buf;
    size_t cap;
} enc_ctx;

static void encode_piece(void *vctx, const char *s, size_t n) {
    enc_ctx *c = vctx;
    const ed_bpe *b = c->b;
    bpe_cache *cache = b->cache;
    if (b->ignore_merges && n > 1) { /* tokenizer.json's ignore_merges: a whole-word token wins */
        int32_t k = wt_lookup(&b->whole, s, n);
        if (k >= 0) {
            ed_ivec_push(c->out, (int32_t)b->whole.value[k]);
            return;
        }
    }
    if (n == 1) { /* a lone byte (space, punctuation): its own token, no lookup needed */
        ed_ivec_push(c->out, b->byte_id[(unsigned char)s[0]]);
        return;
    }
    if (n == 2) { /* at most one merge applies: one lookup beats the cache */
        int32_t l = b->byte_id[(unsigned char)s[0]], r = b->byte_id[(unsigned char)s[1]];
        int32_t rank = bpe_umap_get(&b->rank, bpe_pair_key(l, r));
        if (rank >= 0) {
            ed_ivec_push(c->out, b->merges[3 * rank + 2]);
        } else {
            ed_ivec_push(c->out, l);
            ed_ivec_push(c->out, r);
        }
        return;
    }
    int cacheable = n <= CACHE_MAX_LEN;
    if (cacheable && pthread_mutex_trylock(&cache->lock) == 0) {
        int32_t k = wt_lookup(&cache->map, s, n);
        if (k >= 0) {
            int64_t v = cache->map.value[k];
            size_t off = (size_t)(v >> 8), cnt = (size_t)(v & 0xff);
            ivec_room(c->out, cnt);
            memcpy(c->out->data + c->out->len, cache->ids.data + off, cnt * sizeof(int32_t));
            c->out->len += cnt;
            pthread_mutex_unlock(&cache->lock);
            return;
        }
        pthread_mutex_unlock(&cache->lock);
    }
    if (n > c->cap) c->buf = ed_realloc(c->buf, (c->cap = 2 * n) * sizeof *c->buf);
    for (size_t i = 0; i < n; i++) c->buf[i] = b->byte_id[(unsigned char)s[i]];
    size_t m = n <= HEAP_FROM ? bpe_merge_simple(b, c->buf, n) : bpe_merge_heap(b, c->buf, n);
    ivec_room(c->out, m);
    memcpy(c->out->data + c->out->len, c->buf, m * sizeof(int32_t));
    c->out->len += m;
    if (cacheable && pthread_mutex_trylock(&cache->lock) == 0) {
        if (cache->map.n >= CACHE_MAX_ITEMS) { /* bounded memory: start over */
            wt_clear(&cache->map);
            cache->ids.len = 0;
        }
        int added;
        int32_t k = wt_put(&cache->map, s, n, 0, &added);
        if (added) {
            cache->map.value[k] = (int64_t)cache->ids.len << 8 | (int64_t)m;
            ivec_room(&cache->ids, m);
            memcpy(cache->ids.data + cache->ids.len, c->buf, m * sizeof(int32_t));
            cache->ids.len += m;
        }
        pthread_mutex_unlock(&cache->lock);
    }
}

/* Text between added tokens: normalized (NFC when the file asks; only valid UTF-8 can
 * be, other text goes on as it is), then pre-tokenized and merged. */
static void encode_segment(enc_ctx *c, const char *text, size_t len) {
    if (len == 0) return;
    utf8proc_uint8_t *norm = NULL;
    if (c->b->nfc && bpe_utf8_valid_prefix((const unsigned char *)text, len) == len) {
        utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, &norm,
                                          UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (n >= 0) text = (const char *)norm, len = (size_t)n;
    }
    bpe_pretok_each(&c->b->pre, text, len, encode_piece, c);
    free(norm);
}

static void bpe_encode(const void *impl, const char *text, size_t len, ed_ivec *out) {
    enc_ctx c = {.b = impl, .out = out};
    const bpe_added *a = &c.b->added;
    size_t seg = 0;
    for (size_t i = 0; a->n > 0 && i < len; i++) {
        int32_t id;
        size_t m = bpe_added_match(a, text + i, len - i, &id);
        if (m == 0) continue;
        encode_segment(&c, text + seg, i - seg);
        ed_ivec_push(out, id);
        seg = i + m;
        i = seg - 1;
    }
    encode_segment(&c, text + seg, len - seg);
    free(c.buf);
}

/* Byte tokens can split a character, so ids cut from a longer sequence (e.g. sampled
 * text) may not be valid UTF-8; such bytes become U+FFFD so the result is always text. */
static char *bpe_decode(const void *impl, const int32_t *ids, size_t n) {
    const ed_bpe *b = impl;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i] >= 0 && ids[i] < b->n_vocab ? ids[i] : b->roles[1];
        total += id < 0 ? 3 : b->tok_off[id + 1] - b->tok_off[id];
    }
    unsigned char *raw = ed_malloc(total + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        /* not a token: the <UNK> token, or U+FFFD without one (as for a stray byte) */
        int32_t id = ids[i] >= 0 && ids[i] < b->n_vocab ? ids[i] : b->roles[1];
        if (id < 0) {
            memcpy(raw + o, "\xEF\xBF\xBD", 3);
            o += 3;
            continue;
        }
        size_t l = b->tok_off[id + 1] - b->tok_off[id];
        memcpy(raw + o, b->bytes + b->tok_off[id], l);
        o += l;
    }
    size_t ok = bpe_utf8_valid_prefix(raw, total);
    if (ok == total) {
        raw[total] = '\0';
        return (char *)raw;
    }
    char *s = ed_malloc(3 * total + 1);
    size_t so = 0, pos = 0;
    while (pos < total) {
        ok = bpe_utf8_valid_prefix(raw + pos, total - pos);
        memcpy(s + so, raw + pos, ok);
        so += ok;
        pos += ok;
        if (pos < total) {
            memcpy(s + so, "\xEF\xBF\xBD", 3);
            so += 3;
            pos++;
        }
    }
    s[so] = '\0';
    free(raw);
    return s;
}

static const char *bpe_token(const void *impl, int32_t id) {
    const ed_bpe *b = impl;
    if (id < 0 || id >= b->n_vocab) return NULL;
    return b->strs + b->str_off[id];
}

static int bpe_vocab_size(const void *impl) { return ((const ed_bpe *)impl)->n_vocab; }

static void bpe_roles(const void *impl, int32_t roles[4]) { memcpy(roles, ((const ed_bpe *)impl)->roles, 4 * sizeof *roles); }

const ed_tok_vtable ed_bpe_vtable = {
    .encode = bpe_encode,
    .decode = bpe_decode,
    .token = bpe_token,
    .vocab_size = bpe_vocab_size,
    .roles = bpe_roles,
    .to_json = bpe_to_json,
    .free = bpe_free,
};

static const char *hf_source(const void *impl, size_t *len) {
    const ed_bpe *b = impl;
    *len = strlen(b->hf_text);
    return b->hf_text;
}

/* tokenizer.json: the same model, saved as the file's text (hf_json.c) */
const ed_tok_vtable ed_hf_vtable = {
    .encode = bpe_encode,
    .decode = bpe_decode,
    .token = bpe_token,
    .vocab_size = bpe_vocab_size,
    .roles = bpe_roles,
    .to_json = ed_hf_to_json,
    .source = hf_source,
    .free = bpe_free,
};
