/* bpe_train.c — learning byte-level BPE merges from texts.
 *
 * 1. The distinct pre-tokenized pieces ("words") and their counts come from a counter
 *    (tok_count.c, fed by ed_bpe_count), so training works on the (small) set of distinct
 *    words times their counts, however the text was split or spread over processes.
 * 2. Count adjacent symbol pairs over all words (count * occurrences) and remember, per
 *    pair, which words contain it.
 * 3. Repeat until the vocabulary is full: take the most frequent pair from a max-heap,
 *    rewrite only the words listed for it, and update the counts of the pairs those words
 *    lose and gain. The heap is never searched or updated in place: a changed count pushes
 *    a new entry and stale ones are skipped when popped (lazy invalidation), so one merge
 *    costs time proportional to the words it touches, not to the corpus.
 *
 * Ties are broken by byte order (the left token's bytes, then the right's), so the same
 * texts give the same merges on every run and every rank. A merge whose string already
 * exists (reached by another merge path) reuses that token's id. */
#include <stdlib.h>
#include <string.h>

#include "bpe_internal.h"
#include "tok_internal.h"

typedef struct {
    int32_t *w;
    int32_t n, cap;
} wlist;

typedef struct {
    int64_t count;
    int32_t pair;
} hent;

typedef struct {
    /* tokens: raw bytes of each id; strings map bytes -> id */
    wt_table tokens;
    /* distinct words: current symbols in place, shrinking as merges apply */
    size_t n_words;
    int64_t *wcount;
    size_t *woff;
    uint32_t *wlen;
    int32_t *sym;
    int32_t *stamp;
    /* pairs */
    bpe_umap pidx;
    int32_t *pl, *pr;
    int64_t *pcount, *pold;
    wlist *pw;
    uint8_t *pdirty;
    size_t np, pcap;
    int32_t *dirty;
    size_t nd, dcap;
    /* heap */
    hent *heap;
    size_t hn, hcap;
    /* merges learned */
    int32_t *merges;
    size_t n_merges, mcap;
} trainer;

static int token_cmp(const trainer *t, int32_t a, int32_t b) {
    const wt_table *w = &t->tokens;
    size_t n = w->len[a] < w->len[b] ? w->len[a] : w->len[b];
    int c = memcmp(wt_str(w, (size_t)a), wt_str(w, (size_t)b), n);
    if (c) return c;
    return (w->len[a] > w->len[b]) - (w->len[a] < w->len[b]);
}

/* a before b in the heap: higher count, then smaller (left bytes, right bytes). */
static int hent_better(const trainer *t, hent a, hent b) {
    if (a.count != b.count) return a.count > b.count;
    int c = token_cmp(t, t->pl[a.pair], t->pl[b.pair]);
    if (c) return c < 0;
    return token_cmp(t, t->pr[a.pair], t->pr[b.pair]) < 0;
}

static void hpush(trainer *t, hent e) {
    if (t->hn == t->hcap) t->heap = ed_realloc(t->heap, (t->hcap = 2 * t->hcap + 1024) * sizeof *t->heap);
    size_t i = t->hn++;
    while (i > 0 && hent_better(t, e, t->heap[(i - 1) / 2])) {
        t->heap[i] = t->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    t->heap[i] = e;
}

static hent hpop(trainer *t) {
    hent top = t->heap[0], last = t->heap[--t->hn];
    size_t i = 0, n = t->hn;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && hent_better(t, t->heap[c + 1], t->heap[c])) c++;
        if (!hent_better(t, t->heap[c], last)) break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (n > 0) t->heap[i] = last;
    return top;
}

static int32_t pair_get(trainer *t, int32_t a, int32_t b) {
    int32_t *slot = bpe_umap_put(&t->pidx, bpe_pair_key(a, b), (int32_t)t->np);
    if (*slot == (int32_t)t->np) {
        ED_CHECK(t->np < INT32_MAX, "bpe: too many distinct pairs");
        if (t->np == t->pcap) {
            t->pcap = t->pcap ? 2 * t->pcap : 4096;
            t->pl = ed_realloc(t->pl, t->pcap * sizeof *t->pl);
            t->pr = ed_realloc(t->pr, t->pcap * sizeof *t->pr);
            t->pcount = ed_realloc(t->pcount, t->pcap * sizeof *t->pcount);
            t->pold = ed_realloc(t->pold, t->pcap * sizeof *t->pold);
            t->pw = ed_realloc(t->pw, t->pcap * sizeof *t->pw);
            t->pdirty = ed_realloc(t->pdirty, t->pcap * sizeof *t->pdirty);
        }
        size_t p = t->np++;
        t->pl[p] = a;
        t->pr[p] = b;
        t->pcount[p] = 0;
        t->pw[p] = (wlist){0};
        t->pdirty[p] = 0;
    }
    return *slot;
}

