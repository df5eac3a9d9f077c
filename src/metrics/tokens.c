/* tokens.c — token lists and the two tokenizers the scores are defined with: sacreBLEU's
 * `13a` for BLEU and rouge-score's for ROUGE (textmetrics.h). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "expert/common.h"
#include "expert/textmetrics.h"
#include "metrics_internal.h"

void ed_tm_tokens_free(ed_tm_tokens *t) {
    free(t->text);
    free(t->start);
    memset(t, 0, sizeof *t);
}

void ed_tm_tokens_clear(ed_tm_tokens *t) {
    t->len = 0;
    t->n = 0;
}

void ed_tm_tokens_push(ed_tm_tokens *t, const char *s, size_t n) {
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->text = ed_realloc(t->text, t->cap);
    }
    if (t->n == t->ncap) {
        t->ncap = t->ncap ? 2 * t->ncap : 16;
        t->start = ed_realloc(t->start, t->ncap * sizeof *t->start);
    }
    t->start[t->n++] = t->len;
    memcpy(t->text + t->len, s, n);
    t->len += n;
    t->text[t->len++] = 0;
}

/* ---- a growable byte string, for the rewriting passes -------------------------------- */

typedef struct {
    char *s;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->s = ed_realloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void putc1(buf *b, char c) { put(b, &c, 1); }

/* Every occurrence of `from` in src replaced by `to` (left to right, non-overlapping,
 * like Python's str.replace). */
static void replace_all(buf *out, const char *src, size_t n, const char *from, const char *to) {
    size_t fl = strlen(from), tl = strlen(to);
    out->n = 0;
    put(out, "", 0);
    for (size_t i = 0; i < n;) {
        if (i + fl <= n && memcmp(src + i, from, fl) == 0) {
            put(out, to, tl);
            i += fl;
        } else {
            putc1(out, src[i++]);
        }
    }
}

/* Bytes of the UTF-8 character starting with lead byte c (1 for a stray byte: the text
 * is valid UTF-8, this only keeps the loop finite). */
static size_t char_len(unsigned char c) {
    return c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* 13a's first rule, `([\{-\~\[-\` -\&\(-\+\:-\@\/])` -> " \1 ": ASCII punctuation and
 * symbols except ' , - . (which have rules of their own or none), and the space. */
static int split_off(char c) {
    return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') ||
           (c >= '(' && c <= '+') || (c >= ':' && c <= '@') || c == '/';
}

/* Python's str.isspace() code points: what str.split() splits at. */
static int py_space(utf8proc_int32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

/* Appends the white-space separated words of s[0..n) to out. */
static void split_words(const char *s, size_t n, ed_tm_tokens *out) {
    size_t i = 0, word = 0;
    int in_word = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k < 1) k = 1, cp = 0xFFFD;
        if (py_space(cp)) {
            if (in_word) ed_tm_tokens_push(out, s + word, i - word);
            in_word = 0;
        } else if (!in_word) {
            word = i;
            in_word = 1;
        }
        i += (size_t)k;
    }
    if (in_word) ed_tm_tokens_push(out, s + word, n - word);
}

void ed_tm_tokenize_13a(const char *text, ed_tm_tokens *out) {
    buf a = {0}, b = {0};
    /* Tokenizer13a: the language-independent part, replacements in this order */
    replace_all(&a, text, strlen(text), "<skipped>", "");
    replace_all(&b, a.s, a.n, "-\n", "");
    replace_all(&a, b.s, b.n, "\n", " ");
    if (memchr(a.s, '&', a.n)) {
        static const char *const ent[][2] = {{"&quot;", "\""}, {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}};
        for (int e = 0; e < 4; e++) {
            replace_all(&b, a.s, a.n, ent[e][0], ent[e][1]);
            buf t = a;
            a = b;
            b = t;
        }
    }
    /* TokenizerRegexp on " line ": four substitutions, each a left-to-right scan over
     * characters that consumes what its pattern matched, as re.sub does. */
    b.n = 0;
    putc1(&b, ' ');
    for (size_t i = 0; i < a.n; i++) {
        if (split_off(a.s[i])) {
            putc1(&b, ' ');
            putc1(&b, a.s[i]);
            putc1(&b, ' ');
        } else {
            putc1(&b, a.s[i]);
        }
    }
    putc1(&b, ' ');
    /* ([^0-9])([\.,]) -> "\1 \2 " */
    a.n = 0;
    put(&a, "", 0);
    for (size_t i = 0; i < b.n;) {
        size_t k = char_len((unsigned char)b.s[i]);
        if (!is_digit(b.s[i]) && i + k < b.n && (b.s[i + k] == '.' || b.s[i + k] == ',')) {
            put(&a, b.s + i, k);
            putc1(&a, ' ');
            putc1(&a, b.s[i + k]);
            putc1(&a, ' ');
            i += k + 1;
        } else {
            put(&a, b.s + i, k);
            i += k;
        }
    }
    /* ([\.,])([^0-9]) -> " \1 \2" */
    b.n = 0;
    put(&b, "", 0);
    for (size_t i = 0; i < a.n;) {
        if ((a.s[i] == '.' || a.s[i] == ',') && i + 1 < a.n && !is_digit(a.s[i + 1])) {
            size_t k = char_len((unsigned char)a.s[i + 1]);
            putc1(&b, ' ');
            putc1(&b, a.s[i]);
            putc1(&b, ' ');
            put(&b, a.s + i + 1, k);
            i += 1 + k;
        } else {
            size_t k = char_len((unsigned char)a.s[i]);
            put(&b, a.s + i, k);
            i += k;
        }
    }
    /* ([0-9])(-) -> "\1 \2 " */
    a.n = 0;
    put(&a, "", 0);
    for (size_t i = 0; i < b.n;) {
        if (is_digit(b.s[i]) && i + 1 < b.n && b.s[i + 1] == '-') {
            putc1(&a, b.s[i]);
            put(&a, " - ", 3);
            i += 2;
        } else {
            size_t k = char_len((unsigned char)b.s[i]);
            put(&a, b.s + i, k);
            i += k;
        }
    }
    split_words(a.s, a.n, out);
    free(a.s);
    free(b.s);
}

void ed_tm_tokenize_rouge(const char *text, ed_stemmer *stem, ed_tm_tokens *out) {
    size_t n = strlen(text), i = 0;
    buf word = {0};
    word.n = 0;
    for (;;) {
        utf8proc_int32_t cp = -1;
        if (i < n) {
            utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(n - i), &cp);
            if (k < 1) k = 1, cp = 0xFFFD;
            i += (size_t)k;
            /* Python's str.lower(): U+0130 (I with dot above) becomes "i" + U+0307, a
             * letter and then a separator; otherwise the simple mapping (KELVIN SIGN -> k).
             * Every other non-ASCII character lowers to non-ASCII: a separator. */
            if (cp == 0x130) {
                putc1(&word, 'i');
                cp = 0x307;
            } else {
                cp = utf8proc_tolower(cp);
            }
        }
        if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9')) {
            putc1(&word, (char)cp);
            continue;
        }
        if (word.n) {
            size_t len = word.n;
            const char *w = word.s;
            if (stem && len > 3) w = ed_stemmer_stem(stem, word.s, &len);
            ed_tm_tokens_push(out, w, len);
            word.n = 0;
        }
        if (cp < 0) break;
    }
    free(word.s);
}
