/* ckpt_async.c — one checkpoint write in flight on a helper thread (checkpoint.h).
 *
 * The thread runs ed_ckpt_commit only: checksum, write, fsync, rename, fsync of the
 * directory. HDF5 has done its part on the caller's thread (ed_ckpt_build), so the
 * library's thread safety never matters (Debian's libhdf5 is built without it), and the
 * thread makes no MPI call (MPI is initialised FUNNELED). */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_internal.h"

static void *run(void *arg) {
    ed_ckpt_writer *w = arg;
    w->status = ed_ckpt_commit(w->path, &w->img, &w->err);
    return NULL;
}

void ed_ckpt_writer_start(ed_ckpt_writer *w, const char *path, ed_ckpt_image *img) {
    ED_CHECK(!w->busy, "checkpoint writer: a write is already in flight");
    snprintf(w->path, sizeof w->path, "%s", path);
    w->img = *img;
    img->data = NULL;
    img->size = 0;
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
}

int ed_ckpt_writer_wait(ed_ckpt_writer *w, ed_error *err) {
    if (!w->busy) return 0;
    pthread_t *th = w->thread;
    pthread_join(*th, NULL);
    free(th);
    w->thread = NULL;
    w->busy = 0;
    if (w->status != 0 && err) *err = w->err;
    return w->status;
}
