/* common.h — error reporting, checked allocation and small helpers used everywhere.
 *
 * Two kinds of failure, two mechanisms:
 *  - Bad input (a user's file, flag, checkpoint) is *expected*: functions that read
 *    input return -1 and fill an ed_error with one line, "file:line: what is wrong".
 *    The caller decides; the trainer agrees on failure across ranks and rank 0 prints.
 *  - Broken invariants and exhausted resources (malloc failure, an MPI call failing)
 *    are not recoverable: ED_DIE prints file:line of the *source* and aborts the whole
 *    MPI job (MPI_Abort when MPI is up), so no rank is left waiting in a collective.
 *
 * No global mutable state lives here. */
#ifndef EXPERT_COMMON_H
#define EXPERT_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef ED_VERSION
#define ED_VERSION "0.0.0"
#endif
#ifndef ED_GIT_COMMIT
#define ED_GIT_COMMIT "unknown"
#endif

/* Exit statuses of the expert-dist binary (documented in docs/usage.md). */
enum {
    ED_EXIT_OK = 0,
    ED_EXIT_FAILURE = 1,   /* runtime error: bad data, failed write, NaN policy stop */
    ED_EXIT_USAGE = 2,     /* bad flags or config, before any work */
    ED_EXIT_PREEMPTED = 3, /* SIGTERM/SIGUSR1 received: last.h5 written, resume with --resume auto */
    ED_EXIT_COMM_TIMEOUT = 4, /* --comm-timeout: a rank did not reach a collective in time (dist.h) */
    ED_EXIT_INTERRUPTED = 130, /* SIGINT (Ctrl-C): last.h5 written; 128 + SIGINT as a shell reports it */
};

/* One line describing what went wrong with some input. */
typedef struct {
    char msg[1024];
} ed_error;

