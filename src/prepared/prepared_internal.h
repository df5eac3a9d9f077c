/* prepared_internal.h — private pieces of the prepared token file (include/expert/prepared.h).
 *
 * prepared_sha256.c  SHA-256 of the source files (so `sha256sum` can check them)
 * prepared_h5.c      small HDF5 helpers: quiet error stack, attributes, hyperslab I/O
 * prepared_write.c   tokenizing a range of documents, the file writer
 * prepared_stream.c  a split's byte ranges per rank, streamed into a sink (both passes
 *                    of prepare), its progress line, agreement on failure
 * prepared_vocab.c   prepare's tokenizer: loaded, or counted by every rank on its byte
 *                    ranges, counts merged to rank 0, built there and broadcast
 * prepared_files.c   ed_prepare_files: the prepare command, streaming (inputs, shared
 *                    tokenizer, ranks tokenize byte ranges into spills, rank 0 writes)
 * prepared_read.c    info, tokenizer, ed_dataset_load_prepared (mapping, hyperslab fallback)
 * prepared_verify.c  ed_prepared_verify: the full scan behind `expert-dist verify`
 *
 * The tests also write files from documents held in memory with the same tokenizing and
 * writer calls (tests/prepared/prepare_oracle.c): the reference the streaming path is
 * compared with. */
#ifndef EXPERT_PREPARED_INTERNAL_H
#define EXPERT_PREPARED_INTERNAL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "expert/dist.h" /* ed_dist_agree_comm: the lowest failing rank (the first bad
                              input in input order) speaks for all */
#include "expert/h5util.h"
#include "expert/prepared.h"

/* ---- SHA-256 ------------------------------------------------------------------------- */

typedef struct {
    uint32_t h[8];
    uint64_t bytes;
    unsigned char block[64];
    size_t fill;
} prep_sha256;

void prep_sha256_init(prep_sha256 *s);
void prep_sha256_update(prep_sha256 *s, const void *data, size_t n);
void prep_sha256_hex(prep_sha256 *s, char hex[65]); /* finishes s */

/* What the file records about a split's source. */
typedef struct {
    char path[4096];
    uint64_t bytes;
    char sha256[65];
} prep_source;

/* ---- HDF5 helpers --------------------------------------------------------------------- */

/* Silencing, the failure's reason and attribute writers are expert/h5util.h's. */
/* -1 when missing or of the wrong class. */
int prep_attr_read_str(hid_t obj, const char *name, char *buf, size_t n);
int prep_attr_read_i64(hid_t obj, const char *name, int64_t *value);

/* Hyperslab [at, at + n) of a 1-D dataset, converted from/to memtype by HDF5. */
int prep_write_slab(hid_t dset, hid_t memtype, const void *buf, uint64_t at, size_t n);
int prep_read_slab(hid_t dset, hid_t memtype, void *buf, uint64_t at, size_t n);

/* ---- reading ---------------------------------------------------------------------- */

/* An open prepared file (checked: HDF5, format, version, vocab_size), HDF5's error
 * printing off until prep_close_reader. */
typedef struct {
    const char *path;
    hid_t file;
    ed_h5_quiet quiet;
} prep_reader;

