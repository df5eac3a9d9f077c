/* inputs.c — what --train-file / --val-file name: one file, several (comma-separated), a
 * directory (its .txt/.jsonl files, optionally .gz/.zst, by name) or a quoted glob
 * pattern (* ? [...], expanded here with glob(3), sorted). The order is the documents'
 * order, so the token array of a prepared file is the same whoever expands it. */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "expert/dataset.h"

static void add(ed_inputs *in, size_t *cap, const char *path, uint64_t bytes) {
    if (in->n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        in->path = ed_realloc(in->path, *cap * sizeof *in->path);
        in->bytes = ed_realloc(in->bytes, *cap * sizeof *in->bytes);
    }
    in->path[in->n] = ed_strdup(path);
    in->bytes[in->n] = bytes;
    in->n++;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A run's own directory (checkpoint-dir: checkpoints, history, metrics.jsonl, config.ini)
 * holds a .jsonl that is not text: reading metrics as a corpus is never what was meant. */
static int is_run_dir(const char *dir) {
    static const char *const marks[] = {"last.h5", "best.h5", "history.json", "metrics.jsonl"};
    char p[4200];
    struct stat st;
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, marks[i]);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) return 1;
    }
    return 0;
}

static int add_dir(ed_inputs *in, size_t *cap, const char *dir, ed_error *err) {
    if (is_run_dir(dir))
        return ed_fail(err, "%s: a run directory (checkpoints, history, metrics.jsonl), not text: give the text "
                            "files, or a directory that holds only them", dir);
    DIR *d = opendir(dir);
    if (!d) return ed_fail(err, "%s: cannot open directory: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, ncap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || ed_input_format(e->d_name) < 0) continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *p = ed_malloc(len);
        snprintf(p, len, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", e->d_name);
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(p);
            continue;
        }
        if (n == ncap) names = ed_realloc(names, (ncap = ncap ? 2 * ncap : 16) * sizeof *names);
        names[n++] = p;
    }
    closedir(d);
    if (n > 0) qsort(names, n, sizeof *names, by_name); /* names is NULL when n == 0 */
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        add(in, cap, names[i], stat(names[i], &st) == 0 ? (uint64_t)st.st_size : 0);
        free(names[i]);
    }
    free(names);
    if (n == 0)
        return ed_fail(err, "%s: directory has no usable files (.txt or .jsonl, each optionally .gz or .zst)", dir);
    return 0;
}

static int add_item(ed_inputs *in, size_t *cap, const char *item, ed_error *err) {
    struct stat st;
    if (strpbrk(item, "*?[")) {
        glob_t g;
        int rc = glob(item, 0, NULL, &g);
        if (rc == GLOB_NOMATCH) {
            globfree(&g);
            return ed_fail(err, "%s: the pattern matches no file", item);
        }
        if (rc != 0) {
            globfree(&g);
            return ed_fail(err, "%s: cannot expand the pattern", item);
        }
        for (size_t i = 0; i < g.gl_pathc; i++) /* glob sorts */
            add(in, cap, g.gl_pathv[i], stat(g.gl_pathv[i], &st) == 0 ? (uint64_t)st.st_size : 0);
        globfree(&g);
        return 0;
    }
    if (stat(item, &st) == 0 && S_ISDIR(st.st_mode)) return add_dir(in, cap, item, err);
    /* a plain name: whether it exists and reads is the reader's business (one message) */
    add(in, cap, item, stat(item, &st) == 0 ? (uint64_t)st.st_size : 0);
    return 0;
}

int ed_inputs_expand(const char *spec, ed_inputs *in, ed_error *err) {
    memset(in, 0, sizeof *in);
    size_t cap = 0, len = strlen(spec);
    char *copy = ed_strdup(spec);
    int rc = 0;
    for (size_t a = 0; a <= len && rc == 0;) {
        size_t b = a;
        while (b < len && copy[b] != ',') b++;
        copy[b] = '\0';
        if (b > a) rc = add_item(in, &cap, copy + a, err);
        a = b + 1;
    }
    free(copy);
    if (rc == 0 && in->n == 0) rc = ed_fail(err, "no input file named in '%s'", spec);
    if (rc != 0) ed_inputs_free(in);
    return rc;
}

void ed_inputs_free(ed_inputs *in) {
    for (size_t i = 0; i < in->n; i++) free(in->path[i]);
    free(in->path);
    free(in->bytes);
    memset(in, 0, sizeof *in);
}
