/* docs_jsonl.c — .jsonl datasets: one JSON object per line, the document is one string
 * field ("text" unless configured). Blank lines and empty (whitespace-only) documents are
 * skipped silently; every other bad line is an error, or, with skip_bad_lines, counted in
 * docs->skipped for the caller to report. */
#include <jansson.h>

#include "ds_lines.h"

static const char *json_type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "something else";
}

int ds_read_jsonl(const char *path, const char *data, size_t len, size_t base, const ed_read_options *opt,
                  ed_docs *docs, ed_error *err) {
    const char *field = opt && opt->text_field && opt->text_field[0] ? opt->text_field : "text";
    int skip = opt && opt->skip_bad_lines;
    ds_lines it = {data, len, 0, 0};
    size_t cap = 0, off, n;
    const char *line;
    ed_error why;
    while (ds_next_line(&it, &line, &n, &off)) {
        size_t bad = ds_utf8_bad(line, n);
        json_t *root = NULL;
        if (bad < n) {
            ed_fail(&why, "%s:%ld: invalid UTF-8 at byte offset %zu", path, it.lineno, base + off + bad);
        } else if (ds_is_blank(line, n)) {
            continue;
        } else {
            json_error_t je;
            root = json_loadb(line, n, JSON_DECODE_ANY, &je);
            json_t *v = root ? json_object_get(root, field) : NULL;
            if (!root) {
                ed_fail(&why, "%s:%ld: not valid JSON (column %d): %s", path, it.lineno, je.column, je.text);
            } else if (!json_is_object(root)) {
                ed_fail(&why, "%s:%ld: expected a JSON object, got %s", path, it.lineno, json_type_name(root));
            } else if (!v) {
                ed_fail(&why, "%s:%ld: no \"%s\" field", path, it.lineno, field);
            } else if (!json_is_string(v)) {
                ed_fail(&why, "%s:%ld: field \"%s\" is %s, expected a string", path, it.lineno, field,
                        json_type_name(v));
            } else {
                const char *s = json_string_value(v);
                size_t sl = json_string_length(v);
                if (!ds_is_blank(s, sl)) ds_docs_push(docs, &cap, s, sl, it.lineno);
                json_decref(root);
                continue;
            }
        }
        json_decref(root);
        if (!skip) {
            if (err) *err = why;
            return -1;
        }
        docs->skipped++;
    }
    return 0;
}
