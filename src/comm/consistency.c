/* consistency.c — every rank holds what rank 0 holds: fingerprints and option lines
 * compared at start-up (see consistency.h). */
#include <stdlib.h>
#include <string.h>

#include "expert/consistency.h"

/* Rank 0's host name, for the error text. */
static void root_host(const ed_dist *d, char *host, size_t cap) {
    char buf[sizeof d->host];
    memcpy(buf, d->host, sizeof buf);
    ed_dist_bcast(d, buf, (int)sizeof buf, 0);
    buf[sizeof buf - 1] = '\0';
    snprintf(host, cap, "%s", buf);
}

int ed_dist_check_fingerprints(const ed_dist *d, const ed_fingerprint *fp, int n, ed_error *err) {
    if (d->world == 1 || n <= 0) return 0;
    uint64_t *root = ed_malloc((size_t)n * 2 * sizeof *root);
    for (int i = 0; i < n; i++) {
        root[2 * i] = fp[i].count;
        root[2 * i + 1] = fp[i].hash;
    }
    ed_dist_bcast(d, root, (int)((size_t)n * 2 * sizeof *root), 0);
    char host0[sizeof d->host];
    root_host(d, host0, sizeof host0);
    int status = 0;
    for (int i = 0; i < n && status == 0; i++) {
        if (fp[i].count == root[2 * i] && fp[i].hash == root[2 * i + 1]) continue;
        status = ed_fail(err,
                         "rank %d on %s: %s%s%s differ from rank 0's (on %s): %llu %s vs %llu, hash %016llx vs "
                         "%016llx; every rank must read identical data (a stale or truncated copy on one node?)",
                         d->rank, d->host, fp[i].what, fp[i].file[0] ? " of " : "", fp[i].file, host0,
                         (unsigned long long)fp[i].count, fp[i].unit, (unsigned long long)root[2 * i],
                         (unsigned long long)fp[i].hash, (unsigned long long)root[2 * i + 1]);
    }
    free(root);
    return ed_dist_agree(d, status, err);
}

/* The line of text starting at p (without its newline) into out. Returns the next line. */
static const char *take_line(const char *p, char *out, size_t cap) {
    size_t k = strcspn(p, "\n");
    snprintf(out, cap, "%.*s", (int)(k < cap ? k : cap - 1), p);
    return p[k] ? p + k + 1 : p + k;
}

int ed_dist_check_lines(const ed_dist *d, const char *what, const char *text, const char *source, ed_error *err) {
    if (d->world == 1) return 0;
    long len = (long)strlen(text);
    ed_dist_bcast(d, &len, sizeof len, 0);
    ED_CHECK(len < 0x7fffffffL, "%s: %ld bytes to compare", what, len);
    char *root = ed_malloc((size_t)len + 1);
    if (d->rank == 0) memcpy(root, text, (size_t)len);
    ed_dist_bcast(d, root, (int)len, 0);
    root[len] = '\0';
    char host0[sizeof d->host];
    root_host(d, host0, sizeof host0);
    int status = 0;
    if (strcmp(root, text) != 0) {
        const char *a = text, *b = root;
        char la[512] = "", lb[512] = "";
        while (*a || *b) {
            a = take_line(a, la, sizeof la);
            b = take_line(b, lb, sizeof lb);
            if (strcmp(la, lb) != 0) break;
        }
        status = ed_fail(err, "rank %d on %s: %s differ from rank 0's (on %s): '%s' vs '%s'%s%s", d->rank, d->host,
                         what, host0, la, lb, source[0] ? "; check " : "", source);
    }
    free(root);
    return ed_dist_agree(d, status, err);
}