/* Formats into err (if non-NULL) and returns -1, so `return ed_fail(err, ...)` reads well. */
int ed_fail(ed_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "expert-dist: fatal: <src>:<line>: msg" to stderr and aborts the job. */
_Noreturn void ed_die_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define ED_DIE(...) ed_die_at(__FILE__, __LINE__, __VA_ARGS__)
#define ED_CHECK(cond, ...) do { if (!(cond)) ED_DIE(__VA_ARGS__); } while (0)

/* Checked allocation: never returns NULL (dies instead). Sizes are checked for overflow. */
void *ed_malloc_at(size_t n, const char *file, int line);
void *ed_calloc_at(size_t count, size_t size, const char *file, int line);
void *ed_realloc_at(void *p, size_t n, const char *file, int line);
char *ed_strdup_at(const char *s, const char *file, int line);
#define ed_malloc(n) ed_malloc_at((n), __FILE__, __LINE__)
#define ed_calloc(c, s) ed_calloc_at((c), (s), __FILE__, __LINE__)
#define ed_realloc(p, n) ed_realloc_at((p), (n), __FILE__, __LINE__)
#define ed_strdup(s) ed_strdup_at((s), __FILE__, __LINE__)

/* Float buffers aligned to 64 bytes (one AVX-512 vector / cache line); free with free(). */
float *ed_alloc_floats_at(size_t n, const char *file, int line);
#define ed_alloc_floats(n) ed_alloc_floats_at((n), __FILE__, __LINE__)

/* Reads a whole file into a NUL-terminated buffer (*len excludes the NUL).
 * Errors (missing, directory, unreadable) name the path. */
int ed_read_file(const char *path, char **data, size_t *len, ed_error *err);

/* mkdir -p: creates path and its missing parents; fails (naming the part that could not be
 * made) unless path ends up a directory. */
int ed_make_dirs(const char *path, ed_error *err);

/* Names of an enumeration indexed by its value and NULL-terminated, e.g.
 * ed_tok_kind_names = {"word", "bpe", NULL}: the one mapping between a choice's text (flags,
 * config files, checkpoints, JSON) and its enum. */
/* The index of s in names, or -1. */
int ed_name_index(const char *const *names, const char *s);
/* Number of names before the NULL. */
int ed_names_count(const char *const *names);
/* "a, b or c" into buf (truncated to len). */
void ed_names_join(const char *const *names, char *buf, size_t len);

/* ---- atomic files (atomic_file.c) --------------------------------------------------
 * Every file expert-dist produces (checkpoints, history, tokenizer files, prepared token
 * files) replaces its old version atomically: it is written to <path>.tmp, fsync'ed,
 * renamed over <path>, and the directory is fsync'ed (only then is the rename durable).
 * A crash at any moment leaves the old <path> or the new one, never a mixture; at worst a
 * stale <path>.tmp that readers ignore and the next write truncates. On any failure
 * <path> is untouched, the .tmp removed, and err names the file with errno's words. */
typedef struct {
    int fd;
    const char *path; /* borrowed: must outlive the ed_atomic_file */
    const char *what; /* "checkpoint", "history" ...: for messages */
    char tmp[4200];
} ed_atomic_file;
/* Creates (truncates) <path>.tmp: a missing directory or a permission problem shows here,
 * before any work. */
int ed_atomic_open(ed_atomic_file *a, const char *path, const char *what, ed_error *err);
/* Appends data[0..n) to the .tmp. */
int ed_atomic_write(ed_atomic_file *a, const void *data, size_t n, ed_error *err);
/* fsync + close of the .tmp, then ed_atomic_replace: the file is in place. */
int ed_atomic_commit(ed_atomic_file *a, ed_error *err);
/* The two halves of commit, for a caller that must act between them (a test hook):
 * sync makes the .tmp durable and closes it; replace renames tmp over path and fsyncs
 * the directory. */
int ed_atomic_sync(ed_atomic_file *a, ed_error *err);
int ed_atomic_replace(const char *tmp, const char *path, ed_error *err);
/* Closes and removes the .tmp; <path> stays as it was. */
void ed_atomic_abort(ed_atomic_file *a);
/* open + write + commit of one buffer. */
int ed_write_file_atomic(const char *path, const void *data, size_t n, const char *what, ed_error *err);
/* For a <path>.tmp another library wrote by name and closed (HDF5): fsync it, then
 * ed_atomic_replace. */
int ed_commit_written_file(const char *tmp, const char *path, ed_error *err);

/* A 64-bit hash of p[0..n) (hash.c), for telling copies apart at run time: ranks compare
 * their weights, data and tokenizer with rank 0's (ed_dist_check_same, consistency.h).
 * Equal bytes give equal hashes in every process on machines of one byte order; bytes
 * that differ almost surely give different ones. Not cryptographic, and not a format:
 * the function may change between versions, so its values are never stored in a file
 * (checkpoints keep their own checksum, src/checkpoint/ckpt_seal.c). */
uint64_t ed_hash_bytes(const void *p, size_t n);
/* The MurmurHash3 finaliser (the mix inside ed_hash_bytes): a bijection of 64-bit words
 * whose every input bit reaches every output bit. For hash tables keyed by a number (the
 * BPE pair maps); like ed_hash_bytes, never stored. */
static inline uint64_t ed_hash_mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78; hash.c) of p[0..n), continuing
 * from `crc` (0 to start). Unlike ed_hash_bytes a fixed function, stored in files: the
 * TFRecord framing of TensorBoard event files (src/history/tensorboard.c). CRC32C of
 * "123456789" is 0xE3069283. */
uint32_t ed_crc32c(uint32_t crc, const void *p, size_t n);

/* Wall-clock seconds from a monotonic clock. */
double ed_now(void);

/* The double nearest to the shortest decimal that reads back as float f (5e-4f -> 0.0005,
 * not 0.000500000023748725): how a float is written where readers see doubles (HDF5
 * attributes, JSON). (float) of the result is f, bit for bit. */
double ed_float_decimal(float f);

/* Growable int32 vector, the common currency of token ids. */
typedef struct {
    int32_t *data;
    size_t len, cap;
} ed_ivec;
void ed_ivec_push(ed_ivec *v, int32_t x);
void ed_ivec_reserve(ed_ivec *v, size_t cap);
void ed_ivec_free(ed_ivec *v);

#endif
