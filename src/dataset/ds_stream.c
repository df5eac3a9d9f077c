/* ds_stream.c — plain, gzip (zlib) and zstd (libzstd) input files as one byte stream
 * (ds_stream.h). Memory: one 1 MiB raw buffer plus the codec's state (zlib 32 KiB
 * window; zstd up to its frame's window, 8 MiB at the default levels). */
#include "ds_stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <zlib.h>
#include <zstd.h>

enum { RAW = 1 << 20 };

struct ds_stream {
    const char *path;
    FILE *f;
    ds_codec codec;
    uint64_t raw_pos;      /* raw bytes read from the file so far (from its start) */
    uint64_t raw_end;      /* plain: where to stop */
    unsigned char *in;
    size_t in_len, in_pos; /* compressed input buffered: in[in_pos .. in_len) */
    int file_eof;
    int done;              /* decoding finished */
    z_stream z;
    int z_init, z_member_end;
    ZSTD_DCtx *zd;
    size_t z_hint;         /* zstd: 0 when the last frame is complete */
    void (*hash)(void *, const void *, size_t);
    void *hash_ctx;
};

static int has_suffix(const char *s, size_t n, const char *suf) {
    size_t k = strlen(suf);
    return n > k && strncasecmp(s + n - k, suf, k) == 0;
}

ds_codec ds_codec_of(const char *path, size_t *stem_len) {
    size_t n = strlen(path);
    ds_codec c = DS_PLAIN;
    if (has_suffix(path, n, ".gz")) c = DS_GZIP, n -= 3;
    else if (has_suffix(path, n, ".zst")) c = DS_ZSTD, n -= 4;
    else if (has_suffix(path, n, ".zstd")) c = DS_ZSTD, n -= 5;
    if (stem_len) *stem_len = n;
    return c;
}

static const char *codec_name(ds_codec c) { return c == DS_GZIP ? "gzip" : "zstd"; }

/* Refills in[] from the file (compressed streams); the hash sees the bytes here. */
static int refill(ds_stream *s, ed_error *err) {
    if (s->in_pos < s->in_len || s->file_eof) return 0;
    size_t got = fread(s->in, 1, RAW, s->f);
    if (got == 0) {
        if (ferror(s->f)) return ed_fail(err, "%s: read error at byte %llu: %s", s->path, (unsigned long long)s->raw_pos, strerror(errno));
        s->file_eof = 1;
    }
    if (s->hash && got) s->hash(s->hash_ctx, s->in, got);
    s->raw_pos += got;
    s->in_len = got;
    s->in_pos = 0;
    return 0;
}

