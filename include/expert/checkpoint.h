/* checkpoint.h — HDF5 checkpoints: everything a run needs to continue bit-exactly, in a
 * layout other tools can read (docs/checkpoint-format.md; h5dump / h5py).
 *
 *   /               attrs: format = "expert-dist-checkpoint", format_version, created,
 *                   expert_dist_version, git_commit
 *   /config         one attribute per option (the options table), incl. the model shape
 *   /model/<name>   one float32 dataset per parameter, named like the PyTorch state_dict
 *   /optimizer      attrs kind, step; m/<name>, v/<name> (AdamW) or m/<name> (SGD momentum)
 *   /trainer        epoch, step_in_epoch, global_step, best_val_loss, bad_evals, world_size,
 *                   seed, rng states, elapsed, tokens_seen
 *   /history        the history columns as 1-D float64 datasets
 *   /tokenizer      the serialized tokenizer (one string dataset)
 *
 * A 512-byte header (an HDF5 user block) in front holds the file's size and checksum.
 * Writing is atomic: <path>.tmp is written, flushed, fsync'ed, renamed over <path>, and
 * the directory is fsync'ed, so a crash at any moment leaves the previous file intact.
 * The plain writer does no MPI; ed_ckpt_save_collective() is the one the trainer calls:
 * rank 0 writes, every rank learns the result, so a failed write fails the job. */
#ifndef EXPERT_CHECKPOINT_H
#define EXPERT_CHECKPOINT_H

#include <mpi.h>
#include <stddef.h>

#include "expert/common.h"
#include "expert/dist.h"
#include "expert/history.h"
#include "expert/gpt.h"
#include "expert/optim.h"
#include "expert/options.h"
#include "expert/tokenizer.h"
#include "expert/train_state.h"

#define ED_CKPT_FORMAT "expert-dist-checkpoint"
#define ED_CKPT_FORMAT_VERSION 2

typedef struct {
    const ed_options *opt;
    ed_gpt *model;               /* shape, tensor table; parameters from ed_gpt_params() */
    const ed_optim *optim;       /* full state (lo = 0, hi = num_params); NULL = none */
    const ed_train_state *state; /* NULL = none (e.g. an exported model) */
    const ed_history *history;   /* NULL = none */
    const ed_tokenizer *tok;
    const float *params;         /* NULL, or a copy of the parameters to write instead */
} ed_ckpt_contents;

/* Writes atomically to path. compress: 0 = contiguous datasets, 1..9 = chunked + shuffle
 * + deflate. The file is laid out in memory first (about twice its size, briefly) and
 * written with plain write(2), so a full disk is an ordinary error, never a crash.
 * Required: opt (may be NULL: empty /config), model; optim/state/history/tok may be NULL
 * and their groups are then left out. optim must hold the FULL state (lo = 0, hi =
 * num_params): gather ZeRO shards first. On failure (-1, message naming path) <path> is
 * untouched and <path>.tmp removed.
 * Test hook: with ED_CKPT_DEBUG_KILL_BEFORE_RENAME=1 in the environment the process
 * SIGKILLs itself after the .tmp is fsync'ed and before the rename. */
int ed_ckpt_write(const char *path, const ed_ckpt_contents *c, int compress, ed_error *err);

/* ed_ckpt_write in its two halves, for a caller that writes in the background:
 *  - ed_ckpt_build lays the file out in memory (all of HDF5's work; call it on the thread
 *    that uses HDF5, the library may not be thread-safe): img owns the bytes;
 *  - ed_ckpt_commit checksums them into the header and writes them atomically (open,
 *    write, fsync, rename, fsync dir: common.h). No HDF5, no MPI: safe on a helper thread.
 *    It frees the image, whatever the outcome.
 * Test hook: ED_CKPT_DEBUG_WRITE_DELAY=SECONDS sleeps between writing the .tmp and its
 * fsync, to hold a write open long enough to kill or interrupt it (tests/faults). */
typedef struct {
    void *data;
    size_t size;
    double anon_mb; /* this process's private memory (RssAnon, MB; memstat.h) once the
                     * image was laid out: a save's peak, for the memory report */
} ed_ckpt_image;
int ed_ckpt_build(const char *path, const ed_ckpt_contents *c, int compress, ed_ckpt_image *img, ed_error *err);
int ed_ckpt_commit(const char *path, ed_ckpt_image *img, ed_error *err);
void ed_ckpt_image_free(ed_ckpt_image *img);

