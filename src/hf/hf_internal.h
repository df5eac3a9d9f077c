/* hf_internal.h — what the Hugging Face converters share (private to src/hf, its tests and
 * fuzz harnesses): the weight files of a model directory, one file or shards.
 *
 * A directory holds model.safetensors, or model.safetensors.index.json whose "weight_map"
 * names, for every tensor, the shard file that holds it (transformers' sharded save). The
 * shards are loaded once each; a tensor is looked up by name across them. Converters take
 * the tensors they know (hf_take) and then refuse any left over (hf_weights_check_used),
 * so nothing in a checkpoint is silently dropped. */
#ifndef ED_HF_INTERNAL_H
#define ED_HF_INTERNAL_H

#include <stddef.h>

#include <stdio.h>

#include "expert/common.h"
#include "expert/gpt.h"
#include "expert/safetensors.h"
#include "expert/tokenizer.h"

/* Our tokenizer's file in a model directory (a model whose tokenizer has no Hugging Face
 * form is exported with it; import reads it back with the ids unchanged). */
#define HF_TOK_FILE "expert-dist-tokenizer.json"

typedef struct {
    int n;              /* files: 1, or the distinct shards of the index */
    ed_safetensors *st; /* [n] */
    char **path;        /* [n] their paths (for messages) */
    char **used;        /* [n][st[i].n]: 1 once a converter took the tensor */
    char *index;        /* path of the index file, NULL without one */
} hf_weights;

/* Opens the weights of model directory dir (see above). Every tensor the index names must
 * be in the shard it names; a missing or unreadable shard, a bad index (not an object, no
 * "weight_map", a value that is not a plain file name in dir) fail naming the file and
 * the tensor or field. On failure nothing is left open. */
int hf_weights_open(hf_weights *w, const char *dir, ed_error *err);
void hf_weights_close(hf_weights *w);

/* The shard files an index text names, in order of first appearance, checked as
 * hf_weights_open checks them (origin names the index in messages). *files is malloc'd,
 * each entry too (free with hf_index_files_free). Used by hf_weights_open and the fuzzer. */
int hf_index_files(const char *text, size_t len, const char *origin, char ***files, int *n, ed_error *err);
void hf_index_files_free(char **files, int n);

/* Tensor prefix+name, else name (prefix may be ""), marked used; NULL when absent. *shard
 * (may be NULL) receives the file it is in. */
const ed_st_tensor *hf_find(hf_weights *w, const char *prefix, const char *name, int *shard);
/* Reads tensor prefix+name (or name) of shape [rows] (cols 0) or [rows, cols] as float32
 * into dst, transposed into [cols, rows] with `transpose` (GPT-2's Conv1D). A missing
 * tensor or another shape fails naming both; F32, BF16, F16 and F64 are read. */
int hf_take(hf_weights *w, const char *prefix, const char *name, int rows, int cols, int transpose, float *dst,
            ed_error *err);
/* -1 naming the first tensor no converter took, unless skip(name) says it may be
 * ignored (skip may be NULL); `model` names the architecture in the message. */
int hf_weights_check_used(const hf_weights *w, int (*skip)(const char *name), const char *model, ed_error *err);

/* ---- Llama (hf_llama.c; hf.h documents the layout) ---- */
/* 1 when dir/config.json declares a Llama (model_type "llama", or LlamaForCausalLM among
 * its architectures); 0 otherwise, also when it cannot be read (the caller reports). */
int hf_is_llama(const char *dir);
/* ed_hf_import / ed_hf_export for a Llama: the same contracts. */
int hf_llama_import(const char *dir, const char *out, FILE *log, ed_error *err);
int hf_llama_export(const char *ckpt, const ed_gpt *m, const ed_tokenizer *tok, const char *dir, FILE *log,
                    ed_error *err);

#endif
