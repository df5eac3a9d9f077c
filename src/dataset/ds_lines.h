/* ds_lines.h — line-level helpers shared by the .txt and .jsonl readers (private to
 * src/dataset/): the blank-line test, growing ed_docs, and the .txt/.jsonl parsers as
 * line consumers. (Their UTF-8 check, ed_utf8_bad, is public: dataset.h.) */
#ifndef EXPERT_DS_LINES_H
#define EXPERT_DS_LINES_H

#include <stddef.h>

#include "expert/dataset.h"

/* 1 when s[0..n) (valid UTF-8) holds only whitespace: ASCII spaces and controls, Z*. */
int ds_is_blank(const char *s, size_t n);

/* Where documents kept in memory go: appended to docs, whose arrays have room for cap
 * (docs->n when not known: they grow at the next push). */
typedef struct {
    ed_docs *docs;
    size_t cap;
} ds_docs_sink;

/* A ds_emit_fn (ctx: a ds_docs_sink): appends a copy of text[0..n) as a document
 * starting at `line`. */
void ds_docs_push(void *ctx, const char *text, size_t n, long line);

/* ---- the formats, one line at a time (ds_parse.c) ---- */

typedef void (*ds_emit_fn)(void *ctx, const char *text, size_t n, long line);

typedef struct {
    const char *path, *field;
    int jsonl, skip;
    long lineno;            /* number of the line last consumed */
    char *para;             /* .txt: the paragraph being gathered */
    size_t plen, pcap;
    long pline;
    long skipped;           /* .jsonl lines skipped (skip_bad_lines) */
    ds_emit_fn emit;
    void *ctx;
} ds_parser;

/* first_line: the number the first line consumed gets (1 at the start of a file). */
void ds_parser_init(ds_parser *p, const char *path, int jsonl, const ed_read_options *opt, long first_line,
                    ds_emit_fn emit, void *ctx);
/* One line without its "\n" (a final "\r" is dropped here); off is its byte offset in the
 * (decompressed) file, for error messages. -1 with err "file:line: ..." on a bad line. */
int ds_parse_line(ds_parser *p, const char *line, size_t n, uint64_t off, ed_error *err);
/* End of input: emits a pending .txt paragraph. */
int ds_parse_finish(ds_parser *p, ed_error *err);
void ds_parser_free(ds_parser *p);

/* A whole file already in memory (after any BOM, which sat at byte offset `base`), the
 * documents appended to docs: the same parser, for the fuzzers and small tools. */
int ds_read_txt(const char *path, const char *data, size_t len, size_t base, ed_docs *docs, ed_error *err);
int ds_read_jsonl(const char *path, const char *data, size_t len, size_t base, const ed_read_options *opt,
                  ed_docs *docs, ed_error *err);

#endif
