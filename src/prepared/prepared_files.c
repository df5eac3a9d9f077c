/* prepared_files.c — ed_prepare_files: the `prepare` command from file names to the
 * prepared file, collective over a communicator.
 *
 * Every step that can fail on bad input ends in agree(): all ranks learn the lowest
 * failing rank's message and return together, so nobody waits in a later collective. */
#include <stdlib.h>
#include <string.h>

#include "prepared_internal.h"

/* 0 when every rank succeeded; else -1 everywhere with the lowest failing rank's err. */
static int agree(MPI_Comm comm, int status, ed_error *err) {
    int rank, world;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &world);
    int mine = status == 0 ? world : rank, first;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
    if (first == world) return 0;
    ed_error tmp = {{0}};
    ed_error *e = err ? err : &tmp;
    MPI_Bcast(e->msg, (int)sizeof e->msg, MPI_CHAR, first, comm);
    return -1;
}

/* Built on rank 0 and broadcast: one build instead of one per rank, and the replicas
 * agree on every id by construction. */
static ed_tokenizer *shared_tokenizer(MPI_Comm comm, const ed_prepare_options *po, const ed_docs *train,
                                      ed_error *err) {
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (po->vocab_file && po->vocab_file[0]) {
        ed_tokenizer *t = ed_tok_load(po->vocab_file, err);
        if (agree(comm, t ? 0 : -1, err) != 0) {
            ed_tok_free(t);
            return NULL;
        }
        return t;
    }
    char *blob = NULL;
    long long len = 0;
    int status = 0;
    if (rank == 0) {
        ed_tokenizer *t = ed_tok_train(&po->tok, (const char *const *)train->text, train->len, train->n, err);
        if (t) {
            size_t n;
            blob = ed_tok_serialize(t, &n);
            len = (long long)n;
            ed_tok_free(t);
        } else {
            status = -1;
        }
    }
    if (agree(comm, status, err) != 0) return NULL;
    MPI_Bcast(&len, 1, MPI_LONG_LONG, 0, comm);
    ED_CHECK(len < 0x7fffffffLL, "serialized tokenizer too large (%lld bytes)", len);
    if (rank != 0) blob = ed_malloc((size_t)len + 1);
    MPI_Bcast(blob, (int)len, MPI_CHAR, 0, comm);
    blob[len] = '\0';
    ed_tokenizer *t = ed_tok_deserialize(blob, (size_t)len, err);
    free(blob);
    if (agree(comm, t ? 0 : -1, err) != 0) {
        ed_tok_free(t);
        return NULL;
    }
    return t;
}

int ed_prepare_files(MPI_Comm comm, const char *out_h5, const ed_prepare_options *po, ed_prepare_report *rep,
                     ed_error *err) {
    double t0 = ed_now();
    if (rep) memset(rep, 0, sizeof *rep);
    int has_val = po->val_file && po->val_file[0];
    ed_docs train = {0}, val = {0};
    int status = ed_docs_read(po->train_file, &po->read, &train, err);
    if (status == 0 && has_val) status = ed_docs_read(po->val_file, &po->read, &val, err);
    ed_tokenizer *tok = NULL;
    if (agree(comm, status, err) == 0 && (tok = shared_tokenizer(comm, po, &train, err)) != NULL)
        status = ed_prepare_write_mpi(comm, out_h5, &train, has_val ? &val : NULL, tok, err);
    else
        status = -1;
    if (status == 0 && rep) {
        ed_prepared_info info = {0};
        int rank;
        MPI_Comm_rank(comm, &rank);
        /* the counts as written (rank 0 reads them back; the others get them sent) */
        if (rank == 0 && ed_prepared_info_read(out_h5, &info, err) != 0) memset(&info, 0, sizeof info);
        uint64_t c[4] = {info.n_docs[0], info.n_docs[1], info.n_tokens[0], info.n_tokens[1]};
        MPI_Bcast(c, 4, MPI_UINT64_T, 0, comm);
        rep->n_docs[0] = c[0], rep->n_docs[1] = c[1], rep->n_tokens[0] = c[2], rep->n_tokens[1] = c[3];
        rep->vocab_size = ed_tok_vocab_size(tok);
        rep->kind = ed_tok_kind_of(tok);
        rep->seconds = ed_now() - t0;
    }
    ed_tok_free(tok);
    ed_docs_free(&train);
    ed_docs_free(&val);
    return status;
}
