/* dist.h — everything the trainer says over MPI, in one place (src/comm/).
 *
 * The rule every function here serves: ranks stay in lock-step. Each collective is
 * called by every rank, in the same order, even a rank with nothing to contribute (an
 * empty last micro-batch, a failed file read): a rank that skips one hangs all others.
 * So failures are never handled locally: ed_dist_agree() makes every rank learn that
 * some rank failed (and why), and they all leave together.
 *
 * Unrecoverable MPI errors abort the job (MPI_ERRORS_ARE_FATAL on the communicator),
 * and a rank that exits on its own makes mpirun tear the job down; nobody waits forever. */
#ifndef EXPERT_DIST_H
#define EXPERT_DIST_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "expert/common.h"
#include "expert/memstat.h"

/* Every MPI call of src/comm goes through this: a failure is a broken invariant, and
 * ED_DIE names the call and aborts the whole job. */
#define ED_MPI_OK(call) ED_CHECK((call) == MPI_SUCCESS, "MPI call failed: %s", #call)

/* The watchdog of --comm-timeout (watchdog.c): owned by ed_dist, opaque. */
typedef struct ed_watch ed_watch;

/* --comm-timeout's default, seconds (NCCL's watchdog waits 10 min too). */
#define ED_COMM_TIMEOUT_DEFAULT 600.0

typedef struct {
    MPI_Comm comm;      /* the training communicator (not owned) */
    int rank, world;
    MPI_Comm node;      /* ranks sharing this node's memory (owned) */
    int local_rank, local_size;
    int node_cores;     /* CPUs the ranks on this node may use (union of their affinity masks) */
    int rank_cores;     /* CPUs this rank may use (its affinity mask) */
    char host[64];      /* gethostname() */
    ed_watch *watch;    /* every wait below goes through it (owned) */
} ed_dist;

/* Before MPI_Init: Open MPI tuning the gradient exchange needs, as environment defaults a
 * user's own OMPI_MCA_* settings override. Open MPI 4's non-blocking allreduce (libnbc)
 * picks a binomial-tree algorithm for our bucket sizes, which moves each bucket log2(N)
 * times; Rabenseifner's reduce-scatter + allgather moves it 2(N-1)/N times: measured
 * 2.6x faster on 4 emulated nodes at 1 Gbit/s (docs/multinode.md). Other MPIs ignore it. */
void ed_dist_preinit(void);

/* Collective. Sets MPI_ERRORS_ARE_FATAL on comm, splits off the node communicator and
 * starts the watchdog (timeout ED_COMM_TIMEOUT_DEFAULT). */
void ed_dist_init(ed_dist *d, MPI_Comm comm);
void ed_dist_free(ed_dist *d);

/* ---- the watchdog (--comm-timeout) --------------------------------------------------------
 * No collective of this module waits longer than the timeout: every wait is a test loop
 * (ed_watch_wait). When one passes the timeout, the live ranks find out which ranks have
 * not arrived and the job ends with ONE line on stderr and exit status
 * ED_EXIT_COMM_TIMEOUT (4), e.g.
 *   expert-dist: rank 1 (n2) has not reached step 61's gradient allreduce for 30 s: stopping
 * Nothing is written on the way out, so the last good checkpoint is untouched. The step and
 * operation come from ed_dist_phase(), which the trainer calls as it moves between phases.
 * Not a thread: only the main thread calls MPI (FUNNELED). Protocol in watchdog.c.
 * Test hook: ED_WATCHDOG_DEBUG_DIE_RANK=R makes rank R _exit(1) in the middle of a report
 * (tests/faults "die-in-report"). */

/* Local. seconds <= 0 turns the watchdog off (plain blocking waits). */
void ed_dist_set_timeout(const ed_dist *d, double seconds);
/* Local, cheap (two stores): what this rank is doing, for the message. `op` is a string
 * literal (kept, not copied), e.g. "gradient allreduce"; step 0 = before the first step. */
void ed_dist_phase(const ed_dist *d, long step, const char *op);

/* The watchdog's own interface, for code holding requests outside ed_dist (the gradient
 * buckets). ed_watch_create is collective over comm (a duplicate communicator for the
 * reports, the host names of all ranks). */
ed_watch *ed_watch_create(MPI_Comm comm, const char *host);
void ed_watch_free(ed_watch *w);
void ed_watch_set_timeout(ed_watch *w, double seconds);
void ed_watch_phase(ed_watch *w, long step, const char *op);
/* MPI_Waitall under the timeout; w == NULL: plain MPI_Waitall. */
void ed_watch_wait(ed_watch *w, int n, MPI_Request *req);

