/* fuzz_ckpt.c — corrupted checkpoints never crash a reader.
 *
 *   fuzz_ckpt [TRIALS]     (default 200; deterministic: a fixed seed)
 *
 * Writes one real checkpoint, then for each trial damages a copy (1-4 flipped bits,
 * mostly in the metadata-dense first kilobytes, sometimes anywhere; or a truncation; or
 * a run of garbage bytes) and runs every reader on it in a forked child. A child killed
 * by a signal (SIGSEGV in HDF5, an abort, the 20 s alarm for a hang) fails the test; a
 * reader must either fail with a message naming the file or, when the damage missed
 * everything that matters (the header's NUL padding), load normally. */
#define _XOPEN_SOURCE 700 /* nftw, in ckpt_fixture.h */
#include <signal.h>
#include <sys/wait.h>

#include "ckpt_at.h"
#include "ckpt_fixture.h"

/* Every reader once; 0 when all succeeded, 1 when any failed cleanly. Messages must
 * name the file. */
static int read_all(fixture *f, const char *p) {
    ed_error err = {{0}};
    int failed = 0;
    ed_options o;
    ed_options_defaults(&o);
#define TRY(call)                                                                          \
    do {                                                                                   \
        if ((call) != 0) {                                                                 \
            failed = 1;                                                                    \
            if (!strstr(err.msg, p)) {                                                     \
                fprintf(stderr, "message without the path: %s\n", err.msg);               \
                exit(2);                                                                   \
            }                                                                              \
        }                                                                                  \
    } while (0)
    TRY(at_read_options(p, ED_CMD_INSPECT, &o, &err));
    ed_tokenizer *t = at_read_tokenizer(p, &err);
    TRY(t ? 0 : -1);
    if (t) ed_tok_free(t);
    TRY(at_read_model(p, f->model, &err));
    TRY(at_read_optim(p, &f->optim, f->model, &err));
    ed_train_state s;
    ed_history h;
    memset(&h, 0, sizeof h);
    TRY(at_read_state(p, &s, &h, &err));
    ed_history_free(&h);
    ed_ckpt_info info;
    TRY(at_read_info(p, &info, &err));
    FILE *null = fopen("/dev/null", "w");
    TRY(at_print(p, null, &err));
    fclose(null);
    return failed;
}

int main(int argc, char **argv) {
    int trials = argc > 1 ? atoi(argv[1]) : 200;
    fixture_dir_make();
    fixture f;
    fixture_init(&f, 3);
    ed_ckpt_contents c = fixture_contents(&f);
    ed_error err;
    const char *good = fixture_path("good.h5"), *bad = fixture_path("bad.h5");
    if (ed_ckpt_write(good, &c, 0, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    size_t len;
    char *data;
    if (ed_read_file(good, &data, &len, &err) != 0) return 1;
    ed_rng r;
    ed_rng_seed(&r, 20261125, 0);
    int crashes = 0, clean = 0, fine = 0;
    char *copy = ed_malloc(len);
    for (int t = 0; t < trials; t++) {
        memcpy(copy, data, len);
        size_t n = len;
        uint64_t kind = ed_rng_below(&r, 10);
        if (kind < 7) { /* bit flips, mostly where the HDF5 metadata lives */
            int flips = 1 + (int)ed_rng_below(&r, 4);
            for (int k = 0; k < flips; k++) {
                size_t at = kind < 5 ? ed_rng_below(&r, len < 8192 ? len : 8192) : ed_rng_below(&r, len);
                copy[at] ^= (char)(1u << ed_rng_below(&r, 8));
            }
        } else if (kind < 9) { /* a run of garbage */
            size_t at = ed_rng_below(&r, len), run = 1 + ed_rng_below(&r, 64);
            for (size_t k = at; k < at + run && k < len; k++) copy[k] = (char)ed_rng_u64(&r);
        } else { /* truncation */
            n = ed_rng_below(&r, len);
        }
        FILE *fp = fopen(bad, "wb");
        if (!fp || fwrite(copy, 1, n, fp) != n || fclose(fp) != 0) return 1;
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(20);
            _exit(read_all(&f, bad));
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status) || WEXITSTATUS(status) > 1) {
            crashes++;
            char keep[64];
            snprintf(keep, sizeof keep, "/tmp/ed-ckpt-crash-%d.h5", t);
            rename(bad, keep);
            fprintf(stderr, "trial %d: reader %s %d; file kept as %s\n", t,
                    WIFSIGNALED(status) ? "killed by signal" : "exited", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), keep);
        } else if (WEXITSTATUS(status) == 1) {
            clean++;
        } else {
            fine++;
        }
    }
    printf("%d corrupted checkpoints: %d clean errors, %d unaffected, %d crashes\n", trials, clean, fine, crashes);
    free(copy);
    free(data);
    fixture_free(&f);
    fixture_dir_remove();
    return crashes ? 1 : 0;
}
