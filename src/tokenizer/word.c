/* word.c — the word-level tokenizer: vocabulary of the most frequent words and
 * punctuation marks, the seed pipeline's SimpleTokenizer made Unicode-aware.
 * How text is cut: word_split.h. How ids are found: word_table.h. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "word_split.h"
#include "word_table.h"

typedef struct {
    int lowercase;
    wt_table tab; /* entry i = token id i; 0..3 are the specials */
} word_impl;

static const char *const special_str[ED_NUM_SPECIAL] = {"<PAD>", "<UNK>", "<BOS>", "<EOS>"};

static word_impl *word_new(int lowercase) {
    word_impl *w = ed_calloc(1, sizeof *w);
    w->lowercase = lowercase;
    wt_init(&w->tab);
    int added;
    for (int i = 0; i < ED_NUM_SPECIAL; i++) {
        const char *s = special_str[i];
        wt_insert(&w->tab, s, strlen(s), wt_hash(s, strlen(s)), &added);
    }
    return w;
}

static void word_free(void *impl) {
    word_impl *w = impl;
    if (!w) return;
    wt_free(&w->tab);
    free(w);
}

typedef struct {
    int64_t count;
    const char *s;
    uint32_t len;
} cand;

/* Most frequent first; equal counts in byte order of the word (memcmp, shorter first),
 * which makes the vocabulary independent of input order and of hash layout. */
static int cand_cmp(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    uint32_t m = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->s, b->s, m);
    if (c) return c;
    return (a->len > b->len) - (a->len < b->len);
}

int ed_word_check_options(const ed_tok_options *opt, ed_error *err) {
    if (opt->vocab_size <= ED_NUM_SPECIAL)
        return ed_fail(err, "vocab_size must be greater than %d (the special tokens), got %d", ED_NUM_SPECIAL,
                       opt->vocab_size);
    if (opt->min_freq < 1) return ed_fail(err, "min_freq must be >= 1, got %d", opt->min_freq);
    return 0;
}

void ed_word_count(wt_table *counts, int lowercase, ws_foldbuf *fb, const char *text, size_t len) {
    ws_iter it;
    ws_iter_init(&it, text, len);
    size_t start, n;
    int added;
    while (ws_next(&it, &start, &n)) {
        const char *s = text + start;
        if (lowercase) s = ws_fold_into(fb, s, n, &n);
        int32_t e = wt_insert(counts, s, n, wt_hash(s, n), &added);
        counts->value[e]++;
    }
}

void *ed_word_train_counts(const ed_tok_options *opt, const wt_table *counts, ed_error *err) {
    if (ed_word_check_options(opt, err) != 0) return NULL;
    cand *c = ed_malloc((counts->n ? counts->n : 1) * sizeof *c);
    size_t nc = 0;
    for (size_t e = 0; e < counts->n; e++)
        if (counts->value[e] >= opt->min_freq) c[nc++] = (cand){counts->value[e], wt_str(counts, e), counts->len[e]};
    qsort(c, nc, sizeof *c, cand_cmp);

    word_impl *w = word_new(opt->lowercase);
    size_t keep = (size_t)(opt->vocab_size - ED_NUM_SPECIAL);
    int added;
    for (size_t i = 0; i < nc && w->tab.n < (size_t)ED_NUM_SPECIAL + keep; i++) {
        int32_t e = wt_insert(&w->tab, c[i].s, c[i].len, wt_hash(c[i].s, c[i].len), &added);
        w->tab.value[e] = c[i].count;
    }
    free(c);
    return w;
}

static void word_encode(const void *impl, const char *text, size_t len, ed_ivec *out) {
    const word_impl *w = impl;
    ws_foldbuf fb = {.big = NULL, .big_cap = 0};
    ws_iter it;
    ws_iter_init(&it, text, len);
    size_t start, n;
    while (ws_next(&it, &start, &n)) {
        const char *s = text + start;
        if (w->lowercase) s = ws_fold_into(&fb, s, n, &n);
        int32_t id = wt_find(&w->tab, s, n, wt_hash(s, n));
        ed_ivec_push(out, id < 0 ? ED_UNK : id);
    }
    ws_foldbuf_free(&fb);
}

static const char *word_token(const void *impl, int32_t id) {
    const word_impl *w = impl;
    if (id < 0 || (size_t)id >= w->tab.n) return NULL;
    return wt_str(&w->tab, (size_t)id);
}

/* Symbols written between two words without spaces (and/or, usr/www, a_b, x^2):
 * the encoder split them off, decode joins them back. */
static int is_infix(const char *tok) {
    static const char *const infix[] = {"/", "\\", "_", "^", "|", "~", NULL};
    for (const char *const *p = infix; *p; p++)
        if (strcmp(tok, *p) == 0) return 1;
    return 0;
}

static int is_digit_sep(const char *tok) { return !strcmp(tok, ".") || !strcmp(tok, ",") || !strcmp(tok, ":"); }

static int starts_digit(const char *tok) { return tok[0] >= '0' && tok[0] <= '9'; }

