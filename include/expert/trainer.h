/* trainer.h — the data-parallel training loop (src/trainer/); the other commands built
 * on the model are in commands.h. Every function here is COLLECTIVE over d->comm: all ranks call it with
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

#include "expert/dataset.h"
#include "expert/dist.h"
#include "expert/gpt.h"
#include "expert/options.h"
#include "expert/tokenizer.h"

/* Preemption flag (SIGTERM, SIGUSR1); see signals.c. */
void ed_signals_install(void);
int ed_signal_pending(void); /* the signal number, or 0 */

/* `expert-dist train` with validated options whose file paths are resolved.
 * Returns an ED_EXIT_* status (the same on all ranks); rank 0 printed any error. */
int ed_train(const ed_options *o, const ed_dist *d);
/* ed_gpt_create + recomputation + GEMM backend and precision for an options/vocab pair
 * (shape from o->model, vocab from the tokenizer, --gemm `auto` resolved for `mach`, which
 * is probed here when NULL); NULL with err on a bad shape or a backend this build lacks.
 * Used by train, eval and generate. */
ed_gpt *ed_trainer_make_model(const ed_options *o, int vocab, const ed_machine *mach, ed_error *err);

/* Opens checkpoint `path` for command cmd (ED_CMD_TRAIN for --resume, ED_CMD_EVAL,
 * ED_CMD_GENERATE): the options it dictates to that command (ed_options_dictate: the
 * options table's ckpt column: model shape, windows and tokenizer for all three, the
 * seed and the optimizer for a resume; the preset's other values from its preset)
 * replace those in *o, and *dict (may be NULL) lists the ones the user had set to
 * another value. For eval and generate a command-line flag among them is refused: -1
 * with err, dict->n_flags > 0 (a usage error: the caller exits 2). *tok gets its
 * tokenizer and *model a model of its shape (ed_trainer_make_model with mach) holding its
 * weights, both owned by the caller. Not collective (any rank may call it; callers agree
 * on the status). On failure -1 with err naming the file, *tok and *model NULL, *o
 * possibly partly updated. */
int ed_trainer_open_checkpoint(const char *path, ed_command cmd, ed_options *o, const ed_machine *mach,
                               ed_tokenizer **tok, ed_gpt **model, ed_dictated *dict, ed_error *err);

/* Loss, perplexity and token accuracy of `m` over all windows of ds, sharded over ranks
 * by s; the same result on every rank. */
typedef struct {
    double loss, perplexity, accuracy;
    long tokens;
} ed_eval_result;
/* -1 on every rank, err filled everywhere, when some rank met a damaged window. */
int ed_trainer_evaluate(ed_gpt *m, const ed_dataset *ds, ed_sampler *s, ed_batch *b, uint32_t *ids,
                        int pad_to_max, const ed_dist *d, ed_eval_result *r, ed_error *err);

#endif
