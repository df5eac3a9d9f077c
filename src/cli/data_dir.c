/* data_dir.c — where the bundled corpus is, so bare `expert-dist` works from a build tree,
 * an install prefix, or anywhere with $ED_DATA_DIR. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int has_corpus(const char *dir) {
    size_t n = strlen(dir) + sizeof "/fortunes-train.txt";
    char *p = malloc(n);
    if (!p) return 0;
    snprintf(p, n, "%s/fortunes-train.txt", dir);
    int ok = access(p, R_OK) == 0;
    free(p);
    return ok;
}

int cli_find_data_dir(char *out, size_t len, char *tried, size_t tried_len) {
    char cand[3][PATH_MAX + 64];
    int n = 0;
    const char *env = getenv("ED_DATA_DIR");
    if (env && *env) snprintf(cand[n++], sizeof cand[0], "%s", env);
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        snprintf(cand[n++], sizeof cand[0], "%s/../data", exe);
        snprintf(cand[n++], sizeof cand[0], "%s/../share/expert-dist/data", exe);
    }
    if (tried_len) tried[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (has_corpus(cand[i])) {
            char *real = realpath(cand[i], NULL);
            snprintf(out, len, "%s", real ? real : cand[i]);
            free(real);
            return 0;
        }
        size_t used = strlen(tried);
        snprintf(tried + used, tried_len - used, "%s%s", i ? ", " : "", cand[i]);
    }
    return -1;
}
