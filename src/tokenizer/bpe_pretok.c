/* bpe_pretok.c — GPT-2's pre-tokenization: the regex that cuts text into words before BPE.
 *
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *
 * compiled once per tokenizer with PCRE2_UTF|PCRE2_UCP (so \p{L}, \s are Unicode-aware,
 * as in Python's regex module) and JIT-compiled when the library supports it. Merges
 * never cross a piece boundary, which keeps the merge table small and words reusable. */
#include <string.h>

#include "bpe_internal.h"

static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

int bpe_pretok_init(bpe_pretok *p, ed_error *err) {
    int code;
    PCRE2_SIZE off;
    p->re = pcre2_compile((PCRE2_SPTR)GPT2_PATTERN, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code, &off,
                          NULL);
    if (!p->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return ed_fail(err, "bpe: cannot compile the GPT-2 pre-tokenizer regex at %zu: %s", (size_t)off,
                       (const char *)msg);
    }
    /* JIT is an optimisation only: without it pcre2_match interprets the same pattern. */
    (void)pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE);
    return 0;
}

void bpe_pretok_free(bpe_pretok *p) {
    pcre2_code_free(p->re);
    p->re = NULL;
}

size_t bpe_utf8_valid_prefix(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            /* ASCII runs 8 bytes at a time */
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, s + i, 8);
                if (w & 0x8080808080808080ULL) break;
                i += 8;
            }
            if (i < n && s[i] < 0x80) i++;
            continue;
        }
        size_t k;
        unsigned min;
        if ((c & 0xE0) == 0xC0) k = 1, min = 0x80, c &= 0x1F;
        else if ((c & 0xF0) == 0xE0) k = 2, min = 0x800, c &= 0x0F;
        else if ((c & 0xF8) == 0xF0) k = 3, min = 0x10000, c &= 0x07;
        else return i;
        unsigned cp = c;
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xC0) != 0x80) return i;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += k + 1;
    }
    return n;
}

/* Runs the regex over a valid UTF-8 span. */
static void each_valid(const bpe_pretok *p, pcre2_match_data *md, const char *text, size_t len, bpe_piece_fn fn,
                       void *ctx) {
    size_t pos = 0;
    while (pos < len) {
        /* The span was validated once by the caller: re-checking on every call would make
         * splitting quadratic in the text length. */
        int rc = pcre2_match(p->re, (PCRE2_SPTR)text, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc < 0) {
            /* Cannot happen for this pattern (every character is matched by some branch);
             * keep the rest as one piece rather than lose text. */
            fn(ctx, text + pos, len - pos);
            return;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        if (s > pos) fn(ctx, text + pos, s - pos); /* a gap would be dropped by findall; keep it */
        if (e == s) {                              /* empty match: step one character */
            size_t step = 1;
            while (s + step < len && ((unsigned char)text[s + step] & 0xC0) == 0x80) step++;
            fn(ctx, text + s, step);
            pos = s + step;
            continue;
        }
        fn(ctx, text + s, e - s);
        pos = e;
    }
}

void bpe_pretok_each(const bpe_pretok *p, const char *text, size_t len, bpe_piece_fn fn, void *ctx) {
    if (len == 0) return;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(p->re, NULL);
    ED_CHECK(md != NULL, "bpe: out of memory for regex match data");
    const unsigned char *u = (const unsigned char *)text;
    size_t pos = 0;
    while (pos < len) {
        size_t ok = bpe_utf8_valid_prefix(u + pos, len - pos);
        if (ok > 0) each_valid(p, md, text + pos, ok, fn, ctx);
        pos += ok;
        if (pos < len) { /* one invalid byte: its own piece, encoded as a byte token */
            fn(ctx, text + pos, 1);
            pos++;
        }
    }
    pcre2_match_data_free(md);
}
