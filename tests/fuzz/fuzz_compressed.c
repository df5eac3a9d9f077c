/* fuzz_compressed.c — compressed input shards (src/dataset/ds_stream.c + the streaming
 * parsers of docs.c) on arbitrary bytes. The first byte chooses the case:
 *   bit 0  codec: gzip (.gz) or zstd (.zst)
 *   bit 1  format: .txt or .jsonl
 *   bit 2  0: the rest IS the file (hostile compressed bytes);
 *          1: the rest is text, compressed here; bit 3 then cuts the compressed file at
 *             byte data[1] * size / 256 (a truncated shard).
 * Properties: never a crash or a leak; an error is one line naming the file; text that
 * was compressed here and not cut reads back to exactly the documents (or the error
 * line) of the uncompressed reader; a cut shard is an error or a prefix-consistent
 * success, never garbage. */
#include <zlib.h>
#include <zstd.h>

#include "../../src/dataset/ds_lines.h"
#include "fuzz_util.h"

static char paths[4][256];
static void remove_paths(void) {
    for (int i = 0; i < 4; i++)
        if (paths[i][0]) unlink(paths[i]);
}

static const char *write_file(int kind, const void *data, size_t size) {
    static const char *ext[4] = {".txt.gz", ".txt.zst", ".jsonl.gz", ".jsonl.zst"};
    if (!paths[kind][0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(paths[kind], sizeof paths[kind], "%s/ed-fuzz-z-%ld%s", dir && *dir ? dir : "/tmp", (long)getpid(),
                 ext[kind]);
        static int once;
        if (!once++) atexit(remove_paths);
    }
    FILE *f = fopen(paths[kind], "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) abort();
    return paths[kind];
}

static unsigned char *compress_gzip(const uint8_t *in, size_t n, size_t *out_n) {
    z_stream z = {0};
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    size_t cap = deflateBound(&z, (uLong)n) + 64;
    unsigned char *out = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
    *out_n = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static unsigned char *compress_zstd(const uint8_t *in, size_t n, size_t *out_n) {
    size_t cap = ZSTD_compressBound(n);
    unsigned char *out = malloc(cap ? cap : 1);
    *out_n = ZSTD_compress(out, cap, in, n, 3);
    if (ZSTD_isError(*out_n)) abort();
    return out;
}

static int same_docs(const ed_docs *a, const ed_docs *b) {
    if (a->n != b->n) return 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->len[i] != b->len[i] || memcmp(a->text[i], b->text[i], a->len[i]) != 0 || a->line[i] != b->line[i])
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    int zstd = data[0] & 1, jsonl = (data[0] >> 1) & 1, make = (data[0] >> 2) & 1, cut = (data[0] >> 3) & 1;
    int kind = zstd + 2 * jsonl;
    const uint8_t *body = data + 2;
    size_t n = size - 2;
    unsigned char *packed = NULL;
    size_t packed_n = n;
    const char *path;
    if (make) {
        packed = zstd ? compress_zstd(body, n, &packed_n) : compress_gzip(body, n, &packed_n);
        if (cut) packed_n = packed_n * data[1] / 256;
        path = write_file(kind, packed, packed_n);
    } else {
        path = write_file(kind, body, n);
    }
    ed_read_options opt = {.text_field = "text", .skip_bad_lines = data[1] & 1};
    ed_docs docs = {0};
    ed_error err = {{0}};
    int rc = ed_docs_read(path, &opt, &docs, &err);
    if (rc == 0) {
        for (size_t i = 0; i < docs.n; i++) {
            FUZZ_CHECK(docs.len[i] > 0 && docs.text[i][docs.len[i]] == '\0', "document %zu", i);
            FUZZ_CHECK(ed_utf8_bad(docs.text[i], docs.len[i]) == docs.len[i], "document %zu is not UTF-8", i);
        }
    } else {
        FUZZ_CHECK(strncmp(err.msg, path, strlen(path)) == 0, "message does not name the file: %s", err.msg);
        FUZZ_CHECK(!strchr(err.msg, '\n'), "message of several lines: %s", err.msg);
    }
    if (make && !cut) {
        /* the same bytes uncompressed, through the in-memory reader */
        ed_docs ref = {0};
        ed_error rerr = {{0}};
        size_t base = n >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
        int rrc = jsonl ? ds_read_jsonl(path, (const char *)body + base, n - base, base, &opt, &ref, &rerr)
                        : ds_read_txt(path, (const char *)body + base, n - base, base, &ref, &rerr);
        if (rrc == 0 && n == 0) rrc = -1;                  /* ed_docs_read: "file is empty" */
        else if (rrc == 0 && ref.n == 0) rrc = -1;         /* ... or "no usable text" */
        FUZZ_CHECK(rc == rrc, "compressed read %d, plain read %d (%s | %s)", rc, rrc, err.msg, rerr.msg);
        if (rc == 0) FUZZ_CHECK(same_docs(&docs, &ref), "compressed and plain reads differ");
        if (rc != 0 && rrc != 0 && rerr.msg[0]) FUZZ_CHECK(strcmp(err.msg, rerr.msg) == 0, "errors differ: %s | %s", err.msg, rerr.msg);
        ed_docs_free(&ref);
    }
    ed_docs_free(&docs);
    free(packed);
    return 0;
}
