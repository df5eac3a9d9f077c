/* bench_prepare.c — timing for scripts/bench_bpe.sh (not a test): prepares CORPUS with a
 * saved tokenizer over all MPI ranks, then (rank 0) compares the start-up of training
 * from the prepared file with the text path, and checks both give the same dataset.
 *   mpirun -n N bench_prepare CORPUS TOKENIZER.json OUT.h5
 * Prints key=value lines (wall seconds; the machine may be shared, so also CPU seconds). */
#include <mpi.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "expert/dataset.h"
#include "expert/prepared.h"
#include "expert/tokenizer.h"
#include "prep_helpers.h"
#include "prepare_oracle.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const ed_error *err) {
    fprintf(stderr, "bench_prepare: %s\n", err->msg);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, world;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    if (argc != 4) {
        if (rank == 0) fprintf(stderr, "usage: %s CORPUS TOKENIZER.json OUT.h5\n", argv[0]);
        MPI_Finalize();
        return 2;
    }
    ed_error err;
    ed_read_options ro = {.text_field = "text"};
    ed_docs docs;
    double r0 = ed_now();
    if (ed_docs_read(argv[1], &ro, &docs, &err) != 0) die(&err);
    ed_tokenizer *tok = ed_tok_load(argv[2], &err);
    if (!tok) die(&err);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = ed_now(), c0 = cpu_now();
    if (oracle_prepare_write_mpi(MPI_COMM_WORLD, argv[3], &docs, NULL, tok, NULL, &err) != 0) die(&err);
    double t1 = ed_now(), c1 = cpu_now();
    size_t bytes = 0;
    for (size_t i = 0; i < docs.n; i++) bytes += docs.len[i];
    double cpu = c1 - c0, cpu_sum = 0;
    MPI_Reduce(&cpu, &cpu_sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        ed_prepared_info info;
        if (ed_prepared_info_read(argv[3], &info, &err) != 0) die(&err);
        printf("ranks=%d threads_per_rank=%d docs=%zu bytes=%zu read_seconds=%.2f\n", world, omp_get_max_threads(),
               docs.n, bytes, t0 - r0);
        printf("prepare_seconds=%.2f prepare_tokens=%llu prepare_tokens_per_s=%.0f prepare_MBps=%.1f "
               "cpu_seconds_all_ranks=%.2f tokens_per_cpu_s=%.0f\n",
               t1 - t0, (unsigned long long)info.n_tokens[0], (double)info.n_tokens[0] / (t1 - t0),
               (double)bytes / 1e6 / (t1 - t0), cpu_sum, (double)info.n_tokens[0] / cpu_sum);

        /* start-up of training: prepared file vs text path, same windows */
        ed_window_options wo = {.max_length = 512, .stride = 256};
        ed_dataset a, b;
        double p0 = ed_now();
        ed_tokenizer *ptok = ed_prepared_tokenizer(argv[3], &err);
        if (!ptok || ed_dataset_load_prepared(&a, argv[3], "train", &wo, &err) != 0) die(&err);
        double p1 = ed_now();
        ed_docs d2;
        ed_tokenizer *ttok = ed_tok_load(argv[2], &err);
        if (!ttok || ed_docs_read(argv[1], &ro, &d2, &err) != 0 || ed_dataset_build(&b, &d2, ttok, &wo, &err) != 0)
            die(&err);
        double p2 = ed_now();
        const char *diff = ph_dataset_diff(&a, &b);
        printf("load_prepared_seconds=%.3f load_text_seconds=%.3f speedup=%.0fx windows=%zu identical=%s\n", p1 - p0,
               p2 - p1, (p2 - p1) / (p1 - p0), a.n_windows, diff ? diff : "yes");
        ed_dataset_free(&a);
        ed_dataset_free(&b);
        ed_docs_free(&d2);
        ed_tok_free(ptok);
        ed_tok_free(ttok);
    }
    ed_tok_free(tok);
    ed_docs_free(&docs);
    MPI_Finalize();
    return 0;
}