static int ends_digit(const char *tok) {
    size_t n = strlen(tok);
    return n && tok[n - 1] >= '0' && tok[n - 1] <= '9';
}

/* Text back from the tokens, spaced as ordinary prose is written, so that such text
 * comes back as it went in (tests/tokenizer: the round trip). Words are joined by one
 * space, except: none after an opening mark ( [ { $ # « „ “ ‘ ¿ ¡, none before a closing
 * one . , ! ? ; : ) ] } % » … ” ’, none on either side of an infix symbol / \ _ ^ | ~,
 * none inside a number (3.50, 1,000, 10:30), and the ASCII quotes " and ' alternate
 * between opening and closing within one decode call. Dashes and other symbols keep
 * their spaces ("Москва — столица"). What the encoder dropped cannot come back: a space
 * before a slash (" /usr") or inside a number. Out-of-range ids print as <UNK>. */
static char *word_decode(const void *impl, const int32_t *ids, size_t n) {
    const word_impl *w = impl;
    size_t cap = 64, len = 0;
    char *buf = ed_malloc(cap);
    int glue_next = 1; /* no space before the first token */
    int dq_open = 0, sq_open = 0;
    const char *prev = "", *prev2 = ""; /* the two tokens before this one */
    for (size_t i = 0; i < n; i++) {
        const char *tok = word_token(w, ids[i]);
        if (!tok) tok = special_str[ED_UNK];
        size_t tl = strlen(tok);
        int space = !glue_next, opens = ws_is_opener(tok) || is_infix(tok);
        if (ws_is_closer(tok) || is_infix(tok)) space = 0;
        if (starts_digit(tok) && is_digit_sep(prev) && ends_digit(prev2)) space = 0;
        prev2 = prev;
        prev = tok;
        if (ws_is_toggle_quote(tok)) {
            int *open = tok[0] == '"' ? &dq_open : &sq_open;
            if (*open) space = 0; /* closing quote hugs the word before it */
            else opens = 1;
            *open = !*open;
        }
        if (len + tl + 2 > cap) {
            while (len + tl + 2 > cap) cap *= 2;
            buf = ed_realloc(buf, cap);
        }
        if (space) buf[len++] = ' ';
        memcpy(buf + len, tok, tl);
        len += tl;
        glue_next = opens;
    }
    buf[len] = '\0';
    return buf;
}

static int word_vocab_size(const void *impl) { return (int)((const word_impl *)impl)->tab.n; }

static json_t *word_to_json(const void *impl) {
    const word_impl *w = impl;
    json_t *tokens = json_array();
    for (size_t i = 0; i < w->tab.n; i++) json_array_append_new(tokens, json_stringn(wt_str(&w->tab, i), w->tab.len[i]));
    json_t *root = json_object();
    json_object_set_new(root, "kind", json_string(ed_tok_kind_names[ED_TOK_WORD]));
    json_object_set_new(root, "lowercase", json_integer(w->lowercase));
    json_object_set_new(root, "tokens", tokens);
    return root;
}

void *ed_word_from_json(const json_t *root, ed_error *err) {
    json_t *lc = json_object_get(root, "lowercase");
    json_t *tokens = json_object_get(root, "tokens");
    if (lc && !json_is_integer(lc) && !json_is_boolean(lc)) {
        ed_fail(err, "\"lowercase\" must be 0 or 1");
        return NULL;
    }
    if (!json_is_array(tokens)) {
        ed_fail(err, "missing \"tokens\" array");
        return NULL;
    }
    size_t n = json_array_size(tokens);
    if (n < ED_NUM_SPECIAL || n > INT32_MAX) {
        ed_fail(err, "\"tokens\" has %zu entries, expected the %d specials and more", n, ED_NUM_SPECIAL);
        return NULL;
    }
    int lowercase = lc ? (json_is_boolean(lc) ? json_is_true(lc) : json_integer_value(lc) != 0) : 0;
    word_impl *w = word_new(lowercase);
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(tokens, i);
        if (!json_is_string(t) || json_string_length(t) == 0) {
            ed_fail(err, "token %zu is not a non-empty string", i);
            word_free(w);
            return NULL;
        }
        const char *s = json_string_value(t);
        size_t len = json_string_length(t);
        if (i < ED_NUM_SPECIAL) {
            if (strcmp(s, special_str[i]) != 0) {
                ed_fail(err, "token %zu must be %s, found \"%s\"", i, special_str[i], s);
                word_free(w);
                return NULL;
            }
            continue;
        }
        int added;
        wt_insert(&w->tab, s, len, wt_hash(s, len), &added);
        if (!added) {
            ed_fail(err, "token %zu (\"%s\") appears twice", i, s);
            word_free(w);
            return NULL;
        }
    }
    return w;
}

const ed_tok_vtable ed_word_vtable = {
    .encode = word_encode,
    .decode = word_decode,
    .token = word_token,
    .vocab_size = word_vocab_size,
    .to_json = word_to_json,
    .free = word_free,
};
