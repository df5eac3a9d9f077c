/* watchdog.c — --comm-timeout: no wait of src/comm lasts longer than the timeout (dist.h,
 * "the watchdog").
 *
 * Every wait for a collective is a test loop on the calling (main) thread instead of a
 * blocking MPI call, so no second thread calls MPI (the library is initialised FUNNELED)
 * and a rank that waits too long finds out by itself. It then learns who is missing by
 * asking everyone, on its own duplicate of the communicator so that no report can be
 * mistaken for a training message:
 *   1. it sends its own status (rank, wait number, step, operation) to every other rank
 *      (small eager messages: the sends complete whether or not the peer ever reads them);
 *   2. every rank that waits probes for such reports every PROBE_S seconds and, seeing
 *      one, joins in (sends its own status): so the live ranks all report within about
 *      PROBE_S of the first one, and each collects the others' statuses for GRACE_S;
 *   3. the ranks that never reported are the ones that did not arrive (stopped, hung in a
 *      system call, spinning elsewhere). The lowest reporting rank prints the one line and
 *      calls MPI_Abort(ED_EXIT_COMM_TIMEOUT); mpirun then kills every process of the job,
 *      SIGSTOPped ones included (SIGKILL needs no cooperation).
 * If that rank dies before it aborts the job (a fault during the report), the others
 * wait another GRACE_S and then print the line and abort themselves: the job still ends.
 *
 * A SIGSTOP/SIGCONT shorter than the timeout only lengthens one wait: the timeout is per
 * wait, measured on the monotonic clock, so nothing trips.
 *
 * Cost when nothing goes wrong: one clock read per test of a pending request, nothing at
 * all for a wait that completes at once; after WAIT_SPIN_S of waiting the loop sleeps
 * SLEEP_US between tests, so a rank waiting for a slow peer stops burning a core. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "expert/dist.h"

enum { TAG_REPORT = 0x7764 };
static const double PROBE_S = 0.1;      /* how often a waiting rank looks for reports */
static const double GRACE_S = 3.0;      /* how long the reporting ranks collect statuses */
static const double WAIT_SPIN_S = 0.05; /* spin this long before sleeping between tests */
static const long SLEEP_US = 200;

struct ed_watch {
    MPI_Comm comm; /* a duplicate of the training communicator: reports only */
    int rank, world;
    char (*hosts)[64]; /* [world]: for naming the missing ranks */
    double timeout;    /* seconds; 0 = off (plain MPI_Waitall) */
    long step;         /* what the rank is doing, for the message (ed_dist_phase) */
    const char *op;
    long seq; /* watched waits entered so far: how far each rank got */
    int die_in_report; /* test hook ED_WATCHDOG_DEBUG_DIE_RANK: this rank dies while reporting */
};

/* One rank's answer: where it waits and for how long. */
typedef struct {
    int rank;
    long seq, step;
    double waited;
    char op[64];
} report_msg;

ed_watch *ed_watch_create(MPI_Comm comm, const char *host) {
    ed_watch *w = ed_calloc(1, sizeof *w);
    ED_MPI_OK(MPI_Comm_dup(comm, &w->comm));
    ED_MPI_OK(MPI_Comm_rank(comm, &w->rank));
    ED_MPI_OK(MPI_Comm_size(comm, &w->world));
    w->hosts = ed_calloc((size_t)w->world, sizeof *w->hosts);
    char mine[64];
    snprintf(mine, sizeof mine, "%s", host);
    ED_MPI_OK(MPI_Allgather(mine, (int)sizeof mine, MPI_CHAR, w->hosts, (int)sizeof mine, MPI_CHAR, comm));
    w->timeout = ED_COMM_TIMEOUT_DEFAULT;
    w->op = "start-up exchange";
    const char *die = getenv("ED_WATCHDOG_DEBUG_DIE_RANK");
    w->die_in_report = die && *die && atoi(die) == w->rank;
    return w;
}

void ed_watch_free(ed_watch *w) {
    if (!w) return;
    MPI_Comm_free(&w->comm);
    free(w->hosts);
    free(w);
}

void ed_watch_set_timeout(ed_watch *w, double seconds) {
    if (w) w->timeout = seconds;
}

void ed_watch_phase(ed_watch *w, long step, const char *op) {
    if (!w) return;
    w->step = step;
    w->op = op;
}

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* "step 61's gradient allreduce", or the operation alone before the first step. */
static void describe(char *buf, size_t cap, long step, const char *op) {
    if (step > 0) snprintf(buf, cap, "step %ld's %s", step, op);
    else snprintf(buf, cap, "the %s", op);
}

