/* docs.c — documents from input files: the streaming scanner (any codec, a byte range
 * of a plain file), the boundary rule that lets ranks split one file, and ed_docs_read /
 * ed_docs_read_inputs which gather every document in memory. Every failure is one line
 * naming the file (and line or byte offset), so a user can go straight to the problem. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "ds_lines.h"
#include "ds_stream.h"

enum { CHUNK = 1 << 20 };

int ed_input_format(const char *path) {
    size_t n;
    ds_codec_of(path, &n);
    if (n > 6 && strncasecmp(path + n - 6, ".jsonl", 6) == 0) return 1;
    if (n > 4 && strncasecmp(path + n - 4, ".txt", 4) == 0) return 0;
    return -1;
}

int ed_input_compressed(const char *path) { return ds_codec_of(path, NULL) != DS_PLAIN; }

/* 2 .jsonl instruction data, 1 .jsonl, 0 .txt, -1 neither: --format when given, else the
 * extension. */
static int format_of(const char *path, const ed_read_options *opt) {
    ed_text_format f = opt ? opt->format : ED_FORMAT_AUTO;
    if (f == ED_FORMAT_INSTRUCT) return 2;
    if (f == ED_FORMAT_JSONL) return 1;
    if (f == ED_FORMAT_TXT) return 0;
    return ed_input_format(path);
}

static int unsupported(const char *path, ed_error *err) {
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) dot = "(none)";
    return ed_fail(err, "%s: unsupported file extension %s (supported: .txt, .jsonl, each optionally .gz or .zst; "
                        "--format txt or --format jsonl reads a file of any name)", path, dot);
}

/* Lines of the bytes fed in, carried across chunk boundaries, into the parser. */
typedef struct {
    ds_parser p;
    char *carry;
    size_t clen, ccap;
    uint64_t carry_off; /* offset of the carried line's first byte */
} feeder;

static int feed(feeder *f, const char *buf, size_t n, uint64_t off, ed_error *err) {
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(buf + i, '\n', n - i);
        size_t m = nl ? (size_t)(nl - (buf + i)) : n - i;
        if (!nl || f->clen) { /* part of a line that started in an earlier chunk or ends in a later one */
            if (f->clen == 0) f->carry_off = off + i;
            if (f->clen + m + 1 > f->ccap) {
                f->ccap = 2 * (f->clen + m + 1);
                f->carry = ed_realloc(f->carry, f->ccap);
            }
            memcpy(f->carry + f->clen, buf + i, m);
            f->clen += m;
            if (nl) {
                int rc = ds_parse_line(&f->p, f->carry, f->clen, f->carry_off, err);
                f->clen = 0;
                if (rc != 0) return -1;
            }
        } else if (ds_parse_line(&f->p, buf + i, m, off + i, err) != 0) {
            return -1;
        }
        i += m + (nl != NULL);
    }
    return 0;
}

static void ignore_doc(void *ctx, const char *text, size_t n, long line) { (void)ctx, (void)text, (void)n, (void)line; }
static void ignore_example(void *ctx, const char *text, size_t n, const ed_span *spans, size_t n_spans, long line) {
    (void)ctx, (void)text, (void)n, (void)spans, (void)n_spans, (void)line;
}

static int scan_once(const char *path, int jsonl, const ed_read_options *opt, ed_scan *sc, long first_line,
                     ds_emit_fn emit, ed_example_fn emit_example, ed_error *err) {
    ds_stream *s = ds_stream_open(path, sc->start, sc->end, sc->hash, sc->hash_ctx, err);
    if (!s) return -1;
    feeder f = {0};
    ds_parser_init(&f.p, path, jsonl, opt, first_line, emit, emit_example, sc->ctx);
    char *buf = ed_malloc(CHUNK);
    uint64_t off = sc->start, raw0 = ds_stream_raw_pos(s);
    int rc = 0;
    sc->text_bytes = 0;
    for (;;) {
        size_t got;
        if ((rc = ds_stream_read(s, buf, CHUNK, &got, err)) != 0 || got == 0) break;
        size_t skip = 0;
        if (off == 0 && got >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) skip = 3; /* a UTF-8 BOM */
        sc->text_bytes += got;
        if ((rc = feed(&f, buf + skip, got - skip, off + skip, err)) != 0) break;
        off += got;
        uint64_t raw = ds_stream_raw_pos(s);
        if (sc->progress) sc->progress(sc->progress_ctx, raw - raw0);
        raw0 = raw;
    }
    if (rc == 0 && f.clen) rc = ds_parse_line(&f.p, f.carry, f.clen, f.carry_off, err);
    if (rc == 0) rc = ds_parse_finish(&f.p, err);
    if (rc == 0 && sc->hash) rc = ds_stream_drain(s, err); /* the rest of the file, for its hash */
    sc->skipped = f.p.skipped;
    snprintf(sc->first_bad, sizeof sc->first_bad, "%s", f.p.first_bad);
    ds_parser_free(&f.p);
    free(f.carry);
    free(buf);
    ds_stream_close(s);
    return rc;
}

/* Lines before byte `at` of a plain file: only needed to number an error's line. */
static long lines_before(const char *path, uint64_t at) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    char *buf = ed_malloc(CHUNK);
    long n = 0;
    uint64_t pos = 0;
    while (pos < at) {
        size_t want = at - pos < CHUNK ? (size_t)(at - pos) : CHUNK, got = fread(buf, 1, want, fp);
        if (got == 0) break;
        for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + got - p))) != NULL; p++) n++;
        pos += got;
    }
    free(buf);
    fclose(fp);
    return n;
}

