/* prepare_oracle.c — the in-memory prepare the streaming one (ed_prepare_files) is
 * checked against: documents already in memory, tokenized whole with prep_tokenize and
 * written with the same writer (prepared_write.c). Test code, not a second production
 * path: nothing in src/ calls it. See prepare_oracle.h.
 *
 * The MPI variant: each rank tokenizes a contiguous range of documents
 * (prep_split_range: similar byte counts). The ranks then share their token and
 * document counts, which fixes where every part lands in the file; rank 0 creates the
 * datasets at their final size, writes its own part and then each other rank's part in
 * rank order, received in messages of at most CHUNK elements. The bytes written are
 * those of the serial path by construction: same documents, same order, same encoder.
 * Only rank 0 can fail (hashing the sources, creating or writing the file); it keeps
 * receiving after a failed write so no sender is left blocked, and the final status is
 * agreed, so every rank returns the same answer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepare_oracle.h"
#include "prepared_internal.h"

/* ---- the source record ------------------------------------------------------------- */

static int source_info(const char *path, prep_source *src, ed_error *err) {
    memset(src, 0, sizeof *src);
    snprintf(src->path, sizeof src->path, "%s", path);
    FILE *f = fopen(path, "rb");
    if (!f) return ed_fail(err, "%s: cannot open the source file to hash it: %s", path, strerror(errno));
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = ed_malloc(CHUNK);
    prep_sha256 s;
    prep_sha256_init(&s);
    size_t got;
    while ((got = fread(buf, 1, CHUNK, f)) > 0) prep_sha256_update(&s, buf, got);
    int bad = ferror(f);
    fclose(f);
    free(buf);
    if (bad) return ed_fail(err, "%s: read error while hashing", path);
    src->bytes = s.bytes;
    prep_sha256_hex(&s, src->sha256);
    return 0;
}

static int docs_source(const ed_docs *docs, prep_source *src, ed_error *err) {
    if (docs->path) return source_info(docs->path, src, err);
    /* documents built in memory: record what was tokenized instead of a file */
    memset(src, 0, sizeof *src);
    snprintf(src->path, sizeof src->path, "(in memory)");
    prep_sha256 s;
    prep_sha256_init(&s);
    for (size_t d = 0; d < docs->n; d++) prep_sha256_update(&s, docs->text[d], docs->len[d] + 1);
    src->bytes = s.bytes;
    prep_sha256_hex(&s, src->sha256);
    return 0;
}

static int check_inputs(const char *out, const ed_docs *train, const ed_docs *val, ed_error *err) {
    if (!train || train->n == 0) return ed_fail(err, "%s: no training documents to prepare", out);
    if (val && val->n == 0) return ed_fail(err, "%s: the validation file has no documents", out);
    return 0;
}

int oracle_prepare_write(const char *out_h5, const ed_docs *train, const ed_docs *val, const ed_tokenizer *tok,
                     const ed_window_options *win, ed_error *err) {
    if (check_inputs(out_h5, train, val, err) != 0) return -1;
    prep_source src[2];
    const ed_docs *splits[2] = {train, val};
    for (int s = 0; s < 2; s++)
        if (splits[s] && docs_source(splits[s], &src[s], err) != 0) return -1;
    prep_writer w;
    if (prep_open(&w, out_h5, tok, win, err) != 0) return -1;
    for (int s = 0; s < 2; s++) {
        if (!splits[s]) continue;
        prep_part p;
        prep_tokenize(&p, splits[s], 0, splits[s]->n, tok);
        prep_split_begin(&w, s ? "val" : "train", p.ids.len, p.n_docs, &src[s]);
        prep_put_tokens(&w, p.ids.data, p.ids.len, 0);
        prep_put_offsets(&w, p.ends, p.n_docs, 1);
        prep_split_end(&w);
        prep_part_free(&p);
    }
    return prep_close(&w, err);
}

/* ---- the MPI variant ---------------------------------------------------------------- */

enum { CHUNK = 1 << 24, TAG_TOKENS = 701, TAG_OFFSETS = 702 };

static void send_chunks(MPI_Comm comm, const void *buf, size_t n, size_t elem, MPI_Datatype type, int tag) {
    const char *p = buf;
    for (size_t at = 0; at < n; at += CHUNK) {
        size_t k = n - at < CHUNK ? n - at : CHUNK;
        MPI_Send(p + at * elem, (int)k, type, 0, tag, comm);
    }
}

