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
 * Writing is atomic: <path>.tmp is written, flushed, fsync'ed, renamed over <path>, and
 * the directory is fsync'ed, so a crash at any moment leaves the previous file intact.
 * The plain writer does no MPI; ed_ckpt_save_collective() is the one the trainer calls:
 * rank 0 writes, every rank learns the result, so a failed write fails the job. */
#ifndef EXPERT_CHECKPOINT_H
#define EXPERT_CHECKPOINT_H

#include <mpi.h>
#include <stddef.h>

#include "expert/common.h"
#include "expert/gpt.h"
#include "expert/optim.h"
#include "expert/options.h"
#include "expert/tokenizer.h"
#include "expert/train_state.h"

#define ED_CKPT_FORMAT "expert-dist-checkpoint"
#define ED_CKPT_FORMAT_VERSION 1

typedef struct {
    const ed_options *opt;
    ed_gpt *model;               /* parameters are read from ed_gpt_params() */
    const ed_optim *optim;       /* full state (lo = 0, hi = num_params); NULL = none */
    const ed_train_state *state; /* NULL = none (e.g. an exported model) */
    const ed_history *history;   /* NULL = none */
    const ed_tokenizer *tok;
} ed_ckpt_contents;

/* Writes atomically to path. compress: 0 = contiguous datasets, 1..9 = chunked + deflate. */
int ed_ckpt_write(const char *path, const ed_ckpt_contents *c, int compress, ed_error *err);

/* Rank 0 writes; the status (and message) is broadcast so all ranks return the same. */
int ed_ckpt_save_collective(MPI_Comm comm, const char *path, const ed_ckpt_contents *c,
                            int compress, ed_error *err);

/* Reading, in the order a resume or `generate` needs it. Every reader validates:
 * not HDF5 / wrong format / wrong version / missing dataset / shape mismatch with the
 * config / NaN or Inf in weights -> -1 with a message naming the file and dataset. */
/* Options stored in /config applied on top of *opt (so flags can later override). */
int ed_ckpt_read_options(const char *path, ed_options *opt, ed_error *err);
ed_tokenizer *ed_ckpt_read_tokenizer(const char *path, ed_error *err);
/* Model parameters into an ed_gpt created with the checkpoint's config. */
int ed_ckpt_read_model(const char *path, ed_gpt *m, ed_error *err);
/* Optimizer moments for the slice [o->lo, o->hi) (ZeRO reads only its shard) and step. */
int ed_ckpt_read_optim(const char *path, ed_optim *o, const ed_gpt *m, ed_error *err);
int ed_ckpt_read_state(const char *path, ed_train_state *s, ed_history *h, ed_error *err);

/* --resume auto: the newest of last.h5 and step-<N>.h5 in dir by the global_step stored
 * inside (not by mtime). Returns 1 and fills path when found, 0 when none, -1 on error. */
int ed_ckpt_find_latest(const char *dir, char *path, size_t path_len, ed_error *err);

#endif
