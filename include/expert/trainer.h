/* trainer.h — the data-parallel training loop and the commands built on the model
 * (src/trainer/). Every function here is COLLECTIVE over d->comm: all ranks call it with
 * the same options and get the same return value.
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

#include "expert/dist.h"
#include "expert/options.h"

/* Preemption flag (SIGTERM, SIGUSR1); see signals.c. */
void ed_signals_install(void);
int ed_signal_pending(void); /* the signal number, or 0 */

/* `expert-dist train` with validated options whose file paths are resolved.
 * Returns an ED_EXIT_* status (the same on all ranks); rank 0 printed any error. */
int ed_train(const ed_options *o, const ed_dist *d);
/* `expert-dist eval`: loss, perplexity and token accuracy of o->checkpoint on o->val_file. */
int ed_eval(const ed_options *o, const ed_dist *d);
/* `expert-dist generate`: continues o->prompt with the model in o->checkpoint. */
int ed_generate(const ed_options *o, const ed_dist *d);
/* `expert-dist inspect`: config, progress and metrics stored in o->checkpoint. */
int ed_inspect(const ed_options *o, const ed_dist *d);
/* `expert-dist prepare`: tokenizes o->train_file (and o->val_file) once into the prepared
 * HDF5 token file o->data_file (include/expert/prepared.h). */
int ed_prepare(const ed_options *o, const ed_dist *d);

#endif