ds_stream *ds_stream_open(const char *path, uint64_t start, uint64_t end, void (*hash)(void *, const void *, size_t),
                          void *hash_ctx, ed_error *err) {
    struct stat st;
    if (stat(path, &st) != 0) {
        ed_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        ed_fail(err, "%s: is a directory, expected a .txt or .jsonl file", path);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        ed_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    ds_stream *s = ed_calloc(1, sizeof *s);
    s->path = path;
    s->f = f;
    s->codec = ds_codec_of(path, NULL);
    s->hash = hash;
    s->hash_ctx = hash_ctx;
    s->in = ed_malloc(RAW);
    uint64_t size = (uint64_t)st.st_size;
    if (s->codec == DS_PLAIN) {
        s->raw_end = end < size ? end : size;
        /* the hash needs every byte from the start, so it reads (and skips) them */
        if (start > 0 && !hash && fseeko(f, (off_t)start, SEEK_SET) != 0) {
            ed_fail(err, "%s: cannot seek to byte %llu: %s", path, (unsigned long long)start, strerror(errno));
            ds_stream_close(s);
            return NULL;
        }
        s->raw_pos = hash ? 0 : start;
        while (s->raw_pos < start) { /* hashing: read the skipped prefix */
            size_t k = start - s->raw_pos < RAW ? (size_t)(start - s->raw_pos) : RAW;
            size_t got = fread(s->in, 1, k, f);
            if (got == 0) break;
            hash(hash_ctx, s->in, got);
            s->raw_pos += got;
        }
        return s;
    }
    ED_CHECK(start == 0, "%s: a compressed file is read from its start", path);
    if (refill(s, err) != 0) {
        ds_stream_close(s);
        return NULL;
    }
    static const unsigned char gz[2] = {0x1f, 0x8b}, zs[4] = {0x28, 0xb5, 0x2f, 0xfd};
    const unsigned char *magic = s->codec == DS_GZIP ? gz : zs;
    size_t mlen = s->codec == DS_GZIP ? 2 : 4;
    if (s->in_len == 0) {
        ed_fail(err, "%s: file is empty (expected %s data)", path, codec_name(s->codec));
        ds_stream_close(s);
        return NULL;
    }
    if (s->in_len < mlen || memcmp(s->in, magic, mlen) != 0) {
        ed_fail(err, "%s: not a %s file (byte offset 0: starts with %02x %02x, expected %02x %02x)", path,
                codec_name(s->codec), s->in[0], s->in_len > 1 ? s->in[1] : 0, magic[0], magic[1]);
        ds_stream_close(s);
        return NULL;
    }
    if (s->codec == DS_GZIP) {
        if (inflateInit2(&s->z, 15 + 16) != Z_OK) ED_DIE("zlib: inflateInit2 failed");
        s->z_init = 1;
    } else {
        s->zd = ZSTD_createDCtx();
        ED_CHECK(s->zd, "zstd: cannot create a decompression context");
    }
    return s;
}

static int read_plain(ds_stream *s, char *buf, size_t cap, size_t *got, ed_error *err) {
    size_t want = s->raw_end - s->raw_pos < cap ? (size_t)(s->raw_end - s->raw_pos) : cap;
    size_t k = want ? fread(buf, 1, want, s->f) : 0;
    if (k < want && ferror(s->f))
        return ed_fail(err, "%s: read error at byte %llu: %s", s->path, (unsigned long long)s->raw_pos, strerror(errno));
    if (s->hash && k) s->hash(s->hash_ctx, buf, k);
    s->raw_pos += k;
    *got = k;
    return 0;
}

/* Compressed offset of the next unread input byte. */
static uint64_t consumed(const ds_stream *s) { return s->raw_pos - (s->in_len - s->in_pos); }

static int read_gzip(ds_stream *s, char *buf, size_t cap, size_t *got, ed_error *err) {
    *got = 0;
    while (*got == 0 && !s->done) {
        if (refill(s, err) != 0) return -1;
        if (s->z_member_end) {
            /* after a member: another member, or the end of the file */
            if (s->in_pos == s->in_len && s->file_eof) {
                s->done = 1;
                break;
            }
            if (s->in[s->in_pos] != 0x1f)
                return ed_fail(err, "%s: byte offset %llu: data after the end of the gzip stream is not gzip", s->path,
                               (unsigned long long)consumed(s));
            inflateReset(&s->z);
            s->z_member_end = 0;
        }
        s->z.next_in = s->in + s->in_pos;
        s->z.avail_in = (uInt)(s->in_len - s->in_pos);
        s->z.next_out = (Bytef *)buf;
        s->z.avail_out = (uInt)cap;
        int rc = inflate(&s->z, Z_NO_FLUSH);
        s->in_pos = s->in_len - s->z.avail_in;
        *got = cap - s->z.avail_out;
        if (rc == Z_STREAM_END) s->z_member_end = 1;
        else if (*got == 0 && s->in_pos == s->in_len && s->file_eof)
            return ed_fail(err, "%s: truncated gzip data: the file ends at byte offset %llu inside a compressed stream",
                           s->path, (unsigned long long)s->raw_pos);
        else if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_MEM_ERROR)
            return ed_fail(err, "%s: corrupt gzip data near byte offset %llu: %s", s->path,
                           (unsigned long long)consumed(s), s->z.msg ? s->z.msg : "inflate failed");
    }
    return 0;
}

static int read_zstd(ds_stream *s, char *buf, size_t cap, size_t *got, ed_error *err) {
    *got = 0;
    while (*got == 0 && !s->done) {
        if (refill(s, err) != 0) return -1;
        if (s->in_pos == s->in_len && s->file_eof && s->z_hint == 0) {
            s->done = 1; /* every frame complete and flushed */
            break;
        }
        ZSTD_inBuffer in = {s->in, s->in_len, s->in_pos};
        ZSTD_outBuffer out = {buf, cap, 0};
        size_t rc = ZSTD_decompressStream(s->zd, &out, &in);
        s->in_pos = in.pos;
        if (ZSTD_isError(rc))
            return ed_fail(err, "%s: corrupt zstd data near byte offset %llu: %s", s->path,
                           (unsigned long long)consumed(s), ZSTD_getErrorName(rc));
        s->z_hint = rc;
        *got = out.pos;
        if (*got == 0 && rc != 0 && s->in_pos == s->in_len && s->file_eof)
            return ed_fail(err, "%s: truncated zstd data: the file ends at byte offset %llu inside a frame", s->path,
                           (unsigned long long)s->raw_pos);
    }
    return 0;
}

int ds_stream_read(ds_stream *s, char *buf, size_t cap, size_t *got, ed_error *err) {
    if (s->codec == DS_PLAIN) return read_plain(s, buf, cap, got, err);
    return s->codec == DS_GZIP ? read_gzip(s, buf, cap, got, err) : read_zstd(s, buf, cap, got, err);
}

int ds_stream_drain(ds_stream *s, ed_error *err) {
    if (s->codec != DS_PLAIN) {
        while (!s->file_eof) {
            s->in_pos = s->in_len;
            if (refill(s, err) != 0) return -1;
        }
        return 0;
    }
    for (;;) {
        size_t k = fread(s->in, 1, RAW, s->f);
        if (k == 0) break;
        if (s->hash) s->hash(s->hash_ctx, s->in, k);
        s->raw_pos += k;
    }
    return ferror(s->f) ? ed_fail(err, "%s: read error: %s", s->path, strerror(errno)) : 0;
}

uint64_t ds_stream_raw_pos(const ds_stream *s) { return s->raw_pos; }

void ds_stream_close(ds_stream *s) {
    if (!s) return;
    if (s->z_init) inflateEnd(&s->z);
    if (s->zd) ZSTD_freeDCtx(s->zd);
    if (s->f) fclose(s->f);
    free(s->in);
    free(s);
}
