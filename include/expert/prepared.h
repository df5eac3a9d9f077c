/* prepared.h — tokenize once, train many times: the prepared HDF5 token file.
 *
 * `expert-dist prepare` turns text documents into token ids with a tokenizer and stores
 * them; `train --data file.h5` then starts without reading or tokenizing any text. The
 * file holds tokens only, not windows: max_length, stride and pack stay training options,
 * and the windows built from a prepared file are exactly those ed_dataset_build() builds
 * from the same documents and tokenizer (same token array, same windows, same batches).
 *
 * Layout (docs/formats.md, "Prepared token files"):
 *   /                   attrs: format = "expert-dist prepared tokens", format_version = 1,
 *                       tokenizer_kind, vocab_size, token_dtype, created (UTC ISO 8601),
 *                       expert_dist_version, git_commit
 *   /tokenizer          scalar string: the tokenizer's JSON (as in checkpoints)
 *   /train/tokens       1-D uint16 when every id fits (vocab_size <= 65536), else int32:
 *                       every document as [BOS] ids [EOS], back to back
 *   /train/doc_offsets  1-D uint64, n_docs + 1: document d is tokens[off[d] .. off[d+1])
 *   /train/window_blocks  1-D uint64, ceil(n_docs / 64) + 1: the window index for one
 *                       window shape, entry b = windows of documents [0, 64 b) (the last
 *                       entry: all of them); attrs max_length, stride, block_docs (= 64,
 *                       ED_WIN_BLOCK), n_windows. Optional: absent in files written
 *                       before it existed or without a shape; a run with another shape
 *                       (or --pack, which needs none) ignores it. Training with the
 *                       stored shape maps it, so start-up reads nothing per document.
 *   /train              attrs: source (path, or the input spec when several files),
 *                       source_bytes, source_sha256, n_docs, n_tokens
 *   /train/sources      scalar string: "sha256  path" per input file (sha256sum -c format);
 *                       written by ed_prepare_files
 *   /val/...            the same for validation documents, when given
 *
 * Ownership: functions never keep pointers to their arguments; a loaded dataset owns its
 * arrays (free with ed_dataset_free). Errors are one line naming the file (and the HDF5
 * object) and leave nothing half-written: the file appears complete or not at all. */
#ifndef EXPERT_PREPARED_H
#define EXPERT_PREPARED_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "expert/common.h"
#include "expert/dataset.h"
#include "expert/memstat.h"
#include "expert/tokenizer.h"

#define ED_PREPARED_FORMAT "expert-dist prepared tokens"
#define ED_PREPARED_VERSION 1

/* ---- writing ------------------------------------------------------------------------ */

/* The whole `expert-dist prepare` in one collective call, streaming: the input specs
 * (files, comma-separated lists, directories, quoted globs; .txt/.jsonl, optionally .gz
 * or .zst) are expanded on rank 0, the ranks stream byte ranges of the input (a plain
 * file cut at document boundaries, a compressed one whole), the tokenizer is loaded from
 * vocab_file or built in a first pass over the training ranges (each rank counts its
 * pieces, the counts are merged on rank 0, which builds it and sends it to all), then
 * the ranks tokenize their ranges into temporary spills and rank 0 writes out_h5
 * (through .tmp, renamed when complete) from the spills in rank order. Memory per rank
 * is O(batch) plus, when building a tokenizer, O(distinct pieces) of counts (rank 0: of
 * the whole corpus), never O(corpus). The tokenizer built equals ed_tok_train's on the
 * whole training text and the token arrays equal those of the same documents tokenized
 * whole in one process (the tests' reference: tests/prepared/prepare_oracle.c), for any
 * world size.
 * /train records source (the file, or the spec for several), source_bytes (total),
 * source_sha256 (the file's, or that of the listing) and /train/sources (a `sha256sum`
 * listing of every input file). Fills rep (may be NULL) on every rank. Returns the same
 * status on every rank, err filled everywhere on failure (bad input naming the file and
 * line or offset, bad options, failed write). */
typedef struct {
    const char *train_file;  /* input spec */
    const char *val_file;    /* NULL or "": no /val */
    ed_read_options read;
    const char *vocab_file;  /* NULL or "": build a tokenizer with tok */
    ed_tok_options tok;
    ed_window_options win;   /* shape of the stored window index; max_length 0: none */
    int progress;            /* rank 0 draws a progress line on stderr */
} ed_prepare_options;

