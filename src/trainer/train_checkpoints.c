/* train_checkpoints.c — what the loop writes to --checkpoint-dir: best.h5, last.h5,
 * step-<N>.h5 and epoch-<N>.h5 (each kind with --keep-last rotation) and the history
 * JSON/CSV.
 * Rank 0 writes checkpoints, in the background with --async-save (the default): the step
 * waits only for an in-memory copy, a helper thread (ed_ckpt_writer) does the rest, at most one is in flight, and every rank learns
 * its outcome (ed_dist_agree) at the next save or trainer_save_wait, before any older
 * file is rotated away. The history is rank 0's alone, and its result is agreed the same
 * way. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "expert/tensorboard.h"
#include "trainer_internal.h"

static int ensure_dir(ed_trainer *t, ed_error *err) {
    int status = t->d->rank == 0 ? ed_make_dirs(t->o->checkpoint_dir, err) : 0;
    return ed_dist_agree(t->d, status, err);
}

/* config.ini's text: the effective options of this run (malloc'ed). */
static char *config_text(const ed_trainer *t) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ED_CHECK(f, "open_memstream failed");
    fprintf(f, "# expert-dist %s (%s) train: the effective configuration of this run\n"
               "# (defaults < preset < config file < flags; a resumed run: the checkpoint's model).\n"
               "# Run it again with: expert-dist -c <this file>\n", ED_VERSION, ED_GIT_COMMIT);
    ed_options_print(t->o, f);
    fclose(f);
    return text;
}

/* Rank 0: the --tensorboard writer beside metrics.jsonl, starting with the configuration
 * (at step 0, or at the resumed step). A failure has printed its one warning and leaves
 * no writer: the run goes on without TensorBoard. */
static void open_tensorboard(ed_trainer *t, long resume_step) {
    char dir[ED_PATH_MAX + 8];
    if (strcmp(t->o->tensorboard, "auto") == 0)
        snprintf(dir, sizeof dir, "%s/tb", t->o->checkpoint_dir);
    else
        snprintf(dir, sizeof dir, "%s", t->o->tensorboard);
    t->metrics.tb = ed_tb_open(dir, resume_step);
    long step = resume_step < 0 ? 0 : resume_step;
    if (t->metrics.tb && !ed_tb_has_text(t->metrics.tb, "config", step)) {
        char *text = config_text(t);
        ed_tb_text(t->metrics.tb, "config", step, text);
        free(text);
    }
}

/* Rank 0, at start: the .tmp files a killed writer left (a crash, a second Ctrl-C) are
 * removed, one line each. Only names this trainer writes: <name>.h5.tmp, history and
 * config files; readers never look at them, but they hold disk space. */
static void remove_stale_tmps(const ed_trainer *t) {
    static const char *const kinds[] = {".h5.tmp", ".json.tmp", ".csv.tmp", ".ini.tmp", ".jsonl.tmp", NULL};
    DIR *dir = opendir(t->o->checkpoint_dir);
    if (!dir) return;
    struct dirent *e;
    while ((e = readdir(dir))) {
        size_t n = strlen(e->d_name);
        for (const char *const *k = kinds; *k; k++) {
            size_t kl = strlen(*k);
            if (n <= kl || strcmp(e->d_name + n - kl, *k) != 0) continue;
            char path[ED_PATH_MAX + 300];
            snprintf(path, sizeof path, "%s/%s", t->o->checkpoint_dir, e->d_name);
            if (unlink(path) == 0)
                fprintf(stderr, "expert-dist: removed %s (left by a save that was killed)\n", path);
            break;
        }
    }
    closedir(dir);
}

int trainer_open_metrics(ed_trainer *t, ed_error *err) {
    if (ensure_dir(t, err) != 0) return -1;
    int status = 0;
    if (t->d->rank == 0) {
        remove_stale_tmps(t);
        char path[ED_PATH_MAX + 32];
        long resume_step = t->resume_path[0] ? t->st.global_step : -1;
        snprintf(path, sizeof path, "%s/metrics.jsonl", t->o->checkpoint_dir);
        status = ed_metrics_open(&t->metrics, path, resume_step, err);
        if (status == 0 && t->o->tensorboard[0]) open_tensorboard(t, resume_step);
    }
    return ed_dist_agree(t->d, status, err);
}

/* ZeRO-1: the checkpoint holds the whole optimizer, so rank 0 gathers the slices into a
 * full-size copy for the duration of the write (other ranks allocate nothing). */
