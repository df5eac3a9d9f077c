/* test_mpi.c — the data pipeline across real MPI ranks (run with mpirun -n 1, 2, 4):
 * every rank builds the vocabulary from the same file on its own and must get the same
 * bytes; every rank draws the same permutation; over one epoch the ranks' micro-batches
 * cover every window exactly once; and the total number of targets in the batches does
 * not depend on the world size. Failures are agreed on with an allreduce so no rank is
 * left waiting, and rank 0 prints them. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expert/dataset.h"

static int failures;

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "test_mpi: rank %d: %s:%d: ", rank, __FILE__, __LINE__);      \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            failures++;                                                                   \
        }                                                                                 \
    } while (0)

/* 1 when x is the same on every rank. */
static int same_everywhere(uint64_t x) {
    uint64_t lo, hi;
    MPI_Allreduce(&x, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&x, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    return lo == hi;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, world;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    const char *dir = getenv("ED_CORPUS_DIR");
    char path[1200];
    snprintf(path, sizeof path, "%s/fortunes-val.txt", dir ? dir : "data");
    if (argc > 1) snprintf(path, sizeof path, "%s", argv[1]);

    ed_docs docs;
    ed_error err;
    int ok = ed_docs_read(path, NULL, &docs, &err) == 0;
    CHECK(ok, "%s", err.msg);
    int all_ok;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!all_ok) {
        MPI_Finalize();
        return 1;
    }
    ed_tok_options to = {.kind = ED_TOK_WORD, .vocab_size = 2000, .min_freq = 1};
    ed_tokenizer *tok = ed_tok_train(&to, (const char *const *)docs.text, docs.len, docs.n, &err);
    size_t blen;
    char *blob = ed_tok_serialize(tok, &blen);
    CHECK(same_everywhere(ed_hash_bytes(blob, blen)), "vocabularies differ between ranks");

    ed_dataset ds;
    ed_window_options wo = {.max_length = 32, .stride = 16};
    CHECK(ed_dataset_build(&ds, &docs, tok, &wo, &err) == 0, "%s", err.msg);
    CHECK(same_everywhere(ed_hash_bytes(ds.tokens, ds.n_tokens * (size_t)ds.token_bytes)), "token arrays differ");

    const int B = 3, A = 2;
    ed_sampler s;
    ed_sampler_init(&s, ds.n_windows, B, A, rank, world, 42, 1);
    ed_sampler_set_dataset(&s, &ds, 0); /* balanced slots, as the trainer runs them */
    ed_batch b;
    ed_batch_init(&b, B, wo.max_length - 1);
    uint32_t *ids = malloc(ed_sampler_max_rows(&s) * sizeof *ids);
    int *count = calloc(ds.n_windows, sizeof *count);
    for (int epoch = 0; epoch < 2; epoch++) {
        ed_sampler_set_epoch(&s, epoch);
        uint32_t *order = malloc(ds.n_windows * sizeof *order);
        for (size_t i = 0; i < ds.n_windows; i++) order[i] = ed_sampler_at(&s, i);
        CHECK(same_everywhere(ed_hash_bytes(order, ds.n_windows * sizeof *order)), "epoch %d: permutations differ", epoch);
        free(order);
        memset(count, 0, ds.n_windows * sizeof *count);
        long targets = 0;
        for (long st = 0; st < ed_sampler_steps(&s); st++)
            for (int a = 0; a < A; a++) {
                int n = ed_sampler_micro(&s, st, a, ids);
                CHECK(ed_batch_fill(&b, &ds, ids, n, 0, &err) == 0, "%s", err.msg);
                targets += b.n_targets;
                for (int i = 0; i < n; i++) count[ids[i]]++;
            }
        MPI_Allreduce(MPI_IN_PLACE, count, (int)ds.n_windows, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        for (size_t w = 0; w < ds.n_windows; w++) CHECK(count[w] == 1, "epoch %d: window %zu used %d times", epoch, w, count[w]);
        long total_targets = 0, expect = 0;
        MPI_Allreduce(&targets, &total_targets, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
        for (size_t w = 0; w < ds.n_windows; w++) {
            uint64_t start;
            uint32_t len;
            ed_dataset_window(&ds, w, &start, &len);
            expect += (long)len - 1;
        }
        CHECK(total_targets == expect, "epoch %d: %ld targets over all ranks, expected %ld", epoch, total_targets, expect);
    }
    free(count);
    free(ids);
    ed_batch_free(&b);
    ed_sampler_free(&s);
    ed_dataset_free(&ds);
    free(blob);
    ed_tok_free(tok);
    ed_docs_free(&docs);

    int total;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("test_mpi: %d rank(s): %s\n", world, total ? "FAILED" : "ok");
    MPI_Finalize();
    return total ? 1 : 0;
}