/* One checkpoint write in flight on a helper thread (ckpt_async.c): the caller's thread
 * only waits for an in-memory copy of the contents, the helper does the rest.
 *  - HDF5 built thread-safe (H5is_library_threadsafe; Debian's is): the caller's thread
 *    copies the parameters, the optimizer moments, the state and the history into
 *    buffers the writer keeps for the next save (memcpy: the stall is a fraction of the
 *    write); the helper lays the file out (HDF5) and commits it.
 *  - otherwise: the caller's thread lays the file out (ed_ckpt_build, the only HDF5 work)
 *    and the helper only commits it: HDF5 never runs on two threads. The stall is then
 *    the in-memory layout, about a third of a synchronous save.
 * The helper makes no MPI call (MPI is initialised FUNNELED) and blocks the stop signals
 * (SIGINT, SIGTERM, SIGUSR1, SIGHUP), so they reach the main thread. At most one write
 * is in flight: a save first waits for the previous one. The model's tensor table and
 * configuration and the tokenizer are borrowed, not copied (they never change during
 * training): they must outlive the write. Caller contract: no other HDF5 call between
 * a save and its wait unless the library is thread-safe (the trainer makes none: it
 * reads mapped token files and writes JSON). */
typedef struct {
    int busy;           /* started and not yet waited for */
    char path[ED_PATH_MAX + 64];
    int compress;
    ed_ckpt_image img;  /* the layout to commit (not thread-safe HDF5) */
    /* the copy to lay out (thread-safe HDF5): kept between saves */
    ed_ckpt_contents c;
    ed_options opt;
    ed_train_state state;
    ed_history hist;
    ed_optim optim;
    float *params;
    size_t params_n;
    int status;
    ed_error err;
    double seconds;     /* how long the last write took on the helper (valid after the wait) */
    double anon_mb;     /* ... and the private memory while its image existed (img.anon_mb) */
    void *thread;       /* pthread_t, opaque here */
} ed_ckpt_writer;
/* Starts saving c to path (check above for what is copied, what borrowed). The previous
 * write must have been waited for. Returns -1 only when laying the file out on this
 * thread failed (err names path); the write's own outcome comes from the wait. */
int ed_ckpt_writer_save(ed_ckpt_writer *w, const char *path, const ed_ckpt_contents *c, int compress, ed_error *err);
/* Optional, before the first save: allocates the copy's buffers for this model and an
 * optimizer of like's kind (like's slice does not matter) and faults their pages in, so
 * that the first save's stall is a plain copy too. */
void ed_ckpt_writer_reserve(ed_ckpt_writer *w, ed_gpt *model, const ed_optim *like);
/* Waits for the write in flight, if any: its status (0 when none was in flight), with
 * err naming the file on failure. */
int ed_ckpt_writer_wait(ed_ckpt_writer *w, ed_error *err);
/* Waits, then frees the kept buffers. */
void ed_ckpt_writer_free(ed_ckpt_writer *w);

/* Rank 0 writes; the status (and message) is agreed (ed_dist_agree) so all ranks return
 * the same. Collective over d. Only rank 0 reads c: other ranks may pass NULL. */
int ed_ckpt_save_collective(const ed_dist *d, const char *path, const ed_ckpt_contents *c,
                            int compress, ed_error *err);

/* Reading: open once, read what is needed, close. ed_ckpt_open validates once, before
 * any read: the whole-file checksum in the 512-byte header (before HDF5 parses anything:
 * HDF5 may crash on corrupted metadata; ED_CKPT_NO_VERIFY=1 skips it for files edited by
 * other tools), not HDF5, wrong format, wrong version. Each read then validates its part:
 * missing dataset, shape mismatch with the config, NaN or Inf in weights -> -1 with a
 * message naming the file and dataset. Not collective: any rank may open and read
 * (callers agree on the status). On a failed read the destination may be partly
 * overwritten; the handle stays usable. */
typedef struct ed_ckpt ed_ckpt;
ed_ckpt *ed_ckpt_open(const char *path, ed_error *err); /* NULL + err naming the file */
void ed_ckpt_close(ed_ckpt *c);                         /* NULL is fine */
const char *ed_ckpt_path(const ed_ckpt *c);

/* Which stored options a reader takes: ed_command bits matched against the options
 * table's ckpt column (ED_CMD_TRAIN for a resume: model, windows, tokenizer, seed,
 * optimizer; ED_CMD_EVAL; ED_CMD_GENERATE; ED_CMD_INSPECT: every stored option but the
 * one-shot ones), or this name for the model alone: */
#define ED_CKPT_USES_MODEL ED_CMD_GENERATE /* shape, windows, tokenizer: what generate uses,
                                              and what export and --init-from take */