static void pair_add(trainer *t, int32_t p, int64_t delta) {
    if (!t->pdirty[p]) {
        t->pdirty[p] = 1;
        t->pold[p] = t->pcount[p];
        if (t->nd == t->dcap) t->dirty = ed_realloc(t->dirty, (t->dcap = 2 * t->dcap + 1024) * sizeof *t->dirty);
        t->dirty[t->nd++] = p;
    }
    t->pcount[p] += delta;
}

static void wlist_add(wlist *l, int32_t w) {
    if (l->n > 0 && l->w[l->n - 1] == w) return;
    if (l->n == l->cap) l->w = ed_realloc(l->w, (size_t)(l->cap = 2 * l->cap + 4) * sizeof *l->w);
    l->w[l->n++] = w;
}

static void count_piece(void *ctx, const char *s, size_t n) {
    wt_table *t = ctx;
    int added;
    int32_t e = wt_insert(t, s, n, wt_hash(s, n), &added); /* may grow t->value: index after */
    t->value[e]++;
}

void ed_bpe_count(wt_table *counts, const bpe_pretok *p, const char *text, size_t len) {
    bpe_pretok_each(p, text, len, count_piece, counts);
}

/* Applies merge (a, b) -> c to every word listed for pair p. */
static void apply_merge(trainer *t, int32_t p, int32_t c, int32_t stamp) {
    int32_t a = t->pl[p], b = t->pr[p];
    wlist list = t->pw[p]; /* taken: the pair table may be reallocated below */
    t->pw[p] = (wlist){0};
    for (int32_t k = 0; k < list.n; k++) {
        int32_t w = list.w[k];
        if (t->stamp[w] == stamp) continue;
        t->stamp[w] = stamp;
        int32_t *s = t->sym + t->woff[w];
        uint32_t n = t->wlen[w];
        int has = 0;
        for (uint32_t i = 0; i + 1 < n && !has; i++) has = s[i] == a && s[i + 1] == b;
        if (!has) continue; /* listed for an occurrence an earlier merge consumed */
        int64_t f = t->wcount[w];
        /* Words are short: re-counting all of a word's pairs is simpler than patching
         * neighbours one by one and handles overlaps like "a a a" for free. */
        for (uint32_t i = 0; i + 1 < n; i++) pair_add(t, pair_get(t, s[i], s[i + 1]), -f);
        uint32_t j = 0;
        for (uint32_t i = 0; i < n;) {
            if (i + 1 < n && s[i] == a && s[i + 1] == b) {
                s[j++] = c;
                i += 2;
            } else {
                s[j++] = s[i++];
            }
        }
        t->wlen[w] = n = j;
        for (uint32_t i = 0; i + 1 < n; i++) {
            int32_t q = pair_get(t, s[i], s[i + 1]);
            pair_add(t, q, f);
            if (s[i] == c || s[i + 1] == c) wlist_add(&t->pw[q], w);
        }
    }
    free(list.w);
    for (size_t k = 0; k < t->nd; k++) {
        int32_t q = t->dirty[k];
        t->pdirty[q] = 0;
        if (t->pcount[q] != t->pold[q] && t->pcount[q] > 0) hpush(t, (hent){t->pcount[q], q});
    }
    t->nd = 0;
}

static void trainer_free(trainer *t) {
    wt_free(&t->tokens);
    free(t->wcount);
    free(t->woff);
    free(t->wlen);
    free(t->sym);
    free(t->stamp);
    if (t->pidx.keys) bpe_umap_free(&t->pidx);
    for (size_t p = 0; p < t->np; p++) free(t->pw[p].w);
    free(t->pl);
    free(t->pr);
    free(t->pcount);
    free(t->pold);
    free(t->pw);
    free(t->pdirty);
    free(t->dirty);
    free(t->heap);
    free(t->merges);
}

int ed_bpe_check_options(const ed_tok_options *opt, ed_error *err) {
    if (opt->vocab_size < ED_NUM_SPECIAL + 256)
        return ed_fail(err, "bpe: vocab_size %d is too small: byte-level BPE needs at least 260 "
                            "(4 specials + 256 bytes; --tokenizer word builds smaller vocabularies)", opt->vocab_size);
    if (opt->vocab_size > (1 << 24)) return ed_fail(err, "bpe: vocab_size %d is too large (max 16777216)", opt->vocab_size);
    return 0;
}