/* Formats the one line from the statuses collected (got[r] set for the ranks that answered). */
static void format_line(const ed_watch *w, const report_msg *msg, const char *got, char *line, size_t cap) {
    /* The operation the missing ranks have not reached: that of the reporting rank that is
     * furthest behind (ranks ahead of it wait in later operations that depend on it). */
    int ref = -1;
    for (int r = 0; r < w->world; r++)
        if (got[r] && (ref < 0 || msg[r].seq < msg[ref].seq)) ref = r;
    char what[128];
    describe(what, sizeof what, msg[ref].step, msg[ref].op);
    double waited = 0; /* the longest wait: the one that passed the timeout */
    for (int r = 0; r < w->world; r++)
        if (got[r] && msg[r].waited > waited) waited = msg[r].waited;
    size_t n = 0;
    int missing = 0, listed = 0;
    for (int r = 0; r < w->world; r++) missing += !got[r];
    n += (size_t)snprintf(line + n, cap - n, "expert-dist: ");
    if (missing == 0) {
        snprintf(line + n, cap - n, "every rank reached %s, but it has not completed for %.0f s: stopping", what,
                 waited);
        return;
    }
    n += (size_t)snprintf(line + n, cap - n, "rank%s ", missing > 1 ? "s" : "");
    for (int r = 0; r < w->world && n < cap; r++) {
        if (got[r]) continue;
        if (listed == 8) { /* a whole node or more: the first few name it */
            n += (size_t)snprintf(line + n, cap - n, ", and %d more", missing - listed);
            break;
        }
        n += (size_t)snprintf(line + n, cap - n, "%s%d (%s)", listed ? ", " : "", r, w->hosts[r]);
        listed++;
    }
    if (n < cap)
        snprintf(line + n, cap - n, " ha%s not reached %s for %.0f s: stopping", missing > 1 ? "ve" : "s", what,
                 waited);
}

static void record(report_msg *msg, char *got, const report_msg *m, int world) {
    if (m->rank < 0 || m->rank >= world) return;
    msg[m->rank] = *m;
    msg[m->rank].op[sizeof m->op - 1] = '\0';
    got[m->rank] = 1;
}

/* Collects reports until every rank answered or the deadline passed. Returns how many answered. */
static int collect(const ed_watch *w, report_msg *msg, char *got, double deadline) {
    int answered = 0;
    for (int r = 0; r < w->world; r++) answered += got[r];
    while (answered < w->world && ed_now() < deadline) {
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, TAG_REPORT, w->comm, &flag, &st);
        if (!flag) {
            sleep_us(1000);
            continue;
        }
        report_msg m;
        MPI_Recv(&m, (int)sizeof m, MPI_BYTE, st.MPI_SOURCE, TAG_REPORT, w->comm, MPI_STATUS_IGNORE);
        if (m.rank < 0 || m.rank >= w->world) continue;
        answered += !got[m.rank];
        record(msg, got, &m, w->world);
    }
    return answered;
}

/* A wait of this rank passed the timeout, or another rank reported: find the missing
 * ranks, print the line (lowest reporting rank) and end the job. Never returns. */
static _Noreturn void report(ed_watch *w, double t0) {
    report_msg mine;
    memset(&mine, 0, sizeof mine);
    mine.rank = w->rank;
    mine.seq = w->seq;
    mine.step = w->step;
    mine.waited = ed_now() - t0;
    snprintf(mine.op, sizeof mine.op, "%s", w->op);
    for (int r = 0; r < w->world; r++) {
        if (r == w->rank) continue;
        MPI_Request req;
        /* Never waited for: a stopped peer never receives it, and we are about to abort. */
        if (MPI_Isend(&mine, (int)sizeof mine, MPI_BYTE, r, TAG_REPORT, w->comm, &req) == MPI_SUCCESS)
            MPI_Request_free(&req);
    }
    if (w->die_in_report) _exit(ED_EXIT_FAILURE); /* test hook: a rank lost during the report */
    report_msg *msg = ed_calloc((size_t)w->world, sizeof *msg);
    char *got = ed_calloc((size_t)w->world, 1);
    record(msg, got, &mine, w->world);
    collect(w, msg, got, ed_now() + GRACE_S);
    int printer = w->rank;
    for (int r = 0; r < w->rank; r++)
        if (got[r]) {
            printer = r;
            break;
        }
    char line[1024];
    format_line(w, msg, got, line, sizeof line);
    if (printer != w->rank) {
        /* The printer aborts the job within moments (mpirun kills this process); if it
         * died instead, speak for it: the missing ranks are the same ones. */
        for (double until = ed_now() + GRACE_S; ed_now() < until;) sleep_us(10000);
    }
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
    MPI_Abort(w->comm, ED_EXIT_COMM_TIMEOUT);
    _exit(ED_EXIT_COMM_TIMEOUT);
}

void ed_watch_wait(ed_watch *w, int n, MPI_Request *req) {
    if (!w || w->timeout <= 0 || w->world == 1) {
        ED_MPI_OK(MPI_Waitall(n, req, MPI_STATUSES_IGNORE));
        return;
    }
    w->seq++;
    int done = 0;
    ED_MPI_OK(MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE));
    if (done) return;
    double t0 = ed_now(), next_probe = t0 + PROBE_S;
    for (;;) {
        ED_MPI_OK(MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE));
        if (done) return;
        double now = ed_now();
        if (now < next_probe) {
            if (now - t0 > WAIT_SPIN_S) sleep_us(SLEEP_US);
            continue;
        }
        next_probe = now + PROBE_S;
        int flag = 0;
        ED_MPI_OK(MPI_Iprobe(MPI_ANY_SOURCE, TAG_REPORT, w->comm, &flag, MPI_STATUS_IGNORE));
        if (flag || now - t0 >= w->timeout) report(w, t0);
    }
}
