/* common.c — error reporting and checked allocation (see include/expert/common.h). */
#include "expert/common.h"

#include <errno.h>
#include <math.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int ed_fail(ed_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void ed_die_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "expert-dist: fatal: %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    /* Abort the whole job: exiting one rank alone would leave the others in a collective. */
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fin);
    if (init && !fin) MPI_Abort(MPI_COMM_WORLD, ED_EXIT_FAILURE);
    exit(ED_EXIT_FAILURE);
}

void *ed_malloc_at(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) ed_die_at(file, line, "out of memory allocating %zu bytes", n);
    return p;
}

void *ed_calloc_at(size_t count, size_t size, const char *file, int line) {
    if (size && count > SIZE_MAX / size) ed_die_at(file, line, "allocation size overflow");
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) ed_die_at(file, line, "out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *ed_realloc_at(void *p, size_t n, const char *file, int line) {
    void *q = realloc(p, n ? n : 1);
    if (!q) ed_die_at(file, line, "out of memory reallocating %zu bytes", n);
    return q;
}

char *ed_strdup_at(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *d = ed_malloc_at(n, file, line);
    memcpy(d, s, n);
    return d;
}

float *ed_alloc_floats_at(size_t n, const char *file, int line) {
    if (n > SIZE_MAX / sizeof(float) - 64) ed_die_at(file, line, "allocation size overflow");
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0)
        ed_die_at(file, line, "out of memory allocating %zu floats", n);
    return p;
}

int ed_make_dirs(const char *path, ed_error *err) {
    size_t n = strlen(path);
    char *buf = ed_strdup(path);
    int rc = 0;
    for (size_t i = 1; rc == 0 && i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) rc = ed_fail(err, "%s: cannot create directory: %s", buf, strerror(errno));
        buf[i] = c;
    }
    free(buf);
    struct stat sb;
    if (rc == 0 && (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))) rc = ed_fail(err, "%s: not a directory", path);
    return rc;
}

int ed_read_file(const char *path, char **data, size_t *len, ed_error *err) {
    struct stat st;
    if (stat(path, &st) != 0) return ed_fail(err, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return ed_fail(err, "%s: is a directory, expected a file", path);
    FILE *f = fopen(path, "rb");
    if (!f) return ed_fail(err, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536, n = 0;
    char *buf = ed_malloc(cap);
    /* A device or pipe has no size: bound what we accept so /dev/zero cannot eat the
     * machine's memory. Regular files are read whole (their size is known up front). */
    const size_t stream_limit = (size_t)1 << 30;
    for (;;) {
        if (!S_ISREG(st.st_mode) && n > stream_limit) {
            free(buf);
            fclose(f);
            return ed_fail(err, "%s: not a regular file and longer than 1 GiB", path);
        }
        if (n + 1 >= cap) buf = ed_realloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return ed_fail(err, "%s: read error", path);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

int ed_name_index(const char *const *names, const char *s) {
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

int ed_names_count(const char *const *names) {
    int n = 0;
    while (names[n]) n++;
    return n;
}

void ed_names_join(const char *const *names, char *buf, size_t len) {
    int n = ed_names_count(names);
    size_t used = 0;
    if (len) buf[0] = '\0';
    for (int i = 0; i < n && used < len; i++) {
        const char *sep = i == 0 ? "" : i == n - 1 ? " or " : ", ";
        int w = snprintf(buf + used, len - used, "%s%s", sep, names[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
}

double ed_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double ed_float_decimal(float f) {
    if (!isfinite(f)) return (double)f;
    char buf[32];
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        double d = strtod(buf, NULL);
        if ((float)d == f) return d;
    }
    return (double)f;
}

void ed_ivec_reserve(ed_ivec *v, size_t cap) {
    if (cap <= v->cap) return;
    v->data = ed_realloc(v->data, cap * sizeof *v->data);
    v->cap = cap;
}

void ed_ivec_push(ed_ivec *v, int32_t x) {
    if (v->len == v->cap) ed_ivec_reserve(v, v->cap ? 2 * v->cap : 64);
    v->data[v->len++] = x;
}

void ed_ivec_free(ed_ivec *v) {
    free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}
