/* ds_lines.c — line walking, UTF-8 checks and document lists (see ds_lines.h). */
#include "ds_lines.h"

#include <string.h>
#include <utf8proc.h>


size_t ed_utf8_bad(const char *str, size_t n) {
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0;
    while (i < n) {
        if (s[i] >= 1 && s[i] < 128) {
            i++;
            continue;
        }
        if (s[i] == 0) return i;
        utf8proc_int32_t cp;
        utf8proc_ssize_t r = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (r <= 0) return i;
        i += (size_t)r;
    }
    return n;
}

int ds_is_blank(const char *str, size_t n) {
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0;
    while (i < n) {
        if (s[i] < 128) {
            if (s[i] > ' ' && s[i] != 127) return 0;
            i++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t r = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (r <= 0) return 0;
        utf8proc_category_t c = utf8proc_category(cp);
        if (c != UTF8PROC_CATEGORY_ZS && c != UTF8PROC_CATEGORY_ZL && c != UTF8PROC_CATEGORY_ZP &&
            c != UTF8PROC_CATEGORY_CC && cp != 0xFEFF)
            return 0;
        i += (size_t)r;
    }
    return 1;
}

void ds_docs_push(void *ctx, const char *text, size_t n, long line) {
    ds_docs_sink *s = ctx;
    ed_docs *docs = s->docs;
    if (docs->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        docs->text = ed_realloc(docs->text, s->cap * sizeof *docs->text);
        docs->len = ed_realloc(docs->len, s->cap * sizeof *docs->len);
        docs->line = ed_realloc(docs->line, s->cap * sizeof *docs->line);
    }
    char *t = ed_malloc(n + 1);
    memcpy(t, text, n);
    t[n] = '\0';
    docs->text[docs->n] = t;
    docs->len[docs->n] = n;
    docs->line[docs->n] = line;
    docs->n++;
}
