/* bench_comm.c — the gradient exchange alone, as the trainer does it (ed_grad_sync: buckets
 * of --bucket-mb, fp32 allreduce or bf16 on the wire), without any compute: seconds per
 * exchange of P floats across the ranks. Run by scripts/bench_multinode.sh on the emulated
 * cluster to check the step-time model of docs/multinode.md against measured links.
 *
 *   mpirun -n N ed-bench-comm PARAMS [fp32|bf16] [REPEATS] [BUCKET_MB]
 *
 * Prints on rank 0: "comm params P ranks N mode M bucket_mb B seconds S bytes_per_rank X GBps G"
 * where X is what each rank sends (the ring allreduce's 2(N-1)/N x 4 B x P, or half for
 * bf16) and G = X / S, the bandwidth each rank's link delivered; then "small_allreduce_us U":
 * the mean time of the step's 5-double allreduce (ed_dist_sum) over 2000 calls.
 * ED_BENCH_COMM_TIMEOUT=S runs every wait under the watchdog (--comm-timeout S, dist.h);
 * unset or 0: plain blocking waits (scripts/bench_reliability.sh compares the two). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expert/common.h"
#include "expert/dist.h"

int main(int argc, char **argv) {
    ed_dist_preinit(); /* as expert-dist does; ED_BENCH_NBC_DEFAULT=1 measures Open MPI's own choice */
    const char *nbc = getenv("ED_BENCH_NBC_DEFAULT");
    if (nbc && strcmp(nbc, "1") == 0) setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "0", 1);
    MPI_Init(&argc, &argv);
    ed_dist d;
    ed_dist_init(&d, MPI_COMM_WORLD);
    if (argc < 2) {
        if (d.rank == 0) fprintf(stderr, "usage: ed-bench-comm PARAMS [fp32|bf16] [REPEATS] [BUCKET_MB]\n");
        MPI_Finalize();
        return 2;
    }
    size_t n = (size_t)strtoull(argv[1], NULL, 10);
    const char *mode = argc > 2 ? argv[2] : "fp32";
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    size_t bucket_mb = argc > 4 ? (size_t)atoi(argv[4]) : 4;
    int bf16 = strcmp(mode, "bf16") == 0;
    float *g = ed_alloc_floats(n);
    ed_grad_sync s;
    ed_grad_sync_init(&s, d.comm, g, n, bucket_mb << 20);
    if (bf16) ed_grad_sync_set_bf16(&s);
    const char *to = getenv("ED_BENCH_COMM_TIMEOUT");
    ed_dist_set_timeout(&d, to ? atof(to) : 0.0);
    if (to && atof(to) > 0) s.watch = d.watch;
    double best = 1e30;
    for (int r = 0; r <= reps; r++) { /* the first exchange warms up connections: not timed */
        for (size_t i = 0; i < n; i++) g[i] = 1e-3f * (float)((i + (size_t)d.rank) % 101);
        MPI_Barrier(d.comm);
        double t0 = ed_now();
        ed_grad_sync_begin(&s);
        ed_grad_sync_finish(&s); /* launches every bucket, waits for all */
        double t = ed_now() - t0;
        ed_dist_max(&d, &t, 1);
        if (r > 0 && t < best) best = t;
    }
    double bytes = d.world > 1 ? 2.0 * (d.world - 1) / d.world * (bf16 ? 2.0 : 4.0) * (double)n : 0.0;
    if (d.rank == 0)
        printf("comm params %zu ranks %d mode %s bucket_mb %zu seconds %.4f bytes_per_rank %.0f GBps %.3f\n", n, d.world,
               mode, bucket_mb, best, bytes, best > 0 ? bytes / best * 1e-9 : 0.0);
    double x[5] = {1, 2, 3, 4, 5};
    enum { SMALL = 2000 };
    MPI_Barrier(d.comm);
    double t0 = ed_now();
    for (int i = 0; i < SMALL; i++) ed_dist_sum(&d, x, 5);
    double small = (ed_now() - t0) / SMALL;
    ed_dist_max(&d, &small, 1);
    if (d.rank == 0) printf("small_allreduce_us %.2f\n", small * 1e6);
    ed_grad_sync_free(&s);
    free(g);
    ed_dist_free(&d);
    MPI_Finalize();
    return 0;
}
