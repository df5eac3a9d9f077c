/* dist.c — rank bookkeeping, agreeing on failure, small reductions, replica checks.
 * Every collective on the training communicator is started non-blocking and waited for
 * under the watchdog (watch(), watchdog.c), so none can hang past --comm-timeout. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expert/dist.h"

void ed_dist_preinit(void) {
    setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "3", 0); /* 3 = rabenseifner; 0 = keep the user's */
}

/* The CPUs this node gives us: the union of the affinity masks of the ranks on this node
 * (what a Slurm cpuset, taskset or mpirun's binding allows), not every online CPU, so
 * that a job sharing a node, or ranks bound to cores, do not start a thread per core of
 * the whole machine. */
static void count_cores(ed_dist *d) {
    cpu_set_t mine;
    CPU_ZERO(&mine);
    if (sched_getaffinity(0, sizeof mine, &mine) != 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        d->node_cores = d->rank_cores = cores > 0 ? (int)cores : 1;
        return;
    }
    d->rank_cores = CPU_COUNT(&mine);
    enum { WORDS = sizeof(cpu_set_t) / sizeof(unsigned long) };
    unsigned long bits[WORDS], all[WORDS];
    memcpy(bits, &mine, sizeof bits);
    ED_MPI_OK(MPI_Allreduce(bits, all, WORDS, MPI_UNSIGNED_LONG, MPI_BOR, d->node));
    cpu_set_t node;
    memcpy(&node, all, sizeof node);
    d->node_cores = CPU_COUNT(&node);
    if (d->rank_cores < 1) d->rank_cores = 1;
    if (d->node_cores < 1) d->node_cores = 1;
}

void ed_dist_init(ed_dist *d, MPI_Comm comm) {
    memset(d, 0, sizeof *d);
    d->comm = comm;
    ED_MPI_OK(MPI_Comm_set_errhandler(comm, MPI_ERRORS_ARE_FATAL));
    ED_MPI_OK(MPI_Comm_rank(comm, &d->rank));
    ED_MPI_OK(MPI_Comm_size(comm, &d->world));
    ED_MPI_OK(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &d->node));
    ED_MPI_OK(MPI_Comm_rank(d->node, &d->local_rank));
    ED_MPI_OK(MPI_Comm_size(d->node, &d->local_size));
    if (gethostname(d->host, sizeof d->host) != 0) snprintf(d->host, sizeof d->host, "unknown");
    d->host[sizeof d->host - 1] = '\0';
    count_cores(d);
    d->watch = ed_watch_create(comm, d->host);
}

void ed_dist_set_timeout(const ed_dist *d, double seconds) { ed_watch_set_timeout(d->watch, seconds); }

void ed_dist_phase(const ed_dist *d, long step, const char *op) { ed_watch_phase(d->watch, step, op); }

/* Waits for a started collective under the watchdog. */
static void watch(const ed_dist *d, MPI_Request *req) { ed_watch_wait(d->watch, 1, req); }

void ed_dist_free(ed_dist *d) {
    ed_watch_free(d->watch);
    d->watch = NULL;
    if (d->node != MPI_COMM_NULL) MPI_Comm_free(&d->node);
    d->node = MPI_COMM_NULL;
}

int ed_dist_threads(const ed_dist *d, int requested, int *oversubscribed) {
    int t = requested > 0 ? requested : d->node_cores / d->local_size;
    /* A rank bound to fewer CPUs than its share gains nothing from more threads. */
    if (requested <= 0 && t > d->rank_cores) t = d->rank_cores;
    if (t < 1) t = 1;
    if (oversubscribed) *oversubscribed = (long)t * d->local_size > d->node_cores;
    return t;
}

/* The agreement, its waits under the watchdog w (NULL: plain waits). */
static int agree(MPI_Comm comm, ed_watch *w, int status, ed_error *err) {
    int rank, world;
    ED_MPI_OK(MPI_Comm_rank(comm, &rank));
    ED_MPI_OK(MPI_Comm_size(comm, &world));
    /* The lowest failing rank speaks for all: MIN over "my rank if I failed, else world". */
    int mine = status != 0 ? rank : world, first = world;
    MPI_Request r;
    ED_MPI_OK(MPI_Iallreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm, &r));
    ed_watch_wait(w, 1, &r);
    if (first == world) return 0;
    char msg[sizeof err->msg];
    if (rank == first) snprintf(msg, sizeof msg, "%s", err ? err->msg : "failed");
    ED_MPI_OK(MPI_Ibcast(msg, (int)sizeof msg, MPI_CHAR, first, comm, &r));
    ed_watch_wait(w, 1, &r);
    msg[sizeof msg - 1] = '\0';
    if (err) snprintf(err->msg, sizeof err->msg, "%s", msg);
    return -1;
}

int ed_dist_agree(const ed_dist *d, int status, ed_error *err) { return agree(d->comm, d->watch, status, err); }

/* A bare communicator has no watchdog: plain waits. */
int ed_dist_agree_comm(MPI_Comm comm, int status, ed_error *err) { return agree(comm, NULL, status, err); }

void ed_dist_sum(const ed_dist *d, double *x, int n) {
    if (d->world == 1) return;
    MPI_Request r;
    ED_MPI_OK(MPI_Iallreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, d->comm, &r));
    watch(d, &r);
}