/* Rank 0 side of one split. */
static void write_split(prep_writer *w, MPI_Comm comm, int world, const char *name, const prep_part *mine,
                        const uint64_t *counts, const prep_source *src) {
    uint64_t n_tokens = 0, n_docs = 0;
    for (int r = 0; r < world; r++) n_tokens += counts[2 * r], n_docs += counts[2 * r + 1];
    prep_split_begin(w, name, n_tokens, n_docs, src);
    prep_put_tokens(w, mine->ids.data, mine->ids.len, 0);
    prep_put_offsets(w, mine->ends, mine->n_docs, 1);
    int32_t *tb = ed_malloc(CHUNK * sizeof *tb);
    uint64_t *ob = ed_malloc(CHUNK * sizeof *ob);
    uint64_t tok_at = counts[0], doc_at = 1 + counts[1];
    for (int r = 1; r < world; r++) {
        for (uint64_t got = 0; got < counts[2 * r];) {
            size_t k = counts[2 * r] - got < CHUNK ? (size_t)(counts[2 * r] - got) : CHUNK;
            MPI_Recv(tb, (int)k, MPI_INT32_T, r, TAG_TOKENS, comm, MPI_STATUS_IGNORE);
            prep_put_tokens(w, tb, k, tok_at + got);
            got += k;
        }
        for (uint64_t got = 0; got < counts[2 * r + 1];) {
            size_t k = counts[2 * r + 1] - got < CHUNK ? (size_t)(counts[2 * r + 1] - got) : CHUNK;
            MPI_Recv(ob, (int)k, MPI_UINT64_T, r, TAG_OFFSETS, comm, MPI_STATUS_IGNORE);
            prep_put_offsets(w, ob, k, doc_at + got);
            got += k;
        }
        tok_at += counts[2 * r];
        doc_at += counts[2 * r + 1];
    }
    free(tb);
    free(ob);
    prep_split_end(w);
}

int oracle_prepare_write_mpi(MPI_Comm comm, const char *out_h5, const ed_docs *train, const ed_docs *val,
                         const ed_tokenizer *tok, const ed_window_options *win, ed_error *err) {
    int rank, world;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &world);
    /* same documents on every rank, so the same verdict everywhere without talking */
    if (check_inputs(out_h5, train, val, err) != 0) return -1;
    const ed_docs *splits[2] = {train, val};
    prep_source src[2];
    prep_writer w;
    int status = 0;
    if (rank == 0) {
        for (int s = 0; s < 2 && status == 0; s++)
            if (splits[s]) status = docs_source(splits[s], &src[s], err);
        if (status == 0) status = prep_open(&w, out_h5, tok, win, err);
    }
    if (ed_dist_agree_comm(comm, status, err) != 0) return -1;
    uint64_t *counts = ed_malloc(2 * (size_t)world * sizeof *counts);
    for (int s = 0; s < 2; s++) {
        if (!splits[s]) continue;
        size_t first, last;
        prep_split_range(splits[s], 0, splits[s]->n, rank, world, &first, &last);
        prep_part p;
        prep_tokenize(&p, splits[s], first, last, tok);
        uint64_t mine[2] = {p.ids.len, p.n_docs};
        MPI_Allgather(mine, 2, MPI_UINT64_T, counts, 2, MPI_UINT64_T, comm);
        if (rank == 0) {
            write_split(&w, comm, world, s ? "val" : "train", &p, counts, &src[s]);
        } else {
            uint64_t base = 0;
            for (int r = 0; r < rank; r++) base += counts[2 * r];
            for (size_t i = 0; i < p.n_docs; i++) p.ends[i] += base; /* local ends -> file offsets */
            send_chunks(comm, p.ids.data, p.ids.len, sizeof(int32_t), MPI_INT32_T, TAG_TOKENS);
            send_chunks(comm, p.ends, p.n_docs, sizeof(uint64_t), MPI_UINT64_T, TAG_OFFSETS);
        }
        prep_part_free(&p);
    }
    free(counts);
    if (rank == 0) status = prep_close(&w, err);
    return ed_dist_agree_comm(comm, status, err);
}
