/* prepare_oracle.h — prepared files written from documents already in memory: the
 * reference the streaming `prepare` (ed_prepare_files) is compared with, byte for byte in
 * the token arrays. Built from the same private pieces (prep_tokenize, the writer of
 * src/prepared/prepared_write.c), so a difference points at the streaming, spilling and
 * input-splitting that only the production path has. */
#ifndef ED_TEST_PREPARE_ORACLE_H
#define ED_TEST_PREPARE_ORACLE_H

#include <mpi.h>

#include "expert/dataset.h"
#include "expert/tokenizer.h"

/* Tokenizes train (and val, may be NULL) with tok in this process and writes out_h5
 * (through out_h5.tmp, renamed when complete). The docs' path and their source file's
 * size and SHA-256 are recorded ("(in memory)" and the hash of the documents' bytes when
 * docs has no path). win (may be NULL: none) is the window shape whose index
 * (window_blocks) is stored; its pack flag is ignored. -1 with err on no documents or a
 * failed write. */
int oracle_prepare_write(const char *out_h5, const ed_docs *train, const ed_docs *val, const ed_tokenizer *tok,
                         const ed_window_options *win, ed_error *err);

/* Collective over comm: the same result as oracle_prepare_write, byte for byte in the
 * token arrays, but each rank tokenizes a contiguous range of documents (cut by bytes)
 * and sends its ids to rank 0, which alone writes the file, one rank's part at a time.
 * Every rank passes the same documents and tokenizer. Returns the same status on every
 * rank, err filled on every rank when it failed. */
int oracle_prepare_write_mpi(MPI_Comm comm, const char *out_h5, const ed_docs *train, const ed_docs *val,
                             const ed_tokenizer *tok, const ed_window_options *win, ed_error *err);

#endif