static void gather_optimizer(const ed_trainer *t, ed_optim *full) {
    const ed_optim *o = &t->optim;
    size_t np = ed_gpt_num_params(t->model);
    if (t->d->rank == 0) {
        ed_optim_init(full, o->kind, 0, np, o->beta1, o->beta2, o->eps, o->weight_decay, o->momentum);
        full->step = o->step;
    }
    ed_dist_gather_slices(t->d, o->m, t->d->rank == 0 ? full->m : NULL, t->slice.counts, t->slice.displs);
    if (o->kind == ED_OPT_ADAMW)
        ed_dist_gather_slices(t->d, o->v, t->d->rank == 0 ? full->v : NULL, t->slice.counts, t->slice.displs);
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Keeps the newest keep_last <prefix>-<N>.h5 files (by N). Rank 0 only; best effort. */
static void rotate_files(const ed_trainer *t, const char *prefix) {
    if (t->o->keep_last <= 0) return;
    DIR *dir = opendir(t->o->checkpoint_dir);
    if (!dir) return;
    long *steps = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        long s;
        char tail[8];
        size_t pl = strlen(prefix);
        if (strncmp(e->d_name, prefix, pl) == 0 && e->d_name[pl] == '-' &&
            sscanf(e->d_name + pl + 1, "%ld.%7s", &s, tail) == 2 && strcmp(tail, "h5") == 0) {
            if (n == cap) steps = ed_realloc(steps, (cap = cap ? 2 * cap : 16) * sizeof *steps);
            steps[n++] = s;
        }
    }
    closedir(dir);
    if (n > 0) qsort(steps, n, sizeof *steps, cmp_long); /* steps is NULL when none matched */
    for (size_t i = 0; i + (size_t)t->o->keep_last < n; i++) {
        char path[ED_PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/%s-%ld.h5", t->o->checkpoint_dir, prefix, steps[i]);
        remove(path);
    }
    free(steps);
}

/* Collective: waits for the background write in flight (rank 0), agrees on its outcome
 * and only then, when it succeeded, rotates the older files of its kind: a failed save
 * never costs an older checkpoint. */
int trainer_save_wait(ed_trainer *t, ed_error *err) {
    ed_dist_phase(t->d, t->st.global_step, "checkpoint save");
    int busy = t->writer.busy;
    double t0 = ed_now();
    int status = t->d->rank == 0 ? ed_ckpt_writer_wait(&t->writer, err) : 0;
    if (busy) {
        t->timing.write_seconds += t->writer.seconds;
        ed_mem_fold(&t->timing.mem, &(ed_mem_usage){-1.0, t->writer.anon_mb, -1.0, -1.0});
        t->timing.save_waited += ed_now() - t0;
    }
    if (ed_dist_agree(t->d, status, err) != 0) return -1;
    if (t->d->rank == 0 && t->rotate_after[0]) rotate_files(t, t->rotate_after);
    t->rotate_after[0] = '\0';
    return 0;
}

/* A save: the previous one is waited for (at most one in flight), the optimizer gathered
 * (ZeRO), and then rank 0 either writes the file here (--no-async-save) or hands an
 * in-memory copy to the writer thread (ed_ckpt_writer_save), in which case the step goes
 * on and the outcome is agreed at the next save or trainer_save_wait. `rotate`: the
 * prefix of the files to rotate once this one is on disk, or NULL. */
static int save_now(ed_trainer *t, const char *name, const char *rotate, ed_error *err) {
    ed_dist_phase(t->d, t->st.global_step, "checkpoint save");
    if (ensure_dir(t, err) != 0 || trainer_save_wait(t, err) != 0) return -1;
    char path[ED_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", t->o->checkpoint_dir, name);
    ed_optim full = {0};
    if (t->slice.zero) gather_optimizer(t, &full);
    int status = 0;
    if (t->d->rank == 0) {
        ed_ckpt_contents c = {.opt = t->o, .model = t->model, .optim = t->slice.zero ? &full : &t->optim,
                              .state = &t->st, .history = &t->hist, .tok = t->tok};
        if (t->o->async_save) {
            status = ed_ckpt_writer_save(&t->writer, path, &c, t->o->compress, err);
            ed_mem_sample(&t->timing.mem); /* the copy (and a gathered optimizer) live */
        } else {
            /* ed_ckpt_write in its halves, to take the private peak while the image exists */
            double tw = ed_now();
            ed_ckpt_image img;
            status = ed_ckpt_build(path, &c, t->o->compress, &img, err);
            if (status == 0) {
                ed_mem_fold(&t->timing.mem, &(ed_mem_usage){-1.0, img.anon_mb, -1.0, -1.0});
                status = ed_ckpt_commit(path, &img, err);
            }
            t->timing.write_seconds += ed_now() - tw;
        }
        if (t->slice.zero) ed_optim_free(&full);
    }
    if (ed_dist_agree(t->d, status, err) != 0) return -1;
    snprintf(t->rotate_after, sizeof t->rotate_after, "%s", rotate ? rotate : "");
    return t->o->async_save ? 0 : trainer_save_wait(t, err);
}

/* save_now, timed: the stall a save costs the loop, apart from waiting for the previous
 * write (the summary reports both). */
static int save(ed_trainer *t, const char *name, const char *rotate, ed_error *err) {
    double t0 = ed_now(), waited0 = t->timing.save_waited;
    int rc = save_now(t, name, rotate, err);
    t->timing.save_stall += ed_now() - t0 - (t->timing.save_waited - waited0); /* the wait is counted apart */
    t->timing.saves++;
    return rc;
}

int trainer_save(ed_trainer *t, const char *name, ed_error *err) { return save(t, name, NULL, err); }

int trainer_save_step(ed_trainer *t, ed_error *err) {
    char name[64];
    snprintf(name, sizeof name, "step-%ld.h5", t->st.global_step);
    return save(t, name, "step", err);
}

int trainer_save_epoch(ed_trainer *t, ed_error *err) {
    char name[64];
    snprintf(name, sizeof name, "epoch-%d.h5", t->st.epoch);
    return save(t, name, "epoch", err);
}

int trainer_write_config(ed_trainer *t, ed_error *err) {
    if (ensure_dir(t, err) != 0) return -1;
    int status = 0;
    if (t->d->rank == 0) {
        char *text = config_text(t);
        char path[ED_PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/config.ini", t->o->checkpoint_dir);
        status = ed_write_file_atomic(path, text, strlen(text), "config", err);
        free(text);
    }
    return ed_dist_agree(t->d, status, err);
}

int trainer_write_history(ed_trainer *t, ed_error *err) {
    int status = 0;
    if (ensure_dir(t, err) != 0) return -1;
    if (t->d->rank == 0) status = ed_history_write(&t->hist, t->history_path, t->config_json, err);
    return ed_dist_agree(t->d, status, err);
}
