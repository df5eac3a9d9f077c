/* test_ckpt_collective.c — ed_ckpt_save_collective under mpirun (-n 1, 2, 4): only
 * rank 0 writes (the others pass NULL contents), every rank gets the same status, a
 * failed write fails on every rank with rank 0's message, and every rank can read the
 * result back. Plain main() with checks (cmocka's output would interleave across ranks). */
#define _XOPEN_SOURCE 700 /* nftw, in ckpt_fixture.h */
#include <mpi.h>

#include "ckpt_at.h"
#include "ckpt_fixture.h"

static int failures;
#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "rank %d: %s:%d: check failed: %s\n", rank, __FILE__, __LINE__, #cond); \
            failures++;                                                                   \
        }                                                                                 \
    } while (0)

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    char dir[64] = {0};
    if (rank == 0) {
        fixture_dir_make();
        memcpy(dir, fixture_dir, sizeof dir);
    }
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    ed_dist d;
    ed_dist_init(&d, MPI_COMM_WORLD);
    char path[128], bad[128];
    snprintf(path, sizeof path, "%s/last.h5", dir);
    snprintf(bad, sizeof bad, "%s/missing-dir/last.h5", dir);

    /* Every rank builds the same fixture (same seed), as data-parallel replicas do. */
    fixture f;
    fixture_init(&f, 5);
    f.state.world_size = size;
    ed_ckpt_contents c = fixture_contents(&f);
    const ed_ckpt_contents *mine = rank == 0 ? &c : NULL;

    ed_error err = {{0}};
    CHECK(ed_ckpt_save_collective(&d, path, mine, 0, &err) == 0);
    /* The file is complete when save returns, on every rank. */
    ed_gpt *m = fixture_model(ed_tok_vocab_size(f.tok), 32, 2, 1234 + (uint64_t)rank);
    CHECK(at_read_model(path, m, &err) == 0);
    CHECK(memcmp(ed_gpt_params(m), ed_gpt_params(f.model), ed_gpt_num_params(m) * sizeof(float)) == 0);
    ed_train_state s;
    CHECK(at_read_state(path, &s, NULL, &err) == 0);
    CHECK(s.world_size == size);
    ed_gpt_free(m);

    /* A failing write fails everywhere, with the same message naming the path. */
    memset(&err, 0, sizeof err);
    CHECK(ed_ckpt_save_collective(&d, bad, mine, 0, &err) == -1);
    CHECK(strstr(err.msg, bad) != NULL);
    CHECK(strstr(err.msg, "No such file or directory") != NULL);

    /* The background writer the trainer's --async-save uses: the file it writes reads back
     * bit-exact, and a failure shows at the wait with the path and errno's words. */
    if (rank == 0) {
        char async_path[160], bad_async[160];
        snprintf(async_path, sizeof async_path, "%s/async.h5", dir);
        snprintf(bad_async, sizeof bad_async, "%s/missing-dir/async.h5", dir);
        ed_ckpt_writer w = {0};
        CHECK(ed_ckpt_writer_save(&w, async_path, &c, 0, &err) == 0);
        CHECK(ed_ckpt_writer_wait(&w, &err) == 0);
        CHECK(ed_ckpt_writer_wait(&w, &err) == 0); /* nothing in flight: 0 */
        ed_gpt *m2 = fixture_model(ed_tok_vocab_size(f.tok), 32, 2, 99);
        CHECK(at_read_model(async_path, m2, &err) == 0);
        CHECK(memcmp(ed_gpt_params(m2), ed_gpt_params(f.model), ed_gpt_num_params(m2) * sizeof(float)) == 0);
        ed_gpt_free(m2);
        CHECK(ed_ckpt_writer_save(&w, bad_async, &c, 0, &err) == 0);
        memset(&err, 0, sizeof err);
        CHECK(ed_ckpt_writer_wait(&w, &err) == -1);
        CHECK(strstr(err.msg, "No such file or directory") != NULL);
        ed_ckpt_writer_free(&w);
    }

    fixture_free(&f);
    ed_dist_free(&d);
    int total = 0;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        fixture_dir_remove();
        printf("ckpt collective on %d ranks: %s\n", size, total ? "FAILED" : "ok");
    }
    MPI_Finalize();
    return total ? 1 : 0;
}
