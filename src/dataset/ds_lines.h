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
/* An ed_example_fn (ctx: a ds_docs_sink): the same with copies of the completion spans. */
void ds_docs_push_example(void *ctx, const char *text, size_t n, const ed_span *spans, size_t n_spans, long line);

/* ---- the formats, one line at a time (ds_parse.c) ---- */

/* One example rendered with the plain template (docs/formats.md): the text and its
 * completion spans, owned (ds_example_free). */
typedef struct {
    char *text;
    size_t len, cap;
    ed_span *spans;
    size_t n_spans, spans_cap;
} ds_example;

typedef void (*ds_emit_fn)(void *ctx, const char *text, size_t n, long line);

typedef struct {
    const char *path, *field;
    int jsonl, skip;        /* jsonl: 0 .txt, 1 .jsonl, 2 .jsonl instruction data */
    long lineno;            /* number of the line last consumed */
    char *para;             /* .txt: the paragraph being gathered */
    size_t plen, pcap;
    long pline;
    long skipped;           /* .jsonl lines skipped (skip_bad_lines) */
    char first_bad[ED_BAD_LINE_LEN]; /* the first one's "file:line: what" */
    ds_emit_fn emit;
    ed_example_fn emit_example; /* instruction data; NULL: refused */
    void *ctx;
    ds_example ex;              /* instruction data: the line being rendered (reused) */
} ds_parser;

/* first_line: the number the first line consumed gets (1 at the start of a file).
 * emit_example may be NULL when no instruction data is expected. */
void ds_parser_init(ds_parser *p, const char *path, int jsonl, const ed_read_options *opt, long first_line,
                    ds_emit_fn emit, ed_example_fn emit_example, void *ctx);

/* "an object", "a string", "a number"... for a jansson json_t (the type a line or field
 * had, in error messages of .jsonl input; ds_parse.c). */
const char *ds_json_type_name(const void *json_value);

/* ---- instruction data (ds_instruct.c) ---- */

/* Renders the JSON object of one .jsonl line (prompt/completion, or messages). -1 with err
 * "path:line: ..." naming the field on a shape it cannot render. */
int ds_instruct_render(const void *json_object, const char *path, long line, ds_example *ex, ed_error *err);
void ds_example_free(ds_example *ex);

/* ed_dataset_build's part for documents with spans (examples.c): appends each kept example's
 * ids to tokens and its end to off[1..] (off[0] = 0, room for docs->n + 1), sets *n_kept,
 * *completion (malloc'd [tokens->len] flags: 1 for completion tokens and their EOS) and
 * the counts (loss tokens per opt->loss_on). -1 with
 * err (nothing to free) on a tokenizer without EOS, a too-long example under --truncate
 * error, or every example refused. */
int ds_encode_examples(const ed_docs *docs, const ed_tokenizer *tok, const ed_window_options *opt, ed_ivec *tokens,
                       uint64_t *off, size_t *n_kept, uint8_t **completion, ed_example_counts *c, ed_error *err);
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
