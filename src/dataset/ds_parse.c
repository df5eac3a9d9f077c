/* ds_parse.c — the two text formats as line consumers, so a file can be parsed as it
 * streams in (any size, any codec) with the rules ed_docs_read documents:
 *  .txt   a document is a paragraph: a run of lines between blank lines (whitespace-only
 *         lines count as blank); the line breaks inside become "\n".
 *  .jsonl one JSON object per line, the document is one string field; or, as instruction
 *         data (--format instruct), an example rendered by ds_instruct.c. Blank lines and
 *         empty (whitespace-only) documents are skipped silently; every other bad line is
 *         an error, or with skip_bad_lines counted in p->skipped. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ds_lines.h"

void ds_parser_init(ds_parser *p, const char *path, int jsonl, const ed_read_options *opt, long first_line,
                    ds_emit_fn emit, ed_example_fn emit_example, void *ctx) {
    memset(p, 0, sizeof *p);
    p->path = path;
    p->jsonl = jsonl;
    p->field = opt && opt->text_field && opt->text_field[0] ? opt->text_field : "text";
    p->skip = opt && opt->skip_bad_lines;
    p->lineno = first_line - 1;
    p->emit = emit;
    p->emit_example = emit_example;
    p->ctx = ctx;
}

void ds_parser_free(ds_parser *p) {
    free(p->para);
    p->para = NULL;
    ds_example_free(&p->ex);
}

const char *ds_json_type_name(const void *json_value) {
    const json_t *v = json_value;
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

static int jsonl_line(ds_parser *p, const char *line, size_t n, uint64_t off, ed_error *err) {
    size_t bad = ed_utf8_bad(line, n);
    json_t *root = NULL;
    ed_error why;
    if (bad < n) {
        ed_fail(&why, "%s:%ld: invalid UTF-8 at byte offset %llu", p->path, p->lineno, (unsigned long long)(off + bad));
    } else if (ds_is_blank(line, n)) {
        return 0;
    } else {
        json_error_t je;
        root = json_loadb(line, n, JSON_DECODE_ANY, &je);
        json_t *v = root ? json_object_get(root, p->field) : NULL;
        if (!root) {
            ed_fail(&why, "%s:%ld: not valid JSON (column %d): %s", p->path, p->lineno, je.column, je.text);
        } else if (!json_is_object(root)) {
            ed_fail(&why, "%s:%ld: expected a JSON object, got %s", p->path, p->lineno, ds_json_type_name(root));
        } else if (p->jsonl == 2) {
            if (!p->emit_example) {
                ed_fail(&why, "%s: instruction data cannot be read here (prepared token files hold plain text only)",
                        p->path);
            } else if (ds_instruct_render(root, p->path, p->lineno, &p->ex, &why) == 0) {
                p->emit_example(p->ctx, p->ex.text, p->ex.len, p->ex.spans, p->ex.n_spans, p->lineno);
                json_decref(root);
                return 0;
            }
        } else if (!v) {
            /* the fields it has, so the fix is one flag away */
            char have[256] = "";
            const char *key;
            json_t *val;
            size_t used = 0;
            json_object_foreach(root, key, val) {
                (void)val;
                int k = snprintf(have + used, sizeof have - used, "%s\"%.40s\"", used ? ", " : "", key);
                if (k < 0 || (size_t)k >= sizeof have - used) {
                    memcpy(have + sizeof have - 6, ", ...", 6);
                    used = sizeof have - 1;
                    break;
                }
                used += (size_t)k;
            }
            int instr = json_object_get(root, "prompt") || json_object_get(root, "messages");
            ed_fail(&why, "%s:%ld: no \"%s\" field (%s%s; %s)", p->path, p->lineno, p->field,
                    used ? "its fields: " : "an empty object", have,
                    instr ? "instruction data? --format instruct reads prompt/completion and messages"
                          : "--text-field names the one holding the text");
        } else if (!json_is_string(v)) {
            ed_fail(&why, "%s:%ld: field \"%s\" is %s, expected a string", p->path, p->lineno, p->field,
                    ds_json_type_name(v));
        } else {
            const char *s = json_string_value(v);
            size_t sl = json_string_length(v);
            if (!ds_is_blank(s, sl)) p->emit(p->ctx, s, sl, p->lineno);
            json_decref(root);
            return 0;
        }
    }
    json_decref(root);
    if (!p->skip) {
        if (err) *err = why;
        return -1;
    }
    if (!p->skipped++) snprintf(p->first_bad, sizeof p->first_bad, "%.*s", (int)sizeof p->first_bad - 1, why.msg);
    return 0;
}

static void txt_flush(ds_parser *p) {
    if (p->plen) p->emit(p->ctx, p->para, p->plen, p->pline);
    p->plen = 0;
}

static int txt_line(ds_parser *p, const char *line, size_t n, uint64_t off, ed_error *err) {
    size_t bad = ed_utf8_bad(line, n);
    if (bad < n)
        return ed_fail(err, "%s:%ld: invalid UTF-8 at byte offset %llu", p->path, p->lineno,
                       (unsigned long long)(off + bad));
    if (ds_is_blank(line, n)) {
        txt_flush(p);
        return 0;
    }
    if (p->plen + n + 2 > p->pcap) {
        p->pcap = 2 * (p->plen + n + 2);
        p->para = ed_realloc(p->para, p->pcap);
    }
    if (p->plen) p->para[p->plen++] = '\n';
    else p->pline = p->lineno;
    memcpy(p->para + p->plen, line, n);
    p->plen += n;
    p->para[p->plen] = '\0';
    return 0;
}

int ds_parse_line(ds_parser *p, const char *line, size_t n, uint64_t off, ed_error *err) {
    p->lineno++;
    if (n > 0 && line[n - 1] == '\r') n--;
    return p->jsonl ? jsonl_line(p, line, n, off, err) : txt_line(p, line, n, off, err);
}

int ds_parse_finish(ds_parser *p, ed_error *err) {
    (void)err;
    if (!p->jsonl) txt_flush(p);
    return 0;
}

/* ---- whole buffers (the fuzzers' entry points) ---- */

static int read_buffer(const char *path, int jsonl, const char *data, size_t len, size_t base,
                       const ed_read_options *opt, ed_docs *docs, ed_error *err) {
    ds_docs_sink sink = {docs, docs->n};
    ds_parser p;
    ds_parser_init(&p, path, jsonl, opt, 1, ds_docs_push, ds_docs_push_example, &sink);
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0;) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t m = nl ? (size_t)(nl - (data + i)) : len - i;
        rc = ds_parse_line(&p, data + i, m, base + i, err);
        i += m + (nl != NULL);
    }
    if (rc == 0) rc = ds_parse_finish(&p, err);
    if (p.skipped && !docs->skipped) snprintf(docs->first_bad, sizeof docs->first_bad, "%s", p.first_bad);
    docs->skipped += p.skipped;
    ds_parser_free(&p);
    return rc;
}

int ds_read_txt(const char *path, const char *data, size_t len, size_t base, ed_docs *docs, ed_error *err) {
    return read_buffer(path, 0, data, len, base, NULL, docs, err);
}

int ds_read_jsonl(const char *path, const char *data, size_t len, size_t base, const ed_read_options *opt,
                  ed_docs *docs, ed_error *err) {
    return read_buffer(path, opt && opt->format == ED_FORMAT_INSTRUCT ? 2 : 1, data, len, base, opt, docs, err);
}
