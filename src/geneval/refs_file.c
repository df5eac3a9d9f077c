/* refs_file.c — the references file of `eval --generate` and --val-generate: JSON lines
 * of {"prompt": ..., "reference": ... | "references": [...]} (geneval.h). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "expert/geneval.h"

void ed_refs_free(ed_refs *r) {
    for (int i = 0; i < r->n; i++) {
        free(r->ex[i].prompt);
        for (int j = 0; j < r->ex[i].n_refs; j++) free(r->ex[i].refs[j]);
        free(r->ex[i].refs);
    }
    free(r->ex);
    memset(r, 0, sizeof *r);
}

static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* No visible character: only white space, control characters and BOMs. */
static int blank(const char *s) {
    size_t n = strlen(s), i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k < 1) return 0;
        utf8proc_category_t c = utf8proc_category(cp);
        if (c != UTF8PROC_CATEGORY_ZS && c != UTF8PROC_CATEGORY_ZL && c != UTF8PROC_CATEGORY_ZP &&
            c != UTF8PROC_CATEGORY_CC && cp != 0xFEFF)
            return 0;
        i += (size_t)k;
    }
    return 1;
}

/* One line's object into ex; -1 with "path:line: ..." on a bad line. */
static int parse_example(const char *path, long line, const char *s, size_t n, ed_ref_example *ex, ed_error *err) {
    json_error_t je;
    json_t *root = json_loadb(s, n, 0, &je);
    if (!root)
        return ed_fail(err, "%s:%ld: not valid JSON (%s); a references file has one {\"prompt\": ..., \"reference\": ...} "
                            "object per line", path, line, je.text);
    int rc = -1;
    if (!json_is_object(root)) {
        ed_fail(err, "%s:%ld: expected a JSON object {\"prompt\": ..., \"reference\": ...}, got %s", path, line,
                json_kind(root));
        goto out;
    }
    json_t *p = json_object_get(root, "prompt");
    if (!p) {
        ed_fail(err, "%s:%ld: no \"prompt\" field", path, line);
        goto out;
    }
    if (!json_is_string(p)) {
        ed_fail(err, "%s:%ld: \"prompt\" is %s, not a string", path, line, json_kind(p));
        goto out;
    }
    if (blank(json_string_value(p))) {
        ed_fail(err, "%s:%ld: \"prompt\" is empty", path, line);
        goto out;
    }
    json_t *one = json_object_get(root, "reference"), *many = json_object_get(root, "references");
    if (one && many) {
        ed_fail(err, "%s:%ld: give \"reference\" or \"references\", not both", path, line);
        goto out;
    }
    const char *key = one ? "reference" : "references";
    json_t *r = one ? one : many;
    if (!r) {
        ed_fail(err, "%s:%ld: no \"reference\" field (a string, or an array of strings; \"references\" also accepted)",
                path, line);
        goto out;
    }
    size_t k = json_is_array(r) ? json_array_size(r) : 1;
    if (!json_is_string(r) && !json_is_array(r)) {
        ed_fail(err, "%s:%ld: \"%s\" is %s, not a string or an array of strings", path, line, key, json_kind(r));
        goto out;
    }
    if (k == 0) {
        ed_fail(err, "%s:%ld: \"%s\" is an empty array: give at least one reference", path, line, key);
        goto out;
    }
    for (size_t i = 0; json_is_array(r) && i < k; i++) {
        json_t *v = json_array_get(r, i);
        if (!json_is_string(v)) {
            ed_fail(err, "%s:%ld: \"%s\"[%zu] is %s, not a string", path, line, key, i, json_kind(v));
            goto out;
        }
    }
    ex->prompt = ed_strdup(json_string_value(p));
    ex->n_refs = (int)k;
    ex->refs = ed_malloc(k * sizeof *ex->refs);
    for (size_t i = 0; i < k; i++)
        ex->refs[i] = ed_strdup(json_string_value(json_is_array(r) ? json_array_get(r, i) : r));
    ex->line = line;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int ed_refs_read(const char *path, ed_refs *out, ed_error *err) {
    memset(out, 0, sizeof *out);
    char *data;
    size_t len;
    if (ed_read_file(path, &data, &len, err) != 0) return -1;
    size_t pos = len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    int cap = 0;
    long line = 0;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t eol = nl ? (size_t)(nl - data) : len, end = eol;
        line++;
        if (end > pos && data[end - 1] == '\r') end--;
        size_t i = pos;
        while (i < end && (data[i] == ' ' || data[i] == '\t')) i++;
        if (i < end) {
            if (out->n == cap) {
                cap = cap ? 2 * cap : 64;
                out->ex = ed_realloc(out->ex, (size_t)cap * sizeof *out->ex);
            }
            if (parse_example(path, line, data + pos, end - pos, &out->ex[out->n], err) != 0) {
                free(data);
                ed_refs_free(out);
                return -1;
            }
            out->n++;
        }
        pos = nl ? eol + 1 : len;
    }
    free(data);
    if (out->n == 0) return ed_fail(err, "%s: no examples (one JSON object per line: {\"prompt\": ..., \"reference\": ...})", path);
    return 0;
}
