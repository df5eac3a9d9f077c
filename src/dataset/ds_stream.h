/* ds_stream.h — bytes of one input file, decompressed on the fly (private to src/dataset/).
 *
 * The codec comes from the name (.gz: zlib's gzip, .zst/.zstd: libzstd; anything else
 * plain) and is checked against the file's first bytes, so a mislabelled shard is one
 * clear error rather than garbage text. Concatenated gzip members and zstd frames are
 * read through, as gzip -d and zstd -d do. Errors name the file and the compressed byte
 * offset where decoding failed (corrupt data) or stopped (truncated shard). */
#ifndef EXPERT_DS_STREAM_H
#define EXPERT_DS_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "expert/dataset.h"

typedef enum { DS_PLAIN, DS_GZIP, DS_ZSTD } ds_codec;

/* The codec a name asks for; *stem_len is the name's length without the codec suffix
 * (so "a.jsonl.gz" -> DS_GZIP, the stem "a.jsonl" tells the format). */
ds_codec ds_codec_of(const char *path, size_t *stem_len);

typedef struct ds_stream ds_stream;

/* Opens path for reading the decompressed bytes from `start` (plain files only; 0 for
 * compressed ones) to `end` (plain: a file offset, clamped to the size; UINT64_MAX: to
 * the end). hash(hash_ctx, bytes, n), when not NULL, sees every raw byte of the file read
 * from its start, in order. NULL with err on a missing file, a directory, a failed seek,
 * an empty compressed file or one whose first bytes are not of its codec. */
ds_stream *ds_stream_open(const char *path, uint64_t start, uint64_t end, void (*hash)(void *, const void *, size_t),
                          void *hash_ctx, ed_error *err);
/* Up to cap decompressed bytes into buf; *got == 0 at the end. -1 with err (corrupt or
 * truncated data, read error). */
int ds_stream_read(ds_stream *s, char *buf, size_t cap, size_t *got, ed_error *err);
/* Reads the raw bytes left in the file (for the hash) without decoding them. */
int ds_stream_drain(ds_stream *s, ed_error *err);
/* Raw bytes of the file consumed so far (compressed offset). */
uint64_t ds_stream_raw_pos(const ds_stream *s);
void ds_stream_close(ds_stream *s);

#endif