int ed_docs_scan(const char *path, const ed_read_options *opt, ed_scan *sc, ed_error *err) {
    int jsonl = format_of(path, opt);
    if (jsonl < 0) return unsupported(path, err);
    if (scan_once(path, jsonl, opt, sc, 1, sc->emit, sc->emit_example, err) == 0) return 0;
    if (sc->start == 0) return -1;
    /* A range inside the file: run it again, quietly, numbering lines from the true start,
     * so the error names the same line a whole-file read would. */
    ed_scan again = *sc;
    again.hash = NULL, again.progress = NULL;
    ed_error second;
    if (scan_once(path, jsonl, opt, &again, lines_before(path, sc->start) + 1, ignore_doc,
                  sc->emit_example ? ignore_example : NULL, &second) != 0 && err)
        *err = second;
    return -1;
}

int ed_docs_boundary(const char *path, const ed_read_options *opt, uint64_t x, uint64_t *out, ed_error *err) {
    struct stat st;
    if (stat(path, &st) != 0) return ed_fail(err, "%s: cannot open: %s", path, strerror(errno));
    uint64_t size = (uint64_t)st.st_size;
    if (x == 0 || x >= size) {
        *out = x == 0 ? 0 : size;
        return 0;
    }
    int jsonl = format_of(path, opt);
    if (jsonl < 0) return unsupported(path, err);
    FILE *fp = fopen(path, "rb");
    if (!fp || fseeko(fp, (off_t)(x - 1), SEEK_SET) != 0) {
        if (fp) fclose(fp);
        return ed_fail(err, "%s: cannot read at byte %llu: %s", path, (unsigned long long)x, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    /* the rest of the line holding byte x - 1: a line start is x itself when x - 1 is '\n' */
    ssize_t n = getline(&line, &cap, fp);
    uint64_t pos = x - 1 + (n > 0 ? (uint64_t)n : 0);
    if (!jsonl) {
        /* .txt: documents are paragraphs, so cut only where a blank line starts */
        while ((n = getline(&line, &cap, fp)) > 0) {
            size_t m = (size_t)n;
            if (line[m - 1] == '\n') m--;
            if (m && line[m - 1] == '\r') m--;
            if (ds_is_blank(line, m) && ed_utf8_bad(line, m) == m) break;
            pos += (uint64_t)n;
        }
        if (n <= 0) pos = size;
    }
    free(line);
    fclose(fp);
    *out = pos < size ? pos : size;
    return 0;
}

/* ---- everything in memory ------------------------------------------------------------- */

static int read_into(const char *path, const ed_read_options *opt, ds_docs_sink *c, ed_error *err) {
    struct stat st;
    if (stat(path, &st) != 0) return ed_fail(err, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return ed_fail(err, "%s: is a directory, expected a .txt or .jsonl file", path);
    if (format_of(path, opt) < 0) return unsupported(path, err);
    ed_scan sc = {.start = 0, .end = UINT64_MAX, .emit = ds_docs_push, .emit_example = ds_docs_push_example, .ctx = c};
    if (ed_docs_scan(path, opt, &sc, err) != 0) return -1;
    if (sc.skipped && !c->docs->skipped) snprintf(c->docs->first_bad, sizeof c->docs->first_bad, "%s", sc.first_bad);
    c->docs->skipped += sc.skipped;
    if (sc.text_bytes == 0) return ed_fail(err, "%s: file is empty", path);
    return 0;
}

void ed_docs_warn_skipped(long n, const char *first_bad) {
    if (n > 0) fprintf(stderr, "warning: --skip-bad-lines: %ld bad line(s) skipped; the first: %s\n", n, first_bad);
}

static int no_text(const char *what, const ed_docs *docs, ed_error *err) {
    if (docs->skipped)
        return ed_fail(err, "%s: no usable text (all %ld non-blank lines were bad and skipped)", what, docs->skipped);
    return ed_fail(err, "%s: no usable text (only blank lines or empty documents)", what);
}

int ed_docs_read(const char *path, const ed_read_options *opt, ed_docs *docs, ed_error *err) {
    memset(docs, 0, sizeof *docs);
    ds_docs_sink c = {docs, 0};
    int rc = read_into(path, opt, &c, err);
    if (rc == 0 && docs->n == 0) rc = no_text(path, docs, err);
    if (rc == 0) docs->path = ed_strdup(path);
    if (rc != 0) ed_docs_free(docs);
    return rc;
}

int ed_docs_read_inputs(const char *spec, const ed_read_options *opt, ed_docs *docs, ed_error *err) {
    memset(docs, 0, sizeof *docs);
    ed_inputs in;
    if (ed_inputs_expand(spec, &in, err) != 0) return -1;
    ds_docs_sink c = {docs, 0};
    int rc = 0;
    for (size_t i = 0; i < in.n && rc == 0; i++) rc = read_into(in.path[i], opt, &c, err);
    if (rc == 0 && docs->n == 0) rc = no_text(in.n == 1 ? in.path[0] : spec, docs, err);
    if (rc == 0) docs->path = ed_strdup(in.n == 1 ? in.path[0] : spec);
    ed_inputs_free(&in);
    if (rc != 0) ed_docs_free(docs);
    return rc;
}

void ed_docs_free(ed_docs *docs) {
    for (size_t i = 0; i < docs->n; i++) free(docs->text[i]);
    for (size_t i = 0; docs->spans && i < docs->n; i++) free(docs->spans[i]);
    free(docs->spans);
    free(docs->n_spans);
    free(docs->text);
    free(docs->len);
    free(docs->line);
    free(docs->path);
    memset(docs, 0, sizeof *docs);
}