/* Threads per rank: `requested` if > 0, else max(1, min(rank_cores, node_cores / local_size)):
 * each node's own cores over that node's own ranks, so nodes of different sizes differ.
 * *oversubscribed is set when local_size x threads > node_cores (worth a warning). */
int ed_dist_threads(const ed_dist *d, int requested, int *oversubscribed);

/* Collective. status: 0 = this rank succeeded, -1 = failed with err filled. Returns 0 when
 * every rank succeeded; otherwise -1 on EVERY rank, with err holding the message of the
 * lowest failing rank (so rank 0 can print the one line). */
int ed_dist_agree(const ed_dist *d, int status, ed_error *err);
/* The same agreement on a bare communicator, for modules whose API is handed one (the
 * prepared token files). Also the way to share the verdict of a step only rank 0 ran:
 * the other ranks pass 0 and receive rank 0's message. */
int ed_dist_agree_comm(MPI_Comm comm, int status, ed_error *err);

/* Collective in-place reductions of small arrays. */
void ed_dist_sum(const ed_dist *d, double *x, int n);
void ed_dist_max(const ed_dist *d, double *x, int n);
void ed_dist_bcast(const ed_dist *d, void *buf, int bytes, int root);
/* Collective: every rank's memory peaks (memstat.h) into all[world], on every rank:
 * this rank's `mine` with one more sample taken now. */
void ed_dist_peak_memory(const ed_dist *d, const ed_mem_usage *mine, ed_mem_usage *all);

/* Collective: root's p[0..n) to every rank, in chunks (MPI counts are int). */
void ed_dist_bcast_floats(const ed_dist *d, float *p, size_t n, int root);

/* Collective. Returns on rank 0 (NULL elsewhere; caller frees) one line describing where
 * the ranks run, host by host in order of their first rank:
 *   "n1: ranks 0-1, 2 x 1 thread (2 cores); n2: ranks 2-3, 2 x 1 thread (2 cores)"
 * `threads` is this rank's thread count (ranks of a host may differ). After 8 hosts the
 * rest are counted, not listed. */
char *ed_dist_hosts_summary(const ed_dist *d, int threads);

/* ---- ZeRO-1: the flat parameter buffer cut into one contiguous slice per rank ---------- */

/* Slice of rank r: [n*r/W, n*(r+1)/W). counts/displs (world entries, caller-allocated)
 * receive every rank's slice for the v-collectives below. */
void ed_dist_slices(const ed_dist *d, size_t n, int *counts, int *displs, size_t *lo, size_t *hi);
/* Collective: every rank contributes its slice of buf, every rank gets the whole buffer. */
void ed_dist_allgather_slices(const ed_dist *d, float *buf, const int *counts, const int *displs);
/* Collective: rank 0 receives every slice into full (full may be NULL on other ranks). */
void ed_dist_gather_slices(const ed_dist *d, const float *mine, float *full, const int *counts, const int *displs);

/* Collective: rank 0 receives every rank's mine[0..n) concatenated in rank order
 * (malloc'd, *total bytes; the caller frees); other ranks get NULL. Under 2 GiB in all. */
void *ed_dist_gather_bytes(const ed_dist *d, const void *mine, size_t n, size_t *total);
/* Collective. 0 when every rank's p[0..n) hashes alike (ed_hash_bytes: replicas that are
 * not bit-identical differ), else -1 (with min/max hashes in err). */
int ed_dist_check_same(const ed_dist *d, const float *p, size_t n, ed_error *err);