void *ed_bpe_train_counts(const ed_tok_options *opt, const wt_table *words, ed_error *err) {
    if (ed_bpe_check_options(opt, err) != 0) return NULL;
    int target = opt->vocab_size;
    /* A pair seen once teaches nothing about the language; min_freq can ask for more. */
    int64_t min_count = opt->min_freq > 2 ? opt->min_freq : 2;

    trainer t = {0};
    wt_init(&t.tokens);
    for (int i = 0; i < ED_NUM_SPECIAL; i++) /* placeholders keep ids aligned; never looked up */
        wt_put(&t.tokens, bpe_special_names[i], strlen(bpe_special_names[i]), i, NULL);
    for (int c = 0; c < 256; c++) {
        char ch = (char)c;
        wt_put(&t.tokens, &ch, 1, ED_NUM_SPECIAL + c, NULL);
    }
    t.n_words = words->n;
    t.wcount = ed_malloc((t.n_words + 1) * sizeof *t.wcount);
    t.woff = ed_malloc((t.n_words + 1) * sizeof *t.woff);
    t.wlen = ed_malloc((t.n_words + 1) * sizeof *t.wlen);
    t.stamp = ed_calloc(t.n_words + 1, sizeof *t.stamp);
    size_t total = 0;
    for (size_t w = 0; w < t.n_words; w++) total += words->len[w];
    t.sym = ed_malloc((total + 1) * sizeof *t.sym);
    bpe_umap_init(&t.pidx, 1 << 16);
    size_t o = 0;
    for (size_t w = 0; w < t.n_words; w++) {
        const unsigned char *s = (const unsigned char *)wt_str(words, w);
        uint32_t len = words->len[w];
        t.wcount[w] = words->value[w];
        t.woff[w] = o;
        t.wlen[w] = len;
        for (uint32_t i = 0; i < len; i++) t.sym[o + i] = ED_NUM_SPECIAL + s[i];
        for (uint32_t i = 0; i + 1 < len; i++) {
            int32_t p = pair_get(&t, t.sym[o + i], t.sym[o + i + 1]);
            t.pcount[p] += t.wcount[w];
            wlist_add(&t.pw[p], (int32_t)w);
        }
        o += len;
    }
    for (size_t p = 0; p < t.np; p++) hpush(&t, (hent){t.pcount[p], (int32_t)p});

    int n_vocab = ED_NUM_SPECIAL + 256;
    unsigned char *cat = NULL;
    size_t cat_cap = 0;
    int32_t stamp = 0;
    while (n_vocab < target && t.hn > 0) {
        hent e = hpop(&t);
        if (e.count != t.pcount[e.pair] || e.count <= 0) continue; /* stale */
        if (e.count < min_count) break;
        int32_t a = t.pl[e.pair], b = t.pr[e.pair];
        size_t la = t.tokens.len[a], lb = t.tokens.len[b];
        if (la + lb > cat_cap) cat = ed_realloc(cat, cat_cap = 2 * (la + lb));
        memcpy(cat, wt_str(&t.tokens, (size_t)a), la);
        memcpy(cat + la, wt_str(&t.tokens, (size_t)b), lb);
        int added;
        int32_t c = wt_put(&t.tokens, (const char *)cat, la + lb, n_vocab, &added);
        if (added) n_vocab++;
        if (t.n_merges == t.mcap) t.merges = ed_realloc(t.merges, (t.mcap = 2 * t.mcap + 1024) * 2 * sizeof *t.merges);
        t.merges[2 * t.n_merges] = a;
        t.merges[2 * t.n_merges + 1] = b;
        t.n_merges++;
        apply_merge(&t, e.pair, c, ++stamp);
    }
    free(cat);

    /* The learned table goes through the same builder as a loaded file, so a trained and a
     * reloaded tokenizer are the same object by construction. */
    char **strs = ed_malloc((size_t)n_vocab * sizeof *strs);
    for (int i = 0; i < n_vocab; i++) {
        if (i < ED_NUM_SPECIAL) {
            strs[i] = ed_strdup(bpe_special_names[i]);
            continue;
        }
        char *buf = NULL;
        size_t cap = 0;
        bpe_bytes_to_str((const unsigned char *)wt_str(&t.tokens, (size_t)i), t.tokens.len[i], &buf, &cap, 0);
        strs[i] = buf;
    }
    ed_bpe *bpe = bpe_build((const char *const *)strs, n_vocab, t.merges, (int)t.n_merges, NULL, "bpe training", err);
    for (int i = 0; i < n_vocab; i++) free(strs[i]);
    free(strs);
    trainer_free(&t);
    return bpe;
}
