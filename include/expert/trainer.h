/* trainer.h — the data-parallel training loop (src/trainer/); the other commands built
 * on the model are in commands.h. ed_train and ed_trainer_evaluate are COLLECTIVE over
 * d->comm: all ranks call them with the same options and get the same return value. The
 * signal functions are per process (each rank installs its own handlers and reads its own
 * flag; the step agrees on it).
 *
 * One optimizer step (docs/design.md has the diagram):
 *   for each micro-batch a < grad_accum: sampler -> batch -> forward (loss SUM, count)
 *     -> backward(scale 1), accumulating; on the last one backward reports finished
 *     gradient ranges and buckets start MPI_Iallreduce while it continues;
 *   wait for the buckets; allreduce (loss sum, target count, stop signal);
 *   grads /= global count; global norm; clip; optimizer step at the scheduled lr.
 * Every rank applies the same update to the same weights, so replicas never drift
 * (--check-every verifies it). */
#ifndef EXPERT_TRAINER_H
#define EXPERT_TRAINER_H

#include "expert/dataset.h"
#include "expert/dist.h"
#include "expert/gpt.h"
#include "expert/options.h"
#include "expert/tokenizer.h"

/* Stop signals (SIGTERM, SIGUSR1: preempted, exit 3); see signals.c. Installed once, in
 * main; `speak`: this process prints the one line (rank 0). Not collective: each process
 * installs its own handlers and reads its own flag. Until ed_signals_graceful(1) a stop
 * signal ends the process at once with its exit status (nothing unsaved to lose). */
void ed_signals_install(int speak);
/* Training adds SIGINT (interrupted, exit 130) and makes SIGHUP and SIGPIPE harmless
 * (ed_output_keep). Other commands keep the defaults, so Ctrl-C or a closed pipe still
 * ends `generate` at once. */
void ed_signals_train(void);
/* on = 1: from now a stop signal only sets the flag, which the caller must poll and agree
 * on across ranks at least every few seconds (the step, every validation batch, every
 * generated example; a second SIGINT still exits at once); on = 0: back to exiting at once.
 * Called by every rank at the same point of the program. */
void ed_signals_graceful(int on);
/* The first stop signal of a graceful phase makes stdout and stderr non-blocking (a
 * launcher that stops reading them must not keep a rank from its save; signals.c): once
 * the work is on disk this makes them blocking again (also done by ed_signals_graceful(0)
 * and on every exit from the handler). Then ed_output_keep moves the rest to the log file
 * if a write failed meanwhile. */
void ed_signals_output_restore(void);
int ed_signal_pending(void); /* the first stop signal's number, or 0 */
/* Collective: the first stop signal's number on some rank (the lowest rank that has one),
 * the same on every rank; 0 when no rank has one. */
int ed_signal_agreed(const ed_dist *d);
/* Polled once per step (cheap): after SIGHUP, or once stdout/stderr failed (a closed pipe
 * or terminal), both are pointed at log_path (appended to, created if need be) with one
 * line saying why; returns 1 then, else 0. */
int ed_output_keep(const char *log_path);

/* `expert-dist train` with validated options whose file paths are resolved.
 * Returns an ED_EXIT_* status (the same on all ranks); rank 0 printed any error. */
int ed_train(const ed_options *o, const ed_dist *d);
/* Loss, perplexity and token accuracy of `m` over all windows of ds, sharded over ranks
 * by s; the same result on every rank. */
typedef struct {
    double loss, perplexity, accuracy;
    long tokens;
    double bleu, rouge1, rouge2, rougeL; /* training's --val-generate (0-100); NAN otherwise */
} ed_eval_result;
/* -1 on every rank, err filled everywhere, when some rank met a damaged window; the
 * signal's number (> 0) on every rank when some rank got a stop signal in a graceful phase
 * (ed_signals_graceful; polled collectively every batch): r is not filled then.
 * Test hook: ED_EVAL_DEBUG_DELAY=SECONDS sleeps before each batch (a long validation on a
 * tiny model for the signal tests; results unchanged). */
int ed_trainer_evaluate(ed_gpt *m, const ed_dataset *ds, ed_sampler *s, ed_batch *b, uint32_t *ids,
                        ed_row_layout layout, const ed_dist *d, ed_eval_result *r, ed_error *err);

/* `--gemm auto` for the commands that run a checkpoint's model (eval, eval --generate,
 * generate; train_compute.c, where train's own pick is made the same way): when o->gemm is
 * auto and this is no --dry-run, the backend fastest at workload w (ed_gpt_gemm_compare;
 * rows: a pass's rows for TRAIN / FORWARD) from the measurement cache when this machine
 * has measured it (unless --gemm-cache off), else measured now and stored; m is switched
 * to it and rank 0 (or the lone process) prints one line on `out` unless --quiet:
 *   # gemm: openblas, fp32; auto picked openblas: openblas 195 onednn 178 GFLOPS
 *     on the forward products at 128 rows (measured now in 48 ms, stored in FILE); ...
 * COLLECTIVE over d: every rank measures (or reads) and all take the backend whose
 * slowest rank is fastest; d = NULL: this process alone (generate's rank 0). A damaged
 * cache line: one warning naming file:line, measured again. -1 with err (on every rank)
 * only when the picked backend cannot be set. */
int ed_trainer_gemm_auto(ed_gpt *m, const ed_options *o, ed_gemm_work w, int rows, const ed_dist *d, FILE *out,
                         ed_error *err);

#endif
