/* hf.h — GPT-2 and Llama models in the Hugging Face layout, in and out (src/hf/,
 * docs/formats.md). A directory whose config.json is a Llama's (model_type "llama") is
 * imported as --arch llama (hf_llama.c: LlamaForCausalLM names, no transposition, the
 * weights in one model.safetensors or in shards, F32/BF16/F16; our tokenizer file); a
 * llama checkpoint is exported in that layout. The rest of this comment is GPT-2's.
 *
 * A model directory holds config.json (GPT2Config: n_embd, n_layer, n_head, n_inner,
 * n_positions, vocab_size, activation_function gelu_new, layer_norm_epsilon 1e-5, tied
 * head), model.safetensors (GPT2LMHeadModel's state dict: "transformer.h.{i}.attn.c_attn.
 * weight" ...; the "transformer." prefix is optional on import; Conv1D weights stored
 * [in, out], ours are [out, in]) and GPT-2's tokenizer files vocab.json + merges.txt.
 *
 * Ids: our 4 specials come first, so GPT-2 id k is our k + 4, except <|endoftext|>, which
 * is our <EOS> (include/expert/tokenizer.h). Rows of wte move accordingly; our <BOS> row is
 * <|endoftext|>'s (GPT-2 starts documents with it), <PAD> and <UNK> (which GPT-2 never
 * sees) get the mean row. Export maps back: vocab_size = ours - 3, <|endoftext|> last,
 * so the learned <BOS>/<PAD>/<UNK> rows of a fine-tuned BPE model are not exported.
 * A word-tokenizer model has no GPT-2 numbering: it is exported with our ids unchanged
 * (vocab_size = ours) and its tokenizer as expert-dist-tokenizer.json, which import
 * recognises, so nothing is lost. */
#ifndef EXPERT_HF_H
#define EXPERT_HF_H

#include <stdio.h>

#include "expert/common.h"

/* Reads model_dir (GPT-2 or Llama, by its config.json) and writes an expert-dist checkpoint (model, tokenizer, the options
 * that describe them; no optimizer or trainer state) to out_h5, atomically. One line per
 * step to log (may be NULL). -1 with err naming the file and tensor/field on bad input. */
int ed_hf_import(const char *model_dir, const char *out_h5, FILE *log, ed_error *err);
/* Writes config.json, model.safetensors and vocab.json + merges.txt (BPE) or
 * expert-dist-tokenizer.json (word tokenizer) of the checkpoint's model into model_dir
 * (created if missing), each file atomically. */
int ed_hf_export(const char *checkpoint, const char *model_dir, FILE *log, ed_error *err);

#endif
