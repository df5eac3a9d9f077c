/* tok_count.c — the piece counter of include/expert/tokenizer.h: texts in, distinct pieces
 * and their counts out, mergeable across counters and processes; the trainers (word.c,
 * bpe_train.c) build a vocabulary from nothing else.
 *
 * One table for both kinds (word_table.h: string arena + offsets, lengths, cached hashes,
 * counts, a slot array at load < 1/2); what a piece is comes from the kind: word tokens
 * (ed_word_count, case-folded with lowercase) or GPT-2 pre-tokens (ed_bpe_count). */
#include <stdlib.h>
#include <string.h>

#include "bpe_internal.h"
#include "tok_internal.h"

struct ed_tok_counter {
    ed_tok_kind kind;
    int lowercase;   /* word kind only: pieces are counted folded */
    wt_table tab;
    bpe_pretok pre;  /* bpe kind only: the pre-tokenizer regex, compiled once */
    ws_foldbuf fb;   /* word kind: scratch for folding */
};

static int check_options(const ed_tok_options *opt, ed_error *err) {
    switch (opt->kind) {
    case ED_TOK_WORD:
        return ed_word_check_options(opt, err);
    case ED_TOK_BPE:
        return ed_bpe_check_options(opt, err);
    case ED_TOK_SPM:
    case ED_TOK_HF:
        return ed_fail(err, "--tokenizer %s loads the user's file: give it with --vocab-file (%s)",
                       ed_tok_kind_names[opt->kind], opt->kind == ED_TOK_SPM ? "tokenizer.model" : "tokenizer.json");
    }
    return ed_fail(err, "unknown tokenizer kind %d", (int)opt->kind);
}

ed_tok_counter *ed_tok_counter_new(const ed_tok_options *opt, ed_error *err) {
    if (check_options(opt, err) != 0) return NULL;
    ed_tok_counter *c = ed_calloc(1, sizeof *c);
    c->kind = opt->kind;
    c->lowercase = opt->kind == ED_TOK_WORD && opt->lowercase;
    wt_init(&c->tab);
    if (c->kind == ED_TOK_BPE && bpe_pretok_init(&c->pre, err) != 0) {
        wt_free(&c->tab);
        free(c);
        return NULL;
    }
    return c;
}

void ed_tok_counter_free(ed_tok_counter *c) {
    if (!c) return;
    wt_free(&c->tab);
    if (c->kind == ED_TOK_BPE) bpe_pretok_free(&c->pre);
    ws_foldbuf_free(&c->fb);
    free(c);
}

void ed_tok_counter_add(ed_tok_counter *c, const char *text, size_t len) {
    if (c->kind == ED_TOK_WORD) ed_word_count(&c->tab, c->lowercase, &c->fb, text, len);
    else ed_bpe_count(&c->tab, &c->pre, text, len);
}

void ed_tok_counter_clear(ed_tok_counter *c) { wt_clear(&c->tab); }

static void add_piece(ed_tok_counter *c, const char *s, size_t n, int64_t count) {
    int added;
    int32_t e = wt_insert(&c->tab, s, n, wt_hash(s, n), &added); /* may grow the arrays: index after */
    c->tab.value[e] += count;
}

static int same_kind(const ed_tok_counter *c, ed_tok_kind kind, int lowercase, ed_error *err) {
    if (c->kind == kind && c->lowercase == lowercase) return 0;
    return ed_fail(err, "tokenizer counts of a %s%s tokenizer cannot be used for a %s%s one",
                   ed_tok_kind_names[c->kind], c->lowercase ? " (lowercase)" : "", ed_tok_kind_names[kind],
                   lowercase ? " (lowercase)" : "");
}

int ed_tok_counter_merge(ed_tok_counter *dst, const ed_tok_counter *src, ed_error *err) {
    if (same_kind(dst, src->kind, src->lowercase, err) != 0) return -1;
    for (size_t e = 0; e < src->tab.n; e++) add_piece(dst, wt_str(&src->tab, e), src->tab.len[e], src->tab.value[e]);
    return 0;
}

size_t ed_tok_counter_distinct(const ed_tok_counter *c) { return c->tab.n; }

size_t ed_tok_counter_bytes(const ed_tok_counter *c) {
    const wt_table *t = &c->tab;
    size_t per_entry = sizeof *t->off + sizeof *t->len + sizeof *t->hash + sizeof *t->value;
    return sizeof *c + t->arena_cap + t->cap * per_entry + t->n_slots * sizeof *t->slots;
}

/* ---- chunks: LEB128 count, LEB128 length, bytes; entry after entry ---- */

static size_t put_leb(unsigned char *p, uint64_t v) {
    size_t n = 0;
    do {
        p[n++] = (unsigned char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

/* 0 on a value that runs past end or beyond 64 bits. */
static size_t get_leb(const unsigned char *p, const unsigned char *end, uint64_t *v) {
    uint64_t x = 0;
    for (size_t n = 0; p + n < end && n < 10; n++) {
        x |= (uint64_t)(p[n] & 0x7f) << (7 * n);
        if (!(p[n] & 0x80)) {
            *v = x;
            return n + 1;
        }
    }
    return 0;
}

size_t ed_tok_counter_pack(const ed_tok_counter *c, size_t *pos, char **buf, size_t *cap, size_t want) {
    const wt_table *t = &c->tab;
    size_t len = 0;
    for (; *pos < t->n && (len == 0 || len < want); (*pos)++) {
        size_t e = *pos, need = len + 20 + t->len[e];
        if (need > *cap) {
            *cap = need > 2 * *cap ? need : 2 * *cap;
            *buf = ed_realloc(*buf, *cap);
        }
        unsigned char *p = (unsigned char *)*buf + len;
        p += put_leb(p, (uint64_t)t->value[e]);
        p += put_leb(p, t->len[e]);
        memcpy(p, wt_str(t, e), t->len[e]);
        len = (size_t)(p - (unsigned char *)*buf) + t->len[e];
    }
    return len;
}

int ed_tok_counter_unpack(ed_tok_counter *c, const char *chunk, size_t len, ed_error *err) {
    const unsigned char *p = (const unsigned char *)chunk, *end = p + len;
    while (p < end) {
        uint64_t count, n;
        size_t a = get_leb(p, end, &count), b = a ? get_leb(p + a, end, &n) : 0;
        if (!a || !b || count == 0 || count > INT64_MAX || n == 0 || n > (uint64_t)(end - p - a - b))
            return ed_fail(err, "tokenizer counts: malformed entry at byte %zu of a %zu-byte chunk",
                           (size_t)(p - (const unsigned char *)chunk), len);
        p += a + b;
        add_piece(c, (const char *)p, (size_t)n, (int64_t)count);
        p += n;
    }
    return 0;
}

ed_tokenizer *ed_tok_train_counts(const ed_tok_options *opt, const ed_tok_counter *c, ed_error *err) {
    if (check_options(opt, err) != 0) return NULL;
    if (same_kind(c, opt->kind, opt->kind == ED_TOK_WORD && opt->lowercase, err) != 0) return NULL;
    return ed_tok_wrap(opt->kind, opt->kind == ED_TOK_WORD ? ed_word_train_counts(opt, &c->tab, err)
                                                           : ed_bpe_train_counts(opt, &c->tab, err));
}
