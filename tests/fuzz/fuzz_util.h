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

/* The piece counter's promise (tokenizer.h): the input's lines counted by two counters
 * (even lines, odd lines in reverse), one packed into the other in chunks of ~16 bytes,
 * train the tokenizer ed_tok_train builds from all the lines at once, byte for byte.
 * Needs expert/tokenizer.h included before this header. */
#ifdef EXPERT_TOKENIZER_H
static inline char *fuzz_tok_json(ed_tokenizer *t) {
    FUZZ_CHECK(t, "training failed");
    char *s = ed_tok_serialize(t, NULL);
    ed_tok_free(t);
    return s;
}

static inline void fuzz_check_counts(const ed_tok_options *o, const char *text, size_t len) {
    size_t n = 0, cap = 16, *lens = malloc(cap * sizeof *lens);
    const char **lines = malloc(cap * sizeof *lines);
    for (size_t at = 0; at <= len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        if (n == cap) {
            cap *= 2;
            lens = realloc(lens, cap * sizeof *lens);
            lines = realloc(lines, cap * sizeof *lines);
        }
        lines[n] = text + at, lens[n++] = end - at;
        at = end + 1;
    }
    ed_error err = {{0}};
    char *ref = fuzz_tok_json(ed_tok_train(o, lines, lens, n, &err));
    ed_tok_counter *a = ed_tok_counter_new(o, &err), *b = ed_tok_counter_new(o, &err);
    FUZZ_CHECK(a && b, "counter: %s", err.msg);
    for (size_t i = 0; i < n; i += 2) ed_tok_counter_add(a, lines[i], lens[i]);
    for (size_t i = n; i-- > 0;)
        if (i % 2) ed_tok_counter_add(b, lines[i], lens[i]);
    char *buf = NULL;
    size_t bcap = 0, pos = 0, k;
    while ((k = ed_tok_counter_pack(b, &pos, &buf, &bcap, 16)) > 0)
        FUZZ_CHECK(ed_tok_counter_unpack(a, buf, k, &err) == 0, "unpack: %s", err.msg);
    char *got = fuzz_tok_json(ed_tok_train_counts(o, a, &err));
    FUZZ_CHECK(strcmp(got, ref) == 0, "merged counts train another tokenizer than the whole text");
    free(got);
    free(ref);
    free(buf);
    ed_tok_counter_free(a);
    ed_tok_counter_free(b);
    free(lens);
    free(lines);
}
#endif

#endif
