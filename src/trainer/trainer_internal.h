/* trainer_internal.h — the trainer's working set, shared by the files of src/trainer/.
 * Private: the public face is include/expert/trainer.h.
 *
 * Ownership: ed_trainer owns everything it points to except `d`;
 * trainer_free() releases it all. Everything that must survive a resume lives in `st`,
 * `hist`, the model and the optimizer (what checkpoints save), never in locals. */
#ifndef EXPERT_TRAINER_INTERNAL_H
#define EXPERT_TRAINER_INTERNAL_H

#include "expert/checkpoint.h"
#include "expert/dataset.h"
#include "expert/dist.h"
#include "expert/geneval.h"
#include "expert/gpt.h"
#include "expert/optim.h"
#include "expert/options.h"
#include "expert/tokenizer.h"
#include "expert/train_state.h"
#include "expert/trainer.h"

/* The part of the flat parameter/gradient buffers this rank updates: all of it, or under
 * ZeRO-1 (--zero 1 on more than one rank) its slice [lo, hi), with every rank's slice
 * (counts/displs, in floats) for the reduce-scatter, the all-gather and the checkpoint's
 * gather. Held here once: the optimizer is built over [lo, hi), the step and the
 * checkpoint writer read it here. */
typedef struct {
    int zero;             /* ZeRO-1 active */
    size_t lo, hi;
    int *counts, *displs; /* [world]; NULL without ZeRO */
} trainer_slice;

/* Measurements, not state: they do not change results and are not saved. */
typedef struct {
    double flops_per_token, ref_gflops;
    int ref_measured;     /* ref_gflops was measured at start (not given) */
    long steps_run;       /* steps taken by this process */
    double step_seconds;  /* wall time inside steps 2..steps_run (the first is warm-up) */
    double comm_seconds;  /* ... of which blocked in gradient buckets, scalar allreduce, ZeRO allgather */
    long tokens_run;      /* ... and their global target tokens */
    double first_seconds, first_comm; /* the same for the first step */
    long first_tokens;
    long saves;           /* checkpoints saved by this process */
    double save_stall;    /* ... wall time the loop spent in them (async: the in-memory copy),
                             not counting: */
    double save_waited;   /* wall time spent waiting for a background write to finish */
    double write_seconds; /* rank 0: ... time their writes took (async: on the writer thread) */
    ed_mem_usage mem;     /* peak memory by kind, sampled at step ends and while a checkpoint
                           * is copied or laid out (memstat.h) */
} trainer_timing;

typedef struct {
    /* configuration: what this run was asked to do, and where it runs */
    ed_options options;  /* the effective options (model shape taken from a resumed
                          * checkpoint); read them through o. Not the optimizer: optim */
    const ed_options *o; /* = &options */
    const ed_dist *d;
    char resume_path[ED_PATH_MAX]; /* "" = fresh start */
    char init_path[ED_PATH_MAX];   /* --init-from when not resuming: weights + tokenizer */
    ed_ckpt *resume_ckpt, *init_ckpt; /* open during setup only (closed once read; NULL after) */
    int threads;
    int verbose; /* rank 0 and not --quiet */
    int tty;     /* rank 0's stdout is a terminal */
    ed_machine mach; /* CPU, ISA, OpenBLAS core, oneDNN: what the GEMM backend is chosen from */
    char history_path[ED_PATH_MAX + 16];
    char log_path[ED_PATH_MAX + 16]; /* <checkpoint-dir>/train.log: output after a lost terminal */
    char *config_json;
    char *hosts; /* rank 0: where the ranks run, for the banner (ed_dist_hosts_summary) */

    /* data: tokenizer, token windows, this rank's share of them, the batch buffers */
    ed_tokenizer *tok;
    ed_dataset train_ds, val_ds;
    int has_val;
    ed_sampler train_s, val_s;
    ed_batch batch;
    uint32_t *ids; /* [batch_size] */
    ed_refs gen_refs; /* --val-generate: the references scored at validations (n = 0: none) */

    /* engine: the model, the optimizer over this rank's slice, the gradient buckets */
    ed_gpt *model;
    ed_optim optim; /* over slice [lo, hi) */
    trainer_slice slice;
    ed_grad_sync sync;

    /* run state: what checkpoints save (st, hist, model, optim) and the loop's counters */
    ed_train_state st;
    ed_history hist;
    ed_metrics metrics; /* <checkpoint-dir>/metrics.jsonl, rank 0 */
    ed_ckpt_writer writer;  /* rank 0: the checkpoint write in flight (--async-save) */
    char rotate_after[16];  /* "step"/"epoch": rotate those once the write in flight succeeds */
    long steps_per_epoch, total_steps; /* a full epoch's steps; steps of the whole run */
    long epoch_steps;                  /* steps of the epoch in progress (fewer after a resume
                                        * that changed the global batch mid-epoch) */
    long resume_batch;                 /* global batch of the run that wrote the checkpoint */

    trainer_timing timing;
} ed_trainer;

/* What one optimizer step produced (identical on every rank). */
typedef struct {
    double loss;      /* plain cross-entropy, mean over the step's global target tokens */
    double objective; /* what the gradient is of: loss with --label-smoothing's term */
    long count;       /* global target tokens */
    double grad_norm; /* before clipping */
    double lr;
    int skipped;      /* NaN/Inf: no update was applied */
    int overflow;     /* ... because fp16's scaled gradients overflowed (the scaler halved its scale) */
    int stop_signal;  /* some rank got SIGTERM/SIGUSR1 */
    double comm_seconds; /* this rank's time blocked in the step's collectives */
} step_result;

/* train_setup.c */
int trainer_setup(ed_trainer *t, const ed_options *o, const ed_dist *d, ed_error *err);
void trainer_free(ed_trainer *t);

/* train_consistency.c: collective; every rank holds rank 0's options, tokenizer and token
 * streams, else -1 on every rank with err naming the rank, host and file. */
int trainer_check_consistent(ed_trainer *t, ed_error *err);

/* train_step.c */
int trainer_step(ed_trainer *t, step_result *r, ed_error *err);
/* Steps of the epoch in progress: those taken plus ceil(windows left / G). */
long trainer_epoch_steps(const ed_trainer *t);
/* The scheduled learning rate of optimizer step `step` (0-based). */
double trainer_lr(const ed_trainer *t, long step);

/* train_checkpoints.c. Collective. A save returns once the checkpoint is laid out in
 * memory (--async-save) or on disk; trainer_save_wait waits for the write in flight and
 * agrees on its outcome (-1 on every rank when it failed): call it before the end of a
 * run and before relying on a file (a preemption's last.h5, the final sample). */
int trainer_save(ed_trainer *t, const char *name, ed_error *err);
int trainer_save_wait(ed_trainer *t, ed_error *err);
int trainer_save_step(ed_trainer *t, ed_error *err);
/* epoch-<N>.h5 for the epoch just completed (N = st.epoch, 1-based after the increment). */
int trainer_save_epoch(ed_trainer *t, ed_error *err);
/* Collective: rank 0 opens <checkpoint-dir>/metrics.jsonl (creating the directory): anew
 * for a fresh run, keeping the rows up to the resumed checkpoint's step otherwise. */
int trainer_open_metrics(ed_trainer *t, ed_error *err);
int trainer_write_history(ed_trainer *t, ed_error *err);
/* <checkpoint-dir>/config.ini: the effective options as an INI file (`-c` reads it back). */
int trainer_write_config(ed_trainer *t, ed_error *err);

#endif
