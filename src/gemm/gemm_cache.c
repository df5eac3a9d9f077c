/* gemm_cache.c — the measurement cache file (expert/gemm_cache.h): its path, its keys, one
 * parser for its lines, and the atomic rewrite. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "expert/gemm_cache.h"
#include "expert/options.h"

#define HEADER "# expert-dist measurements v1 (docs/design.md, \"GEMM backend\"); delete to measure again"

int ed_gemm_cache_path(char *buf, size_t len) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n = -1;
    if (xdg && xdg[0] == '/') /* XDG: a relative value is invalid and ignored */
        n = snprintf(buf, len, "%s/expert-dist/gemm.tsv", xdg);
    else if (home && home[0])
        n = snprintf(buf, len, "%s/.cache/expert-dist/gemm.tsv", home);
    if (n < 0 || (size_t)n >= len) {
        if (len) buf[0] = '\0';
        return -1;
    }
    return 0;
}

/* Tabs and newlines would break the line format; a name never needs them. */
static void tidy(char *s) {
    for (; *s; s++)
        if (*s == '\t' || *s == '\n' || *s == '\r') *s = ' ';
}

void ed_gemm_cache_machine_key(const ed_machine *m, char *buf, size_t len) {
    snprintf(buf, len, "%s | %s | %s | oneDNN %s %s", m->cpu, m->isa, openblas_get_config(),
             m->have_onednn ? m->onednn_version : "none", m->have_onednn ? m->onednn_isa : "");
    tidy(buf);
}

/* One value list "a=1.5 b=2": every item NAME=NUMBER, the number finite and >= 0. */
static int values_ok(const char *v) {
    int items = 0;
    while (*v) {
        while (*v == ' ') v++;
        if (!*v) break;
        const char *eq = strchr(v, '=');
        const char *sp = strchr(v, ' ');
        if (!eq || eq == v || (sp && sp < eq)) return 0;
        char *end;
        double x = strtod(eq + 1, &end);
        if (end == eq + 1 || !(*end == ' ' || *end == '\0') || !isfinite(x) || x < 0) return 0;
        v = end;
        items++;
    }
    return items > 0;
}

/* Splits one line (NUL-terminated, no newline) into r; 0 if well formed. */
static int parse_line(char *line, ed_gemm_cache_rec *r) {
    char *f[5];
    int n = 0;
    for (char *p = line; n < 5; n++) {
        f[n] = p;
        char *tab = strchr(p, '\t');
        if (!tab) {
            n++;
            break;
        }
        *tab = '\0';
        p = tab + 1;
    }
    if (n != 5 || strchr(f[4], '\t')) return -1;
    if (strcmp(f[0], "gemm") != 0 && strcmp(f[0], "peak") != 0) return -1;
    if (!f[1][0] || !f[2][0] || !f[3][0] || !values_ok(f[4])) return -1;
    if (strlen(f[1]) >= sizeof r->machine || strlen(f[2]) >= sizeof r->what || strlen(f[3]) >= sizeof r->date ||
        strlen(f[4]) >= sizeof r->values)
        return -1;
    snprintf(r->kind, sizeof r->kind, "%s", f[0]);
    snprintf(r->machine, sizeof r->machine, "%s", f[1]);
    snprintf(r->what, sizeof r->what, "%s", f[2]);
    snprintf(r->date, sizeof r->date, "%s", f[3]);
    snprintf(r->values, sizeof r->values, "%s", f[4]);
    return 0;
}

/* Every well-formed record of path (malloc'ed array, *n of them; NULL when none or no
 * file). The first damaged line is reported in warn. A wrong first line (another format,
 * or not ours) discards the whole file. */
static ed_gemm_cache_rec *read_all(const char *path, size_t *n, char *warn, size_t warn_len) {
    *n = 0;
    if (warn && warn_len) warn[0] = '\0';
    if (access(path, F_OK) != 0) return NULL;
    char *data;
    size_t len;
    ed_error err;
    if (ed_read_file(path, &data, &len, &err) != 0) {
        if (warn) snprintf(warn, warn_len, "%s: ignored, measuring again", err.msg);
        return NULL;
    }
    ed_gemm_cache_rec *recs = NULL;
    size_t cap = 0;
    int lineno = 0, bad = 0;
    for (char *p = data, *end = data + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n_line = nl ? (size_t)(nl - p) : (size_t)(end - p);
        int nul = memchr(p, '\0', n_line) != NULL; /* binary junk: never ours */
        p[n_line] = '\0';
        lineno++;
        if (lineno == 1 && (nul || strcmp(p, HEADER) != 0)) {
            bad = lineno;
            break;
        }
        if (lineno > 1 && (nul || (p[0] && p[0] != '#'))) {
            ed_gemm_cache_rec r;
            if (!nul && n_line < 1024 && parse_line(p, &r) == 0) {
                r.line = lineno;
                if (*n == cap) recs = ed_realloc(recs, (cap = cap ? 2 * cap : 16) * sizeof *recs);
                recs[(*n)++] = r;
            } else if (!bad) {
                bad = lineno;
            }
        }
        if (!nl) break;
        p = nl + 1;
    }
    if (bad == 1) *n = 0;
    if (bad && warn)
        snprintf(warn, warn_len, "%s:%d: %s: ignored, measuring again", path, bad,
                 bad == 1 ? "not an expert-dist measurement file (v1)" : "damaged line");
    free(data);
    return recs;
}