/* The stored options for `uses` replace those in *opt, and opt->model is set from the
 * /model attributes (incl. the real vocab_size). Options missing in the file keep their
 * value; unknown ones are ignored. */
int ed_ckpt_read_options(ed_ckpt *c, unsigned uses, ed_options *opt, ed_error *err);
ed_tokenizer *ed_ckpt_read_tokenizer(ed_ckpt *c, ed_error *err);
/* Model parameters into an ed_gpt created with the checkpoint's config (every /model
 * attribute incl. n_heads must match; no extra tensors; NaN/Inf rejected). */
int ed_ckpt_read_model(ed_ckpt *c, ed_gpt *m, ed_error *err);
/* Optimizer moments for the slice [o->lo, o->hi) (ZeRO reads only its shard) and step. */
int ed_ckpt_read_optim(ed_ckpt *c, ed_optim *o, const ed_gpt *m, ed_error *err);
/* Trainer state, and the history when h != NULL (its columns are replaced; h must be
 * zeroed or hold columns from ed_dcol_push). Fields and columns added in a later format
 * version than the file's are left as the caller set them (the caller derives them:
 * e.g. epoch_windows of a format-1 file is step_in_epoch x that run's global batch). */
int ed_ckpt_read_state(ed_ckpt *c, ed_train_state *s, ed_history *h, ed_error *err);

/* ---- models from options and checkpoints (ckpt_load.c) ----
 * A fresh model for an options/vocab pair: ed_gpt_create + recomputation + GEMM backend
 * and precision (shape from o->model, vocab from the tokenizer, --gemm `auto` resolved
 * for `mach`, which is probed here when NULL); NULL with err on a bad shape or a backend
 * this build lacks. Train (fresh start), and ed_ckpt_load below. */
ed_gpt *ed_ckpt_model_new(const ed_options *o, int vocab, const ed_machine *mach, ed_error *err);
/* The one way resume, eval, generate, export and --init-from get a model from a
 * checkpoint: the options it dictates for `uses` (ed_options_dictate: the options
 * table's ckpt column; the preset's other values from the checkpoint's preset) replace
 * those in *o; *tok gets its tokenizer and *model a model of its shape
 * (ed_ckpt_model_new with mach) holding its weights, both owned by the caller. *dict
 * (NULL: not wanted) lists what the user set and the checkpoint overrules: a resume
 * (uses ED_CMD_TRAIN) warns with it; for any other `uses` a command-line flag among them
 * is refused before the weights are read: -1 with err and dict->n_flags > 0 (eval and
 * generate cannot honour it: a usage error, exit 2). On failure -1 with err naming the
 * file, *tok and *model NULL, *o possibly partly updated. */
int ed_ckpt_load(ed_ckpt *c, unsigned uses, ed_options *o, const ed_machine *mach, ed_tokenizer **tok,
                 ed_gpt **model, ed_dictated *dict, ed_error *err);
/* The same for a command that needs nothing else from the file: open, load, close. */
int ed_ckpt_load_file(const char *path, unsigned uses, ed_options *o, const ed_machine *mach, ed_tokenizer **tok,
                      ed_gpt **model, ed_dictated *dict, ed_error *err);

/* A summary read without loading any tensor: for `inspect`, find_latest and tools. */
typedef struct {
    int format_version;
    char created[32];             /* ISO-8601 UTC, e.g. "2026-11-25T21:40:00Z" */
    char expert_dist_version[32];
    char git_commit[64];
    ed_model_config model;        /* from the /model attributes */
    long num_params;
    int has_optimizer, has_trainer, has_history, has_tokenizer;
    long global_step;             /* -1 without /trainer */
    int epoch;                    /* -1 without /trainer */
} ed_ckpt_info;
int ed_ckpt_read_info(ed_ckpt *c, ed_ckpt_info *info, ed_error *err);

/* Prints a readable summary of everything stored (root attributes, every /config,
 * /optimizer and /trainer attribute, tensor shapes, history lengths) to out, without
 * building a model: a full dump for tools and debugging. */
int ed_ckpt_print(ed_ckpt *c, FILE *out, ed_error *err);

/* --resume auto: the newest of last.h5 and step-<N>.h5 in dir by the global_step stored
 * inside (not by mtime). Returns 1 and fills path when found, 0 when none (or no such
 * directory: a fresh start), -1 on error. Unreadable candidates are skipped (a newer but
 * broken step file must not block resuming from an older good one); when every
 * candidate is unreadable, -1 with the first one's error. *.tmp files are never
 * candidates. On a tie last.h5 wins. */
int ed_ckpt_find_latest(const char *dir, char *path, size_t path_len, ed_error *err);

#endif
