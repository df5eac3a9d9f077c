/* fuzz_util.h — small helpers shared by the fuzz harnesses (tests/fuzz/fuzz_*.c).
 *
 * Each harness defines LLVMFuzzerTestOneInput and is linked two ways: with libFuzzer in
 * the clang build (tests/fuzz/run.sh) to search for new inputs, and with replay_main.c in
 * the normal build to re-run the seed corpus and every saved crash as an ordinary test
 * (also under the gcc ASan stage). A harness must never leak, never print on success, and
 * abort (FUZZ_CHECK) when a property that the contract promises does not hold. */
#ifndef ED_FUZZ_UTIL_H
#define ED_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_CHECK(cond, ...)                                                     \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "fuzz property failed at %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
            abort();                                                              \
        }                                                                         \
    } while (0)

/* Readers that take a path get the input through a private file (per process, reused,
 * removed at exit). One harness uses one extension, so one path per process. */
static char fuzz_tmp_path[256];
static void fuzz_remove_tmp(void) { unlink(fuzz_tmp_path); }

static inline const char *fuzz_write_tmp(const char *ext, const uint8_t *data, size_t size) {
    char *path = fuzz_tmp_path;
    if (!path[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(path, sizeof fuzz_tmp_path, "%s/ed-fuzz-%ld%s", dir && *dir ? dir : "/tmp", (long)getpid(), ext);
        atexit(fuzz_remove_tmp);
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        abort();
    }
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
    return path;
}

/* A NUL-terminated copy (the parsers' string entry points need one). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
