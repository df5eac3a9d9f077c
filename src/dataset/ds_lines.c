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

/* Room for one more document (and its spans when the documents carry them). */
static void grow(ds_docs_sink *s) {
    ed_docs *docs = s->docs;
    if (docs->n < s->cap) return;
    s->cap = s->cap ? 2 * s->cap : 256;
    docs->text = ed_realloc(docs->text, s->cap * sizeof *docs->text);
    docs->len = ed_realloc(docs->len, s->cap * sizeof *docs->len);
    docs->line = ed_realloc(docs->line, s->cap * sizeof *docs->line);
    if (docs->spans) {
        docs->spans = ed_realloc(docs->spans, s->cap * sizeof *docs->spans);
        docs->n_spans = ed_realloc(docs->n_spans, s->cap * sizeof *docs->n_spans);
    }
}

static void push_text(ds_docs_sink *s, const char *text, size_t n, long line) {
    ed_docs *docs = s->docs;
    char *t = ed_malloc(n + 1);
    memcpy(t, text, n);
    t[n] = '\0';
    docs->text[docs->n] = t;
    docs->len[docs->n] = n;
    docs->line[docs->n] = line;
    docs->n++;
}

void ds_docs_push(void *ctx, const char *text, size_t n, long line) {
    ds_docs_sink *s = ctx;
    ED_CHECK(!s->docs->spans, "a plain document among instruction examples");
    grow(s);
    push_text(s, text, n, line);
}

void ds_docs_push_example(void *ctx, const char *text, size_t n, const ed_span *spans, size_t n_spans, long line) {
    ds_docs_sink *s = ctx;
    ed_docs *docs = s->docs;
    if (!docs->spans) {
        /* the first example: documents from here on carry spans (a list of plain
         * documents never gets examples: one --format per run) */
        ED_CHECK(docs->n == 0, "instruction examples after %zu plain documents", docs->n);
        size_t cap = s->cap ? s->cap : 1;
        docs->spans = ed_malloc(cap * sizeof *docs->spans);
        docs->n_spans = ed_malloc(cap * sizeof *docs->n_spans);
    }
    grow(s);
    docs->n_spans[docs->n] = n_spans;
    docs->spans[docs->n] = ed_malloc((n_spans ? n_spans : 1) * sizeof **docs->spans);
    memcpy(docs->spans[docs->n], spans, n_spans * sizeof *spans);
    push_text(s, text, n, line);
}