void ed_dist_max(const ed_dist *d, double *x, int n) {
    if (d->world == 1) return;
    MPI_Request r;
    ED_MPI_OK(MPI_Iallreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_MAX, d->comm, &r));
    watch(d, &r);
}

void ed_dist_peak_memory(const ed_dist *d, const ed_mem_usage *mine, ed_mem_usage *all) {
    for (int r = 0; r < d->world; r++) all[r] = (ed_mem_usage){-1.0, -1.0, -1.0, -1.0};
    all[d->rank] = *mine;
    ed_mem_sample(&all[d->rank]);
    /* one entry per rank, the others -1 (unknown, below any figure): a gather */
    _Static_assert(sizeof(ed_mem_usage) == ED_MEM_FIELDS * sizeof(double), "ed_mem_usage: doubles only");
    ed_dist_max(d, (double *)all, d->world * ED_MEM_FIELDS);
}

void ed_dist_bcast(const ed_dist *d, void *buf, int bytes, int root) {
    if (d->world == 1) return;
    MPI_Request r;
    ED_MPI_OK(MPI_Ibcast(buf, bytes, MPI_BYTE, root, d->comm, &r));
    watch(d, &r);
}

void ed_dist_bcast_floats(const ed_dist *d, float *p, size_t n, int root) {
    if (d->world == 1) return;
    const size_t chunk = (size_t)1 << 28; /* floats: 1 GB per call, well inside int */
    for (size_t at = 0; at < n; at += chunk) {
        MPI_Request r;
        ED_MPI_OK(MPI_Ibcast(p + at, (int)(n - at < chunk ? n - at : chunk), MPI_FLOAT, root, d->comm, &r));
        watch(d, &r);
    }
}

int ed_dist_check_same(const ed_dist *d, const float *p, size_t n, ed_error *err) {
    uint64_t h = ed_hash_bytes(p, n * sizeof *p), lo = h, hi = h;
    if (d->world > 1) {
        MPI_Request r[2];
        ED_MPI_OK(MPI_Iallreduce(&h, &lo, 1, MPI_UINT64_T, MPI_MIN, d->comm, &r[0]));
        ED_MPI_OK(MPI_Iallreduce(&h, &hi, 1, MPI_UINT64_T, MPI_MAX, d->comm, &r[1]));
        ed_watch_wait(d->watch, 2, r);
    }
    if (lo == hi) return 0;
    return ed_fail(err, "replicas diverged: weight hashes differ across ranks (min %016llx, max %016llx)",
                   (unsigned long long)lo, (unsigned long long)hi);
}

void ed_dist_slices(const ed_dist *d, size_t n, int *counts, int *displs, size_t *lo, size_t *hi) {
    /* MPI counts are int: a model above 2^31 parameters would need chunked collectives. */
    ED_CHECK(n < (size_t)0x7fffffff, "ZeRO: %zu parameters exceed the int range of MPI counts", n);
    for (int r = 0; r < d->world; r++) {
        size_t a = n * (size_t)r / (size_t)d->world, b = n * (size_t)(r + 1) / (size_t)d->world;
        counts[r] = (int)(b - a);
        displs[r] = (int)a;
    }
    *lo = (size_t)displs[d->rank];
    *hi = *lo + (size_t)counts[d->rank];
}

void ed_dist_allgather_slices(const ed_dist *d, float *buf, const int *counts, const int *displs) {
    if (d->world == 1) return;
    MPI_Request r;
    ED_MPI_OK(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_FLOAT, d->comm, &r));
    watch(d, &r);
}

void ed_dist_gather_slices(const ed_dist *d, const float *mine, float *full, const int *counts, const int *displs) {
    MPI_Request r;
    ED_MPI_OK(MPI_Igatherv(mine, counts[d->rank], MPI_FLOAT, full, counts, displs, MPI_FLOAT, 0, d->comm, &r));
    watch(d, &r);
}

void *ed_dist_gather_bytes(const ed_dist *d, const void *mine, size_t n, size_t *total) {
    ED_CHECK(n < (size_t)0x7fffffff, "gather: %zu bytes exceed the int range of MPI counts", n);
    int me = (int)n, *counts = NULL, *displs = NULL;
    char *all = NULL;
    if (d->rank == 0) counts = ed_malloc((size_t)d->world * sizeof *counts);
    ED_MPI_OK(MPI_Gather(&me, 1, MPI_INT, counts, 1, MPI_INT, 0, d->comm));
    if (d->rank == 0) {
        displs = ed_malloc((size_t)d->world * sizeof *displs);
        size_t sum = 0;
        for (int r = 0; r < d->world; r++) {
            ED_CHECK(sum + (size_t)counts[r] < (size_t)0x7fffffff, "gather: more than 2 GiB in total");
            displs[r] = (int)sum;
            sum += (size_t)counts[r];
        }
        all = ed_malloc(sum + 1);
        *total = sum;
    }
    ED_MPI_OK(MPI_Gatherv(mine, me, MPI_BYTE, all, counts, displs, MPI_BYTE, 0, d->comm));
    free(counts);
    free(displs);
    return all;
}
