/* grad_sync.c — the gradient sum in buckets, overlapped with backward: an allreduce per
 * bucket, or (ZeRO-1) a reduce-scatter per bucket onto the ranks' slices (see dist.h). */
#include <stdlib.h>
#include <string.h>

#include "expert/dist.h"
#include "grad_bf16.h"

void ed_grad_sync_init(ed_grad_sync *g, MPI_Comm comm, float *buf, size_t n, size_t bucket_bytes) {
    memset(g, 0, sizeof *g);
    g->comm = comm;
    ED_MPI_OK(MPI_Comm_size(comm, &g->world));
    ED_MPI_OK(MPI_Comm_rank(comm, &g->rank));
    g->buf = buf;
    g->n = n;
    g->bucket = bucket_bytes / sizeof(float);
    if (g->bucket < 1) g->bucket = 1;
    /* MPI counts are int: keep each bucket well inside that. */
    if (g->bucket > (size_t)1 << 30) g->bucket = (size_t)1 << 30;
    g->n_buckets = n ? (int)((n + g->bucket - 1) / g->bucket) : 0;
    g->done = ed_calloc((size_t)g->n_buckets + 1, sizeof *g->done);
    g->req = ed_calloc((size_t)g->n_buckets + 1, sizeof *g->req);
    for (int i = 0; i < g->n_buckets; i++) g->req[i] = MPI_REQUEST_NULL;
    g->next = -1;
}

static size_t bucket_lo(const ed_grad_sync *g, int i) { return (size_t)i * g->bucket; }
static size_t bucket_len(const ed_grad_sync *g, int i) {
    size_t lo = bucket_lo(g, i), hi = lo + g->bucket;
    return (hi > g->n ? g->n : hi) - lo;
}

void ed_grad_sync_init_scatter(ed_grad_sync *g, MPI_Comm comm, float *buf, size_t n, size_t bucket_bytes,
                               const int *counts, const int *displs) {
    ed_grad_sync_init(g, comm, buf, n, bucket_bytes);
    g->scatter = 1;
    g->lo = (size_t)displs[g->rank];
    g->hi = g->lo + (size_t)counts[g->rank];
    ED_CHECK(g->hi <= n, "grad sync: slice [%zu, %zu) outside the buffer of %zu floats", g->lo, g->hi, n);
    g->recvcounts = ed_calloc((size_t)g->n_buckets * (size_t)g->world + 1, sizeof *g->recvcounts);
    size_t covered = 0;
    for (int i = 0; i < g->n_buckets; i++) {
        size_t blo = bucket_lo(g, i), bhi = blo + bucket_len(g, i);
        for (int r = 0; r < g->world; r++) {
            size_t slo = (size_t)displs[r], shi = slo + (size_t)counts[r];
            size_t a = blo > slo ? blo : slo, b = bhi < shi ? bhi : shi;
            g->recvcounts[(size_t)i * (size_t)g->world + (size_t)r] = b > a ? (int)(b - a) : 0;
            covered += b > a ? b - a : 0;
        }
    }
    /* The bucket's floats go to the ranks in rank order: the slices must tile [0, n). */
    ED_CHECK(covered == n, "grad sync: the ranks' slices cover %zu of %zu floats", covered, n);
}

void ed_grad_sync_free(ed_grad_sync *g) {
    free(g->wire);
    free(g->peers);
    free(g->req2);
    free(g->done);
    free(g->req);
    free(g->recvcounts);
    memset(g, 0, sizeof *g);
}

void ed_grad_sync_begin(ed_grad_sync *g) {
    memset(g->done, 0, (size_t)g->n_buckets * sizeof *g->done);
    g->next = g->n_buckets - 1;
}

static void launch(ed_grad_sync *g, int i) {
    g->n_total++;
    if (g->world == 1) return; /* a sum over one rank is the buffer itself */
    if (g->bf16) {
        ed_grad_bf16_launch(g, i, bucket_lo(g, i), bucket_len(g, i));
        return;
    }
    if (g->scatter) {
        /* In place: the bucket is the input, and this rank's part of the sum lands at the
         * bucket's start (finish moves it to its place); no second buffer. A rank the bucket
         * does not overlap receives 0 floats. */
        ED_MPI_OK(MPI_Ireduce_scatter(MPI_IN_PLACE, g->buf + bucket_lo(g, i), g->recvcounts + (size_t)i * (size_t)g->world,
                                   MPI_FLOAT, MPI_SUM, g->comm, &g->req[i]));
        return;
    }
    ED_MPI_OK(MPI_Iallreduce(MPI_IN_PLACE, g->buf + bucket_lo(g, i), (int)bucket_len(g, i), MPI_FLOAT,
                          MPI_SUM, g->comm, &g->req[i]));
}

void ed_grad_sync_ready(void *ctx, size_t offset, size_t count) {
    ed_grad_sync *g = ctx;
    if (g->next < 0 || count == 0) return;
    /* Credit the range to every bucket it overlaps. */
    size_t end = offset + count;
    for (int i = (int)(offset / g->bucket); i < g->n_buckets && bucket_lo(g, i) < end; i++) {
        size_t lo = bucket_lo(g, i), hi = lo + bucket_len(g, i);
        size_t a = offset > lo ? offset : lo, b = end < hi ? end : hi;
        if (b > a) g->done[i] += b - a;
    }
    while (g->next >= 0 && g->done[g->next] >= bucket_len(g, g->next)) {
        launch(g, g->next--);
        g->n_launched++;
    }
    /* Open MPI progresses non-blocking collectives only inside MPI calls: poke it so the
     * early buckets move while backward keeps computing. */
    if (g->world > 1) {
        int flag;
        ED_MPI_OK(MPI_Testall(g->n_buckets, g->req, &flag, MPI_STATUSES_IGNORE));
    }
}

void ed_grad_sync_finish(ed_grad_sync *g) {
    while (g->next >= 0) launch(g, g->next--);
    if (g->bf16 && g->world > 1) {
        for (int i = g->n_buckets - 1; i >= 0; i--) ed_grad_bf16_sum(g, i);
        for (int i = g->n_buckets - 1; i >= 0; i--) ed_grad_bf16_decode(g, i, bucket_lo(g, i), bucket_len(g, i));
        return;
    }
    if (g->world > 1) ed_watch_wait(g->watch, g->n_buckets, g->req);
    /* The optimizer reads the flat buffer: move each bucket's reduced part from the
     * bucket's start to its place in this rank's slice (overlapping: memmove). */
    if (g->scatter && g->world > 1)
        for (int i = 0; i < g->n_buckets; i++) {
            size_t blo = bucket_lo(g, i), cnt = (size_t)g->recvcounts[(size_t)i * (size_t)g->world + (size_t)g->rank];
            size_t at = blo > g->lo ? blo : g->lo;
            if (cnt && at != blo) memmove(g->buf + at, g->buf + blo, cnt * sizeof *g->buf);
        }
}
