/* grad_sync.c — the gradient allreduce in buckets, overlapped with backward (see dist.h). */
#include <stdlib.h>
#include <string.h>

#include "expert/dist.h"

#define MPI_OK(call) ED_CHECK((call) == MPI_SUCCESS, "MPI call failed: %s", #call)

void ed_grad_sync_init(ed_grad_sync *g, MPI_Comm comm, float *buf, size_t n, size_t bucket_bytes) {
    memset(g, 0, sizeof *g);
    g->comm = comm;
    MPI_OK(MPI_Comm_size(comm, &g->world));
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

void ed_grad_sync_free(ed_grad_sync *g) {
    free(g->done);
    free(g->req);
    memset(g, 0, sizeof *g);
}

static size_t bucket_lo(const ed_grad_sync *g, int i) { return (size_t)i * g->bucket; }
static size_t bucket_len(const ed_grad_sync *g, int i) {
    size_t lo = bucket_lo(g, i), hi = lo + g->bucket;
    return (hi > g->n ? g->n : hi) - lo;
}

void ed_grad_sync_begin(ed_grad_sync *g) {
    memset(g->done, 0, (size_t)g->n_buckets * sizeof *g->done);
    g->next = g->n_buckets - 1;
}

static void launch(ed_grad_sync *g, int i) {
    g->n_total++;
    if (g->world == 1) return; /* a sum over one rank is the buffer itself */
    MPI_OK(MPI_Iallreduce(MPI_IN_PLACE, g->buf + bucket_lo(g, i), (int)bucket_len(g, i), MPI_FLOAT,
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
        MPI_OK(MPI_Testall(g->n_buckets, g->req, &flag, MPI_STATUSES_IGNORE));
    }
}

void ed_grad_sync_finish(ed_grad_sync *g) {
    double t0 = ed_now();
    while (g->next >= 0) launch(g, g->next--);
    if (g->world > 1) MPI_OK(MPI_Waitall(g->n_buckets, g->req, MPI_STATUSES_IGNORE));
    g->wait_seconds += ed_now() - t0;
}