static int same(const ed_gemm_cache_rec *r, const char *kind, const char *machine, const char *what) {
    return strcmp(r->kind, kind) == 0 && strcmp(r->machine, machine) == 0 && strcmp(r->what, what) == 0;
}

int ed_gemm_cache_find(const char *path, const char *kind, const char *machine, const char *what,
                       ed_gemm_cache_rec *out, char *warn, size_t warn_len) {
    size_t n;
    ed_gemm_cache_rec *recs = read_all(path, &n, warn, warn_len);
    int found = 0;
    for (size_t i = n; i-- > 0 && !found;) /* the last one, should a hand edit duplicate it */
        if (same(&recs[i], kind, machine, what)) *out = recs[i], found = 1;
    free(recs);
    return found;
}

int ed_gemm_cache_put(const char *path, const char *kind, const char *machine, const char *what,
                      const char *values, ed_error *err) {
    ed_gemm_cache_rec add = {0};
    snprintf(add.kind, sizeof add.kind, "%s", kind);
    snprintf(add.machine, sizeof add.machine, "%s", machine);
    snprintf(add.what, sizeof add.what, "%s", what);
    snprintf(add.values, sizeof add.values, "%s", values);
    tidy(add.machine), tidy(add.what), tidy(add.values);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(add.date, sizeof add.date, "%Y-%m-%d %H:%M UTC", &tm);
    if (!values_ok(add.values)) return ed_fail(err, "%s: refusing to store values '%s'", path, add.values);

    char dir[ED_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (ed_make_dirs(dir, err) != 0) return -1;
    }
    size_t n;
    ed_gemm_cache_rec *recs = read_all(path, &n, NULL, 0);
    size_t cap = strlen(HEADER) + 2 + (n + 1) * (sizeof add + 8), at = 0;
    char *text = ed_malloc(cap);
    at += (size_t)snprintf(text + at, cap - at, "%s\n", HEADER);
    for (size_t i = 0; i <= n; i++) {
        const ed_gemm_cache_rec *r = i < n ? &recs[i] : &add;
        if (i < n && same(r, kind, add.machine, add.what)) continue;
        at += (size_t)snprintf(text + at, cap - at, "%s\t%s\t%s\t%s\t%s\n", r->kind, r->machine, r->what, r->date,
                               r->values);
    }
    /* Through a name of this process's own (host and pid): two nodes sharing a home
     * directory must not write the same <path>.tmp at once. The atomic write puts it in
     * place under that name, one more rename puts it at path. */
    char host[64] = "host", mine[ED_PATH_MAX + 96];
    gethostname(host, sizeof host - 1);
    tidy(host);
    snprintf(mine, sizeof mine, "%s.%s.%ld", path, host, (long)getpid());
    int rc = ed_write_file_atomic(mine, text, at, "measurement cache", err);
    if (rc == 0 && (rc = ed_atomic_replace(mine, path, err)) != 0) unlink(mine);
    free(text);
    free(recs);
    return rc;
}

void ed_gemm_cache_peak_what(ed_gemm_backend b, ed_precision p, char *buf, size_t len) {
    snprintf(buf, len, "backend=%s precision=%s%s", ed_gemm_backend_names[b], ed_precision_names[p],
             ed_precision_emulation_forced(p) ? " (emulation forced)" : "");
}

int ed_gemm_cache_value(const ed_gemm_cache_rec *r, const char *name, double *v) {
    size_t k = strlen(name);
    for (const char *p = r->values; *p;) {
        while (*p == ' ') p++;
        if (strncmp(p, name, k) == 0 && p[k] == '=') {
            *v = strtod(p + k + 1, NULL);
            return 0;
        }
        const char *sp = strchr(p, ' ');
        if (!sp) break;
        p = sp;
    }
    return -1;
}
