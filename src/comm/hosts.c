/* hosts.c — where the ranks run, for the start-up banner (see dist.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expert/dist.h"

enum { MAX_LISTED = 8 };

typedef struct {
    char host[64];
    int threads, cores;
} rank_place;

/* Appends to a growing string. */
static void add(char **s, size_t *len, size_t *cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void add(char **s, size_t *len, size_t *cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if ((size_t)k >= sizeof tmp) k = (int)sizeof tmp - 1;
    if (*len + (size_t)k + 1 > *cap) {
        *cap = (*len + (size_t)k + 1) * 2;
        *s = ed_realloc(*s, *cap);
    }
    memcpy(*s + *len, tmp, (size_t)k + 1);
    *len += (size_t)k;
}

char *ed_dist_hosts_summary(const ed_dist *d, int threads) {
    rank_place me;
    memset(&me, 0, sizeof me);
    snprintf(me.host, sizeof me.host, "%s", d->host);
    me.threads = threads;
    me.cores = d->node_cores;
    rank_place *all = d->rank == 0 ? ed_malloc((size_t)d->world * sizeof *all) : NULL;
    MPI_Request req;
    ED_MPI_OK(MPI_Igather(&me, (int)sizeof me, MPI_BYTE, all, (int)sizeof me, MPI_BYTE, 0, d->comm, &req));
    ed_watch_wait(d->watch, 1, &req);
    if (d->rank != 0) return NULL;

    char *s = NULL;
    size_t len = 0, cap = 0;
    int *seen = ed_calloc((size_t)d->world, sizeof *seen);
    int hosts = 0, unlisted_ranks = 0;
    for (int r = 0; r < d->world; r++) {
        if (seen[r]) continue;
        /* This host's ranks, its thread counts (min..max) and whether its ranks are contiguous. */
        int n = 0, tmin = all[r].threads, tmax = all[r].threads, last = r, contiguous = 1;
        for (int q = r; q < d->world; q++) {
            if (seen[q] || strcmp(all[q].host, all[r].host) != 0) continue;
            seen[q] = 1;
            n++;
            if (q != r && q != last + 1) contiguous = 0;
            last = q;
            if (all[q].threads < tmin) tmin = all[q].threads;
            if (all[q].threads > tmax) tmax = all[q].threads;
        }
        hosts++;
        if (hosts > MAX_LISTED) {
            unlisted_ranks += n;
            continue;
        }
        add(&s, &len, &cap, "%s%s: ", hosts > 1 ? "; " : "", all[r].host);
        if (n == 1) add(&s, &len, &cap, "rank %d, ", r);
        else if (contiguous) add(&s, &len, &cap, "ranks %d-%d, ", r, last);
        else add(&s, &len, &cap, "ranks %d,...,%d, ", r, last);
        if (tmin == tmax) add(&s, &len, &cap, "%d x %d thread%s", n, tmin, tmin == 1 ? "" : "s");
        else add(&s, &len, &cap, "%d x %d-%d threads", n, tmin, tmax);
        add(&s, &len, &cap, " (%d core%s)", all[r].cores, all[r].cores == 1 ? "" : "s");
    }
    if (hosts > MAX_LISTED) add(&s, &len, &cap, "; and %d more hosts with %d ranks", hosts - MAX_LISTED, unlisted_ranks);
    free(seen);
    free(all);
    return s;
}
