/* commands.h — the commands besides `train` (src/commands/): eval, generate, import,
 * export, inspect, prepare, verify. Each is COLLECTIVE over d->comm (all ranks call it with the same options) and
 * returns an ED_EXIT_* status, the same on every rank; rank 0 printed any error. */
#ifndef EXPERT_COMMANDS_H
#define EXPERT_COMMANDS_H

#include "expert/dist.h"
#include "expert/options.h"

/* `expert-dist eval`: loss, perplexity and token accuracy of o->checkpoint on o->val_file. */
int ed_eval(const ed_options *o, const ed_dist *d);
/* `expert-dist eval --generate`: continues each prompt of the references file o->val_file
 * (geneval.h) with the model in o->checkpoint, over the ranks, and prints corpus BLEU and
 * ROUGE; --predictions writes the per-example file. ed_eval calls it for --generate. */
int ed_eval_generate(const ed_options *o, const ed_dist *d);
/* `expert-dist generate`: continues o->prompt with the model in o->checkpoint. */
int ed_generate(const ed_options *o, const ed_dist *d);
/* ed_generate that also hands rank 0 what it printed (the samples, prompts included, one
 * line each): *text is malloc'ed, the caller frees it; NULL on other ranks or on failure. */
int ed_generate_text(const ed_options *o, const ed_dist *d, char **text);
/* `expert-dist import MODEL_DIR -o OUT.h5`: a GPT-2 model in the Hugging Face layout
 * (o->checkpoint = the directory) into an expert-dist checkpoint file; -o arrives in
 * o->checkpoint_dir, which for import/export is the output path, not a directory of
 * checkpoints (cmd_convert.c). */
int ed_import(const ed_options *o, const ed_dist *d);
/* `expert-dist export CHECKPOINT -o MODEL_DIR`: the reverse (include/expert/hf.h). */
int ed_export(const ed_options *o, const ed_dist *d);
/* `expert-dist inspect`: config, progress and metrics stored in o->checkpoint. */
int ed_inspect(const ed_options *o, const ed_dist *d);
/* `expert-dist prepare`: tokenizes o->train_file (and o->val_file) once into the prepared
 * HDF5 token file o->data_file (include/expert/prepared.h). */
int ed_prepare(const ed_options *o, const ed_dist *d);
/* `expert-dist verify`: every check of the prepared file o->data_file (ed_prepared_verify). */
int ed_verify(const ed_options *o, const ed_dist *d);
/* `expert-dist calibrate`: rank 0 measures the MFU reference (ed_gemm_peak_gflops: the
 * per-core GEMM peak with every core busy) of each backend x precision (or those given by
 * --gemm / --precision) and stores it in the measurement cache (expert/gemm_cache.h),
 * where train finds it. Run it on an idle machine. */
int ed_calibrate(const ed_options *o, const ed_dist *d);

#endif
