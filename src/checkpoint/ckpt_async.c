/* ckpt_async.c — one checkpoint write in flight on a helper thread (checkpoint.h).
 *
 * With a thread-safe HDF5 the caller's thread only copies the contents (parameters,
 * moments, state, history: memcpy into buffers kept from one save to the next, so no
 * page is faulted in again) and the helper lays the file out and commits it. Without
 * one, the caller lays the file out itself and the helper only commits (checksum, write,
 * fsync, rename, fsync of the directory), so HDF5 never runs on two threads.
 * The helper never calls MPI (MPI is initialised FUNNELED). */
#include <hdf5.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_internal.h"

static void *run(void *arg) {
    ed_ckpt_writer *w = arg;
    double t0 = ed_now();
    w->status = 0;
    if (!w->img.data) w->status = ed_ckpt_build(w->path, &w->c, w->compress, &w->img, &w->err);
    w->anon_mb = w->img.anon_mb;
    if (w->status == 0) w->status = ed_ckpt_commit(w->path, &w->img, &w->err);
    w->seconds = ed_now() - t0;
    return NULL;
}

static int hdf5_threadsafe(void) {
    hbool_t ts = 0;
    return H5is_library_threadsafe(&ts) >= 0 && ts;
}

/* A column-by-column copy of a history into dst (whose columns are reused). */
static void copy_history(ed_history *dst, const ed_history *src) {
    for (int i = 0; i < ED_HISTORY_MAX_COLUMNS; i++) {
        const ed_dcol *a = &src->col[i];
        ed_dcol *b = &dst->col[i];
        if (b->cap < a->n) {
            b->cap = a->n;
            b->v = ed_realloc(b->v, b->cap * sizeof *b->v);
        }
        if (a->n) memcpy(b->v, a->v, a->n * sizeof *a->v);
        b->n = a->n;
    }
}

/* memcpy of n floats split over the OpenMP threads, which are idle while a save copies:
 * the copy is memory-bound, and one core does not saturate the memory bus. */
static void copy_floats(float *dst, const float *src, size_t n) {
    const size_t chunk = (size_t)1 << 20;
    long parts = (long)((n + chunk - 1) / chunk);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < parts; i++) {
        size_t lo = (size_t)i * chunk, len = n - lo < chunk ? n - lo : chunk;
        memcpy(dst + lo, src + lo, len * sizeof *dst);
    }
}

/* Parameters and moments into the kept buffers (grown when the model is larger). */
static void copy_tensors(ed_ckpt_writer *w, const ed_ckpt_contents *c) {
    size_t np = ed_gpt_num_params(c->model);
    if (w->params_n != np) {
        free(w->params);
        w->params = ed_alloc_floats(np);
        ed_optim_free(&w->optim);
        w->params_n = np;
    }
    copy_floats(w->params, c->params ? c->params : ed_gpt_params(c->model), np);
    if (!c->optim) return;
    const ed_optim *o = c->optim;
    if (!w->optim.m || w->optim.kind != o->kind) {
        ed_optim_free(&w->optim);
        ed_optim_init(&w->optim, o->kind, 0, np, o->beta1, o->beta2, o->eps, o->weight_decay, o->momentum);
    }
    float *m = w->optim.m, *v = w->optim.v;
    w->optim = *o; /* scalars */
    w->optim.m = m;
    w->optim.v = v;
    if (m && o->m) copy_floats(m, o->m, np);
    if (v && o->v) copy_floats(v, o->v, np);
}

void ed_ckpt_writer_reserve(ed_ckpt_writer *w, ed_gpt *model, const ed_optim *like) {
    if (!hdf5_threadsafe()) return; /* the layout is built per save, on the caller's thread */
    size_t np = ed_gpt_num_params(model);
    if (w->params_n != np) {
        free(w->params);
        w->params = ed_alloc_floats(np);
        w->params_n = np;
    }
    memset(w->params, 0, np * sizeof *w->params); /* fault the pages in now, not in a step */
    if (!like) return;
    ed_optim_free(&w->optim);
    ed_optim_init(&w->optim, like->kind, 0, np, like->beta1, like->beta2, like->eps, like->weight_decay, like->momentum);
    if (w->optim.m) memset(w->optim.m, 0, np * sizeof *w->optim.m);
    if (w->optim.v) memset(w->optim.v, 0, np * sizeof *w->optim.v);
}

int ed_ckpt_writer_save(ed_ckpt_writer *w, const char *path, const ed_ckpt_contents *c, int compress, ed_error *err) {
    ED_CHECK(!w->busy, "checkpoint writer: a write is already in flight");
    snprintf(w->path, sizeof w->path, "%s", path);
    w->compress = compress;
    w->img.data = NULL;
    w->img.size = 0;
    if (hdf5_threadsafe()) {
        copy_tensors(w, c);
        w->c = *c;
        w->c.params = w->params;
        w->c.optim = c->optim ? &w->optim : NULL;
        if (c->opt) {
            w->opt = *c->opt;
            w->c.opt = &w->opt;
        }
        if (c->state) {
            w->state = *c->state;
            w->c.state = &w->state;
        }
        if (c->history) {
            copy_history(&w->hist, c->history);
            w->c.history = &w->hist;
        }
    } else if (ed_ckpt_build(path, c, compress, &w->img, err) != 0) {
        return -1;
    }
    w->status = 0;
    memset(&w->err, 0, sizeof w->err);
    pthread_t *th = ed_malloc(sizeof *th);
    /* The thread inherits this mask: the stop signals stay with the main thread, which
     * polls their flag (trainer.h), and never interrupt the write's system calls. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int rc = pthread_create(th, NULL, run, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    ED_CHECK(rc == 0, "checkpoint writer: cannot start a thread (%s)", strerror(rc));
    w->thread = th;
    w->busy = 1;
    return 0;
}

int ed_ckpt_writer_wait(ed_ckpt_writer *w, ed_error *err) {
    if (!w->busy) return 0;
    pthread_t *th = w->thread;
    pthread_join(*th, NULL);
    free(th);
    w->thread = NULL;
    w->busy = 0;
    ed_ckpt_image_free(&w->img); /* a failed build or commit may leave one */
    if (w->status != 0 && err) *err = w->err;
    return w->status;
}

void ed_ckpt_writer_free(ed_ckpt_writer *w) {
    ed_ckpt_writer_wait(w, NULL);
    free(w->params);
    ed_optim_free(&w->optim);
    ed_history_free(&w->hist);
    memset(w, 0, sizeof *w);
}