/* ---- bucketed gradient sync -------------------------------------------------------------
 * The flat gradient buffer is cut into buckets of bucket_bytes. Backward reports ranges
 * that are final (from the end of the buffer towards the start); a bucket whose every
 * float is final starts its collective at once, overlapping communication with the rest
 * of backward. Buckets are always LAUNCHED in descending index order, whatever order
 * the ranges came in, because non-blocking collectives must be started in the same order on
 * every rank; a rank with an empty micro-batch launches them all in that same order in
 * ed_grad_sync_finish().
 *
 * Two modes:
 *  - allreduce (ed_grad_sync_init, --zero 0): each bucket is an MPI_Iallreduce(SUM) in
 *    place; after finish every float of buf holds the sum over ranks.
 *  - reduce-scatter (ed_grad_sync_init_scatter, ZeRO-1): each bucket is an
 *    MPI_Ireduce_scatter(SUM) whose recvcounts are the bucket's overlap with every rank's
 *    slice (zero for ranks it does not touch). It runs in place (MPI_IN_PLACE: this
 *    rank's part of the sum lands at the bucket's start), so no second gradient-sized
 *    buffer exists; finish moves each part to its place. After finish ONLY buf[lo, hi),
 *    this rank's slice, holds the sum over ranks: the rest of buf is scratch (partly this
 *    rank's local gradient, partly MPI's) and must not be read. Half the traffic of an
 *    allreduce (each rank receives 1/W of the sum instead of all of it).
 *
 * bf16 on the wire (ed_grad_sync_set_bf16, --grad-comm bf16; allreduce mode only): half
 * the bytes of the fp32 allreduce, the sum still taken in fp32. Per bucket, in two
 * collectives of 16-bit values:
 *   1. encode the bucket to bf16 (round to nearest even) and MPI_Ialltoall it: rank r
 *      receives chunk r (ceil(len / W) values) of every rank's bucket;
 *   2. decode, sum the W copies of chunk r in fp32 in rank order, encode the sum, and
 *      MPI_Iallgather the chunks: every rank decodes the same bf16 sum.
 * Bytes sent per rank: 2 (W-1)/W x 2 B per float, against 2 (W-1)/W x 4 B for a ring
 * allreduce of fp32. Each gradient is rounded twice (its own value, the sum: relative
 * error <= 2^-8 each), never once per hop as a bf16 ring would, and every rank gets the
 * bit-identical result, so the replicas stay identical. Step 1 overlaps backward like
 * the fp32 buckets; step 2 runs in finish (summing bucket i while i+1's gather flies).
 * Memory: two uint16 buffers the size of the gradient, 4 B/param. */
typedef struct {
    MPI_Comm comm;
    int world, rank;
    float *buf;
    size_t n, bucket;    /* floats in buf; floats per bucket */
    int n_buckets;
    size_t *done;        /* floats of each bucket reported final in this step */
    int next;            /* next bucket to launch (counts down), -1 when all launched */
    MPI_Request *req;
    /* reduce-scatter mode (scatter = 1) */
    int scatter;
    size_t lo, hi;       /* this rank's slice of buf */
    int *recvcounts;     /* [n_buckets * world]: bucket i's overlap with rank r's slice; MPI
                            must not see them change while the collective runs, so one row
                            per bucket, computed once */
    /* bf16 mode (bf16 = 1) */
    int bf16;
    size_t chunk;        /* values per rank per bucket: ceil(bucket / world) */
    uint16_t *wire;      /* [n_buckets][world * chunk]: the encoded bucket, then the gathered sum */
    uint16_t *peers;     /* [n_buckets][world * chunk]: this rank's chunk from every rank */
    MPI_Request *req2;   /* the allgathers */
    long n_launched;     /* buckets launched during backward (overlapped), all steps */
    long n_total;        /* buckets launched, all steps */
    ed_watch *watch;     /* waits for the buckets under it when set (not owned; NULL = plain waits) */
} ed_grad_sync;

/* Allreduce mode. */
void ed_grad_sync_init(ed_grad_sync *g, MPI_Comm comm, float *buf, size_t n, size_t bucket_bytes);
/* Reduce-scatter mode: counts/displs are every rank's slice of buf (from ed_dist_slices,
 * contiguous and ascending in rank; copied, the caller keeps its arrays). */
void ed_grad_sync_init_scatter(ed_grad_sync *g, MPI_Comm comm, float *buf, size_t n, size_t bucket_bytes,
                               const int *counts, const int *displs);
/* Allreduce mode with bf16 on the wire (see above); call once after ed_grad_sync_init. */
void ed_grad_sync_set_bf16(ed_grad_sync *g);
void ed_grad_sync_free(ed_grad_sync *g);

/* Before the last micro-batch's backward of a step. */
void ed_grad_sync_begin(ed_grad_sync *g);
/* An ed_grad_ready_fn (ctx = the ed_grad_sync). */
void ed_grad_sync_ready(void *ctx, size_t offset, size_t count);
/* Launches the remaining buckets and waits for all: buf then holds the sum over ranks
 * (reduce-scatter mode: only buf[lo, hi) does). */
void ed_grad_sync_finish(ed_grad_sync *g);

#endif
