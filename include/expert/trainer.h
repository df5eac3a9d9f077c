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

/* Stop flag (SIGTERM, SIGUSR1: preempted); see signals.c. Installed once, in main. Not
 * collective: each process installs its own handlers and reads its own flag. */
void ed_signals_install(void);
/* Training adds SIGINT to the stop flag (interrupted; a second one exits at once) and
 * makes SIGHUP and SIGPIPE harmless (ed_output_keep). Other commands keep the defaults,
 * so Ctrl-C or a closed pipe still ends `generate` at once. */
void ed_signals_train(void);
int ed_signal_pending(void); /* the first stop signal's number, or 0 */
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
/* -1 on every rank, err filled everywhere, when some rank met a damaged window. */
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
