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

#endif
