/* word_split.c — the word tokenizer's split rule and decode spacing (see word_split.h). */
#include "word_split.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "expert/common.h"

enum { C_SPACE, C_WORD, C_JOIN, C_PUNCT };

static int class_of(int32_t cp) {
    if (cp < 128) {
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9')) return C_WORD;
        if (cp <= ' ' || cp == 127) return C_SPACE;
        if (cp == '\'' || cp == '-') return C_JOIN;
        return C_PUNCT;
    }
    if (cp == 0x2019 || cp == 0x2010 || cp == 0x2011) return C_JOIN;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return C_WORD;
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF:
        return C_SPACE;
    default:
        return C_PUNCT;
    }
}

/* Decodes the code point at s[pos]; *w gets its byte length. Invalid bytes decode as
 * -1 with length 1 so the caller can step over them one at a time. */
static inline int32_t decode_at(const uint8_t *s, size_t len, size_t pos, size_t *w) {
    if (s[pos] < 128) {
        *w = 1;
        return s[pos];
    }
    /* Two-byte sequences (Latin accents, Cyrillic, Greek) inline: the common non-ASCII case. */
    if (s[pos] >= 0xC2 && s[pos] <= 0xDF && pos + 1 < len && (s[pos + 1] & 0xC0) == 0x80) {
        *w = 2;
        return ((int32_t)(s[pos] & 0x1F) << 6) | (s[pos + 1] & 0x3F);
    }
    utf8proc_int32_t cp;
    utf8proc_ssize_t r = utf8proc_iterate(s + pos, (utf8proc_ssize_t)(len - pos), &cp);
    if (r <= 0) {
        *w = 1;
        return -1;
    }
    *w = (size_t)r;
    return cp;
}

int ws_next(ws_iter *it, size_t *start, size_t *n) {
    const uint8_t *s = it->s;
    size_t len = it->len, pos = it->pos, w = 0;
    int32_t cp = 0;
    int cls = C_SPACE;
    while (pos < len) {
        cp = decode_at(s, len, pos, &w);
        cls = cp < 0 ? C_PUNCT : class_of(cp);
        if (cls != C_SPACE) break;
        pos += w;
    }
    if (pos >= len) {
        it->pos = len;
        return 0;
    }
    *start = pos;
    pos += w;
    if (cls == C_WORD) {
        while (pos < len) {
            cp = decode_at(s, len, pos, &w);
            cls = cp < 0 ? C_PUNCT : class_of(cp);
            if (cls == C_WORD) {
                pos += w;
            } else if (cls == C_JOIN && pos + w < len) {
                /* A joiner stays in the word only when a word character follows it. */
                size_t w2;
                int32_t next = decode_at(s, len, pos + w, &w2);
                if (next < 0 || class_of(next) != C_WORD) break;
                pos += w + w2;
            } else {
                break;
            }
        }
    }
    *n = pos - *start;
    it->pos = pos;
    return 1;
}

size_t ws_fold(const char *src, size_t n, char *out) {
    const uint8_t *s = (const uint8_t *)src;
    size_t pos = 0, o = 0, w;
    while (pos < n) {
        int32_t cp = decode_at(s, n, pos, &w);
        if (cp < 0) {
            out[o++] = (char)s[pos];
        } else if (cp < 128) {
            out[o++] = (char)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
        } else {
            o += (size_t)utf8proc_encode_char(utf8proc_tolower(cp), (utf8proc_uint8_t *)out + o);
        }
        pos += w;
    }
    return o;
}

const char *ws_fold_into(ws_foldbuf *fb, const char *s, size_t n, size_t *out_n) {
    char *dst = fb->small;
    if (4 * n > sizeof fb->small) {
        if (4 * n > fb->big_cap) {
            fb->big_cap = 4 * n;
            fb->big = ed_realloc(fb->big, fb->big_cap);
        }
        dst = fb->big;
    }
    *out_n = ws_fold(s, n, dst);
    return dst;
}

void ws_foldbuf_free(ws_foldbuf *fb) {
    free(fb->big);
    fb->big = NULL;
    fb->big_cap = 0;
}

static int in_list(const char *tok, const char *const *list) {
    for (; *list; list++)
        if (strcmp(tok, *list) == 0) return 1;
    return 0;
}

int ws_is_closer(const char *tok) {
    static const char *const closers[] = {".", ",", "!", "?", ";", ":", ")", "]", "}", "%",
                                          "\xC2\xBB" /* » */, "\xE2\x80\xA6" /* … */,
                                          "\xE2\x80\x9D" /* ” */, "\xE2\x80\x99" /* ’ */, NULL};
    return in_list(tok, closers);
}

int ws_is_opener(const char *tok) {
    static const char *const openers[] = {"(", "[", "{", "$", "#", "\xC2\xAB" /* « */, "\xE2\x80\x9E" /* „ */,
                                          "\xE2\x80\x9C" /* “ */, "\xE2\x80\x98" /* ‘ */,
                                          "\xC2\xBF" /* ¿ */, "\xC2\xA1" /* ¡ */, NULL};
    return in_list(tok, openers);
}

int ws_is_toggle_quote(const char *tok) { return strcmp(tok, "\"") == 0 || strcmp(tok, "'") == 0; }