int prep_open_reader(prep_reader *r, const char *path, int64_t *vocab, ed_error *err);
void prep_close_reader(prep_reader *r);
/* "path: msg" into err; returns -1. */
int prep_rfail(prep_reader *r, ed_error *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Opens the 1-D integer dataset obj; want 't' tokens (uint16/int32), 'o' offsets (64-bit);
 * *n its length. -1 with err naming the object on a wrong type, rank or short storage. */
hid_t prep_open_1d(prep_reader *r, const char *obj, char want, uint64_t *n, ed_error *err);

/* ---- tokenizing --------------------------------------------------------------------- */

/* Documents [first, last) tokenized back to back, each [BOS] ids [EOS]; ends[i] is the
 * token count after document first + i. */
typedef struct {
    ed_ivec ids;
    uint64_t *ends;
    size_t n_docs;
} prep_part;

void prep_tokenize(prep_part *p, const ed_docs *docs, size_t first, size_t last, const ed_tokenizer *tok);
void prep_part_free(prep_part *p);
/* Part k of `parts` of documents [first, last), [*a, *b): contiguous, cut so that the
 * parts hold similar byte counts (threads here, ranks in the tests' in-memory writer). */
void prep_split_range(const ed_docs *docs, size_t first, size_t last, int k, int parts, size_t *a, size_t *b);

/* ---- streaming a split (prepared_stream.c) ------------------------------------------- */

/* "what: no usable text (...)" into err (skipped: bad .jsonl lines skipped); returns -1. */
int prep_no_text(const char *what, long skipped, ed_error *err);

/* Rank 0's progress line on a terminal (bytes of its share, rate, ETA), rewritten in place;
 * on every rank, the memory peaks by kind sampled as the bytes stream (at most every
 * 20 ms: a sample costs ~50 us) into *mem, when the caller set it. */
typedef struct {
    int on;
    const char *what;  /* names the pass: "train", "val", ... */
    uint64_t done, total;
    double t0, last;
    ed_mem_usage *mem; /* NULL: not sampled */
    double sampled;    /* when it was last */
} prep_progress;
void prep_progress_start(prep_progress *p, int on, const char *what);
void prep_progress_end(prep_progress *p); /* clears the line */

/* Where a rank's documents go, one call per document in input order; after each file the
 * stream stops early when *stop (may be NULL) is set (a spill that cannot be written). */
typedef struct {
    ed_doc_fn doc;
    void *ctx;
    const int *stop;
} prep_sink;

typedef struct {
    char (*hash)[65]; /* [n files], or NULL: no hashing; set by the rank that reads a file's first byte */
    uint64_t bytes;   /* out, added to: raw bytes of this rank's pieces */
    long skipped;     /* out, added to: bad .jsonl lines skipped */
    char first_bad[ED_BAD_LINE_LEN]; /* out: this rank's first one ("file:line: what") */
} prep_split_out;

/* Streams this rank's byte ranges of the split's files (prepared_stream.c's header says
 * which) into sink. No communication. -1 with err on bad input (the file and line or
 * offset), including a compressed file with no text in it. */
int prep_stream_split(MPI_Comm comm, const ed_inputs *in, const ed_read_options *ro, const prep_sink *sink,
                      prep_progress *pr, prep_split_out *so, ed_error *err);

/* ---- the tokenizer (prepared_vocab.c) ---------------------------------------------------- */

/* Collective: po->vocab_file loaded, or a tokenizer built from the training inputs `in`
 * (spec: their spec, for messages) with po->tok, without any rank holding more than its
 * share of counts; the same tokenizer on every rank, equal to ed_tok_train's on the whole
 * training text. Sets rep's vocab_* fields (may be NULL). NULL everywhere with err on bad
 * input or options. */
ed_tokenizer *prep_shared_tokenizer(MPI_Comm comm, const char *spec, const ed_inputs *in, const ed_prepare_options *po,
                                    ed_prepare_report *rep, ed_error *err);

/* ---- the writer ---------------------------------------------------------------------- */

/* Writes out_h5.tmp and renames it on prep_close. Calls after the first failure do
 * nothing; prep_close reports that failure.
 *
 * The window index: with win (max_length, stride) set, prep_put_offsets checks each
 * document end as it arrives (increasing by >= 2 tokens, ending at n_tokens) and counts
 * the windows of every document, writing window_blocks[b] = windows before document
 * b * ED_WIN_BLOCK as blocks complete (a buffer of IDX_BUF entries: O(1) memory). The
 * offsets must therefore come in order, which every caller does (rank order). */
typedef struct {
    hid_t file, group, tokens, offsets, blocks;
    hid_t tok_type;  /* file type of tokens: uint16 or int32 */
    char path[4096], tmp[4200];
    int failed;
    ed_error err;
    ed_h5_quiet quiet;
    ed_window_options win;       /* max_length 0: no window index */
    /* the current split's index pass */
    uint64_t n_tokens, n_docs;
    uint64_t next_doc, prev_end; /* doc_offsets entries written so far; the last one */
    uint64_t windows;            /* windows of documents [0, next_doc - 1) */
    uint64_t *idx_buf;           /* pending window_blocks entries [idx_at, idx_at + idx_fill) */
    size_t idx_fill;
    uint64_t idx_at;
} prep_writer;

/* win NULL: no window index (a file that trains through the one-pass index at start). */
int prep_open(prep_writer *w, const char *path, const ed_tokenizer *tok, const ed_window_options *win,
              ed_error *err);
void prep_split_begin(prep_writer *w, const char *name, uint64_t n_tokens, uint64_t n_docs, const prep_source *src);
void prep_put_tokens(prep_writer *w, const int32_t *ids, size_t n, uint64_t at);
void prep_put_offsets(prep_writer *w, const uint64_t *off, size_t n, uint64_t at);
/* n ids of memory type memtype (uint16 or int32) at token offset at; `what` for errors. */
void prep_put_raw(prep_writer *w, const char *what, hid_t memtype, const void *ids, size_t n, uint64_t at);
/* A scalar UTF-8 string dataset `name` in the current split's group. */
void prep_put_string(prep_writer *w, const char *name, const char *text);
/* Marks the write failed with "cannot write <what>" (prep_close then reports it). */
void prep_fail(prep_writer *w, const char *what);
void prep_split_end(prep_writer *w);
int prep_close(prep_writer *w, ed_error *err);

#endif
