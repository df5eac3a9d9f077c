/* ds_lines.h — line-level helpers shared by the .txt and .jsonl readers (private to
 * src/dataset/): walking lines, UTF-8 validation, blank-line test, growing ed_docs. */
#ifndef EXPERT_DS_LINES_H
#define EXPERT_DS_LINES_H

#include <stddef.h>

#include "expert/dataset.h"

typedef struct {
    const char *data;
    size_t len, pos;
    long lineno;       /* 1-based number of the line last returned */
} ds_lines;

/* The next line without its "\n" or "\r\n"; *off is its byte offset in the file.
 * Returns 0 at the end. */
int ds_next_line(ds_lines *it, const char **line, size_t *n, size_t *off);

/* Index of the first byte of s[0..n) that is not valid UTF-8 (or is NUL, which no text
 * document may contain), or n when all is well. */
size_t ds_utf8_bad(const char *s, size_t n);

/* 1 when s[0..n) (valid UTF-8) holds only whitespace: ASCII spaces and controls, Z*. */
int ds_is_blank(const char *s, size_t n);

/* Appends a copy of text[0..n) as a document starting at `line`. */
void ds_docs_push(ed_docs *docs, size_t *cap, const char *text, size_t n, long line);

/* Readers of the two formats. data[0..len) is the file after any BOM, which sat at byte
 * offset `base` (0 or 3) so error offsets count from the real start of the file. */
int ds_read_txt(const char *path, const char *data, size_t len, size_t base, ed_docs *docs, ed_error *err);
int ds_read_jsonl(const char *path, const char *data, size_t len, size_t base, const ed_read_options *opt,
                  ed_docs *docs, ed_error *err);

#endif