typedef struct {
    uint64_t n_docs[2], n_tokens[2]; /* [0] train, [1] val */
    long skipped[2];                 /* bad .jsonl lines skipped (skip_bad_lines) */
    char first_bad[ED_BAD_LINE_LEN]; /* the first one's "file:line: what" (train before val) */
    int vocab_size;
    ed_tok_kind kind;
    size_t n_files;                  /* input files, both splits */
    uint64_t input_bytes;            /* their bytes as stored (compressed where they are) */
    double seconds;                  /* wall time of the whole call */
    double vocab_seconds;            /* of it, counting pieces and building the tokenizer (0: loaded) */
    uint64_t vocab_pieces;           /* distinct pieces counted in the training text */
    uint64_t vocab_bytes;            /* memory of rank 0's merged counts */
    ed_mem_usage mem;                /* this rank's memory peaks by kind (memstat.h), sampled
                                      * while the inputs stream and with the merged counts */
} ed_prepare_report;

int ed_prepare_files(MPI_Comm comm, const char *out_h5, const ed_prepare_options *po, ed_prepare_report *rep,
                     ed_error *err);

/* ---- reading ------------------------------------------------------------------------ */

typedef struct {
    char tokenizer_kind[16];  /* "word" or "bpe" */
    int64_t vocab_size;
    char token_dtype[8];      /* "uint16" or "int32" */
    char created[32];
    int has_val;
    uint64_t n_docs[2], n_tokens[2]; /* [0] train, [1] val (0 without val) */
    int window_max_length, window_stride; /* the stored window index's shape (train), 0: none */
} ed_prepared_info;

/* Reads the attributes and sizes only (no tokens). -1 with err when path is not a
 * readable prepared file of a known version. */
int ed_prepared_info_read(const char *path, ed_prepared_info *info, ed_error *err);

/* The tokenizer stored in the file (the one the tokens were made with). */
ed_tokenizer *ed_prepared_tokenizer(const char *path, ed_error *err);

/* Opens split "train" or "val" of a prepared file as ds, windows cut by opt exactly as
 * ed_dataset_build does. O(1) in the corpus: the token array is mapped read-only
 * (contiguous layout: H5Dget_offset + mmap; uint16 stays uint16), so the ranks of a node
 * share one copy in the page cache and a rank's memory does not grow with the corpus.
 * doc_offsets is mapped as well. The block index (one uint64 per ED_WIN_BLOCK documents)
 * is mapped from window_blocks when the file stores it for opt's (max_length, stride);
 * otherwise it is built in one sequential pass over doc_offsets (8 bytes a document, read
 * with pread) and ds->note says why and how to store it; pack needs none. A token dataset
 * that is chunked or compressed cannot be mapped: windows are then read by hyperslab at
 * use (slower; ds->tokens == NULL tells the caller to warn).
 * Checks at open: datasets present, 1-D, integer type, the file long enough for the bytes
 * they claim (a file truncated after prepare is an error naming the offset, not a
 * SIGBUS), the first and last entries of doc_offsets (0, n_tokens) and of a stored index
 * (0, n_windows); a one-pass index is checked whole (increasing, >= 2 tokens a document).
 * At use, each window checks the index entries and documents it reads
 * (ed_dataset_locate) and its ids against the vocabulary (ed_dataset_tokens); the full
 * scan is ed_prepared_verify. Every rank calls it on its own (no communication). */
int ed_dataset_load_prepared(ed_dataset *ds, const char *path, const char *split, const ed_window_options *opt,
                             ed_error *err);

/* `expert-dist verify`: every check there is, in one sequential pass per split with
 * O(1 MiB) memory: the attributes and tokenizer, the index (from 0, increasing, ends at
 * n_tokens), every id < vocab_size, every document [BOS] ... [EOS], and a stored window
 * index entry by entry against doc_offsets (its shape, length, entries, n_windows).
 * Fills info (window_max_length/stride: the stored shape, 0 without). -1 with
 * err naming the file, the dataset and the offset of the first problem. */
int ed_prepared_verify(const char *path, ed_prepared_info *info, ed_error *err);

#endif
