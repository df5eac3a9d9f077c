/* tmpfiles.h — a private temp directory per test program, for the hostile input files
 * the tests write. Header-only; each test program includes it once. */
#ifndef ED_TEST_TMPFILES_H
#define ED_TEST_TMPFILES_H

#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp_root[64];

static void tmp_setup(void) {
    strcpy(tmp_root, "/tmp/ed-data-test-XXXXXX");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        exit(1);
    }
}

/* Writes data[0..len) to <tmp>/name; returns the path (static buffer rotation of 8). */
static const char *tmp_write(const char *name, const void *data, size_t len) {
    static char paths[8][256];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 256, "%s/%s", tmp_root, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(p);
        exit(1);
    }
    return p;
}
#define tmp_write_str(name, s) tmp_write((name), (s), strlen(s))

static const char *tmp_path(const char *name) {
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", tmp_root, name);
    return p;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void tmp_teardown(void) {
    if (tmp_root[0]) nftw(tmp_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
