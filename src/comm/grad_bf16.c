/* grad_bf16.c — gradient buckets summed with bf16 on the wire and fp32 arithmetic: an
 * alltoall of encoded chunks, a rank-order fp32 sum of this rank's chunk, an allgather of
 * the encoded sums (design and byte counts in dist.h). */
#include <stdlib.h>
#include <string.h>

#include "expert/half.h"
#include "grad_bf16.h"

void ed_grad_sync_set_bf16(ed_grad_sync *g) {
    ED_CHECK(!g->scatter, "grad sync: bf16 on the wire is for the allreduce mode only");
    g->bf16 = 1;
    if (g->world == 1) return; /* nothing goes on a wire */
    g->chunk = (g->bucket + (size_t)g->world - 1) / (size_t)g->world;
    size_t per_bucket = g->chunk * (size_t)g->world;
    ED_CHECK(g->chunk < (size_t)0x7fffffff, "grad sync: %zu values per chunk exceed MPI's int counts", g->chunk);
    g->wire = ed_malloc((size_t)g->n_buckets * per_bucket * sizeof *g->wire);
    g->peers = ed_malloc((size_t)g->n_buckets * per_bucket * sizeof *g->peers);
    g->req2 = ed_malloc(((size_t)g->n_buckets + 1) * sizeof *g->req2);
    for (int i = 0; i < g->n_buckets; i++) g->req2[i] = MPI_REQUEST_NULL;
}

static uint16_t *bucket_of(const ed_grad_sync *g, uint16_t *base, int i) {
    return base + (size_t)i * g->chunk * (size_t)g->world;
}

void ed_grad_bf16_launch(ed_grad_sync *g, int i, size_t lo, size_t len) {
    uint16_t *w = bucket_of(g, g->wire, i);
    const float *x = g->buf + lo;
    size_t total = g->chunk * (size_t)g->world;
    for (size_t k = 0; k < len; k++) w[k] = ed_bf16_encode(x[k]);
    memset(w + len, 0, (total - len) * sizeof *w); /* the last chunks' padding adds zeros */
    ED_MPI_OK(MPI_Ialltoall(w, (int)g->chunk, MPI_UINT16_T, bucket_of(g, g->peers, i), (int)g->chunk, MPI_UINT16_T,
                         g->comm, &g->req[i]));
}

void ed_grad_bf16_sum(ed_grad_sync *g, int i) {
    ed_watch_wait(g->watch, 1, &g->req[i]);
    const uint16_t *in = bucket_of(g, g->peers, i);
    uint16_t *w = bucket_of(g, g->wire, i);
    uint16_t *mine = w + (size_t)g->rank * g->chunk;
    /* The same order (rank 0 first) on every rank: the sum does not depend on who adds. */
    for (size_t k = 0; k < g->chunk; k++) {
        float s = 0.0f;
        for (int r = 0; r < g->world; r++) s += ed_bf16_decode(in[(size_t)r * g->chunk + k]);
        mine[k] = ed_bf16_encode(s);
    }
    /* The alltoall is complete, so the send half of w is free for the gathered sums. */
    ED_MPI_OK(MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, w, (int)g->chunk, MPI_UINT16_T, g->comm, &g->req2[i]));
}

void ed_grad_bf16_decode(ed_grad_sync *g, int i, size_t lo, size_t len) {
    ed_watch_wait(g->watch, 1, &g->req2[i]);
    const uint16_t *w = bucket_of(g, g->wire, i);
    float *x = g->buf + lo;
    for (size_t k = 0; k < len; k++) x[k] = ed_bf16_decode(w[k]);
}
