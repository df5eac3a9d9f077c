/* hf_gpt2.c — GPT-2 in the Hugging Face layout <-> expert-dist checkpoints (hf.h).
 * The architectures are the same; what moves is names and the Conv1D transposition. The
 * tokenizer keeps its own ids (GPT-2's <|endoftext|> stays 50256), so embedding rows are
 * copied in order; only checkpoints of the older import, whose bpe tokenizer put our 4
 * specials first, are exported with the shift undone. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "expert/checkpoint.h"
#include "expert/hf.h"
#include "expert/safetensors.h"
#include "expert/tokenizer.h"
#include "hf_internal.h"

#define TOK_FILE HF_TOK_FILE

/* Our tensors of block l and their GPT-2 names and layout: Conv1D weights are [in, out]. */
static const struct {
    const char *ours, *hf;
    int conv1d;
} BLOCK_MAP[] = {
    {"ln1.weight", "ln_1.weight", 0},       {"ln1.bias", "ln_1.bias", 0},
    {"qkv.weight", "attn.c_attn.weight", 1}, {"qkv.bias", "attn.c_attn.bias", 0},
    {"proj.weight", "attn.c_proj.weight", 1}, {"proj.bias", "attn.c_proj.bias", 0},
    {"ln2.weight", "ln_2.weight", 0},       {"ln2.bias", "ln_2.bias", 0},
    {"fc.weight", "mlp.c_fc.weight", 1},    {"fc.bias", "mlp.c_fc.bias", 0},
    {"fc_out.weight", "mlp.c_proj.weight", 1}, {"fc_out.bias", "mlp.c_proj.bias", 0},
};
enum { N_BLOCK_MAP = sizeof BLOCK_MAP / sizeof BLOCK_MAP[0] };

static void join(char *buf, size_t len, const char *dir, const char *file) { snprintf(buf, len, "%s/%s", dir, file); }

/* ---- config.json ---------------------------------------------------------------------- */

typedef struct {
    int V, D, L, H, FF, P;
} hf_shape;

static int cfg_int(const json_t *root, const char *key, int *out, int required, const char *path, ed_error *err) {
    const json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return required ? ed_fail(err, "%s: \"%s\" is missing", path, key) : 1;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1 << 30)
        return ed_fail(err, "%s: \"%s\" must be a positive integer", path, key);
    *out = (int)json_integer_value(v);
    return 0;
}

/* A flag GPT-2 leaves at `want`; another value is an architecture we do not implement. */
static int cfg_flag(const json_t *root, const char *key, int want, const char *path, ed_error *err) {
    const json_t *v = json_object_get(root, key);
    if (!v) return 0;
    if (!json_is_boolean(v) || json_is_true(v) != want)
        return ed_fail(err, "%s: \"%s\" must be %s (other GPT-2 variants are not supported)", path, key,
                       want ? "true" : "false");
    return 0;
}

static int read_config(const char *dir, hf_shape *s, ed_error *err) {
    char path[ED_PATH_MAX + 32];
    join(path, sizeof path, dir, "config.json");
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) return ed_fail(err, "%s:%d: %s", path, je.line, je.text);
    int rc = -1;
    const json_t *mt = json_object_get(root, "model_type"), *act = json_object_get(root, "activation_function"),
                 *eps = json_object_get(root, "layer_norm_epsilon");
    if (!json_is_object(root)) {
        ed_fail(err, "%s: not a JSON object", path);
    } else if (mt && (!json_is_string(mt) || strcmp(json_string_value(mt), "gpt2") != 0)) {
        ed_fail(err, "%s: model_type is not \"gpt2\"", path);
    } else if (act && (!json_is_string(act) || (strcmp(json_string_value(act), "gelu_new") != 0 &&
                                                strcmp(json_string_value(act), "gelu_pytorch_tanh") != 0))) {
        ed_fail(err, "%s: activation_function must be gelu_new (the tanh GELU)", path);
    } else if (eps && (!json_is_number(eps) || fabs(json_number_value(eps) - 1e-5) > 1e-12)) {
        ed_fail(err, "%s: layer_norm_epsilon must be 1e-05", path);
    } else if (cfg_int(root, "n_embd", &s->D, 1, path, err) == 0 && cfg_int(root, "n_layer", &s->L, 1, path, err) == 0 &&
               cfg_int(root, "n_head", &s->H, 1, path, err) == 0 &&
               cfg_int(root, "vocab_size", &s->V, 1, path, err) == 0 &&
               cfg_int(root, "n_positions", &s->P, 1, path, err) == 0 && cfg_flag(root, "scale_attn_weights", 1, path, err) == 0 &&
               cfg_flag(root, "scale_attn_by_inverse_layer_idx", 0, path, err) == 0 &&
               cfg_flag(root, "reorder_and_upcast_attn", 0, path, err) == 0 &&
               cfg_flag(root, "tie_word_embeddings", 1, path, err) == 0) {
        s->FF = 4 * s->D;
        int r = cfg_int(root, "n_inner", &s->FF, 0, path, err);
        rc = r < 0 ? -1 : 0;
    }
    json_decref(root);
    return rc;
}

/* ---- import ----------------------------------------------------------------------------- */

/* GPT-2 tensor `name` (with or without "transformer.") of shape [rows] or [rows, cols],
 * as float32 into dst; Conv1D weights are transposed into our [cols, rows]. */
static int take(hf_weights *s, const char *name, int rows, int cols, int transpose, float *dst, ed_error *err) {
    return hf_take(s, "transformer.", name, rows, cols, transpose, dst, err);
}

/* The causal-mask buffers older transformers versions saved: not weights. */
static int mask_buffer(const char *n) {
    size_t nl = strlen(n);
    return (nl > 10 && strcmp(n + nl - 10, ".attn.bias") == 0) ||
           (nl > 17 && strcmp(n + nl - 17, ".attn.masked_bias") == 0);
}

/* The tokenizer of a model directory (whichever file it has, ids as they are); its size
 * must be the embedding's. */
static ed_tokenizer *read_tokenizer(const char *dir, int V_hf, ed_error *err) {
    ed_tokenizer *tok = ed_tok_load_dir(dir, TOK_FILE, err);
    if (tok && ed_tok_vocab_size(tok) != V_hf) {
        ed_fail(err, "%s: the tokenizer has %d tokens, config.json's vocab_size is %d", dir, ed_tok_vocab_size(tok),
                V_hf);
        ed_tok_free(tok);
        return NULL;
    }
    return tok;
}

static int import_weights(hf_weights *s, ed_gpt *m, const hf_shape *c, ed_error *err) {
    float *p = ed_gpt_params(m);
    const int D = c->D;
    float *wte = p + ed_gpt_find_tensor(m, "wte.weight")->offset; /* GPT-2's rows, in GPT-2's order */
    int rc = take(s, "wte.weight", c->V, D, 0, wte, err);
    if (rc == 0) rc = take(s, "wpe.weight", c->P, D, 0, p + ed_gpt_find_tensor(m, "wpe.weight")->offset, err);
    char hn[96], on[96];
    for (int l = 0; l < c->L && rc == 0; l++)
        for (int k = 0; k < N_BLOCK_MAP && rc == 0; k++) {
            snprintf(hn, sizeof hn, "h.%d.%s", l, BLOCK_MAP[k].hf);
            snprintf(on, sizeof on, "blocks.%d.%s", l, BLOCK_MAP[k].ours);
            const ed_tensor *t = ed_gpt_find_tensor(m, on);
            /* ours is [out, in] = shape; GPT-2's Conv1D is [in, out] */
            int rows = BLOCK_MAP[k].conv1d ? t->shape[1] : t->shape[0], cols = BLOCK_MAP[k].conv1d ? t->shape[0] : 0;
            rc = take(s, hn, rows, cols, BLOCK_MAP[k].conv1d, p + t->offset, err);
        }
    if (rc == 0) rc = take(s, "ln_f.weight", D, 0, 0, p + ed_gpt_find_tensor(m, "ln_f.weight")->offset, err);
    if (rc == 0) rc = take(s, "ln_f.bias", D, 0, 0, p + ed_gpt_find_tensor(m, "ln_f.bias")->offset, err);
    /* lm_head.weight may be stored; it must be the tied wte */
    int f = 0;
    const ed_st_tensor *head = rc == 0 ? hf_find(s, "", "lm_head.weight", &f) : NULL;
    if (head) {
        float *h = ed_alloc_floats((size_t)c->V * D);
        if (head->ndim != 2 || head->shape[0] != c->V || head->shape[1] != D)
            rc = ed_fail(err, "%s: lm_head.weight is not [%d, %d]", s->path[f], c->V, D);
        else if ((rc = ed_st_read_f32(&s->st[f], head, h, s->path[f], err)) == 0 &&
                 memcmp(h, wte, (size_t)c->V * D * sizeof(float)) != 0)
            rc = ed_fail(err, "%s: lm_head.weight differs from wte.weight: an untied head is not supported", s->path[f]);
        free(h);
    }
    /* anything else is a tensor we would silently drop: refuse */
    if (rc == 0) rc = hf_weights_check_used(s, mask_buffer, "GPT-2", err);
    return rc;
}

int ed_hf_import(const char *dir, const char *out, FILE *log, ed_error *err) {
    if (hf_is_llama(dir)) return hf_llama_import(dir, out, log, err);
    hf_shape c;
    if (read_config(dir, &c, err) != 0) return -1;
    ed_tokenizer *tok = read_tokenizer(dir, c.V, err);
    if (!tok) return -1;
    ed_options o;
    ed_options_defaults(&o);
    o.tokenizer = ed_tok_kind_of(tok);
    o.vocab_size = ed_tok_vocab_size(tok);
    o.model = (ed_model_config){.vocab_size = o.vocab_size, .d_model = c.D, .n_layers = c.L, .n_heads = c.H,
                                .d_ff = c.FF, .max_seq_len = c.P, .dropout = 0.0f};
    /* windows of n_positions tokens: the model then sees positions [0, n_positions - 1) */
    o.max_length = c.P >= 2 ? c.P : 2;
    o.stride = o.max_length / 2;
    char msg[160];
    if (ed_model_config_check(&o.model, msg, sizeof msg) != 0) {
        ed_tok_free(tok);
        return ed_fail(err, "%s/config.json: %s", dir, msg);
    }
    hf_weights w;
    if (hf_weights_open(&w, dir, err) != 0) {
        ed_tok_free(tok);
        return -1;
    }
    ed_gpt *m = ed_gpt_create(&o.model, 0, msg, sizeof msg);
    int rc = import_weights(&w, m, &c, err);
    hf_weights_close(&w);
    if (rc == 0) {
        if (log)
            fprintf(log, "import: %s: GPT-2 with %zu parameters (D %d, L %d, H %d, FF %d, %d positions, vocab %d)\n",
                    dir, ed_gpt_num_params(m), c.D, c.L, c.H, c.FF, c.P, c.V);
        ed_ckpt_contents cc = {.opt = &o, .model = m, .tok = tok};
        rc = ed_ckpt_write(out, &cc, 0, err);
        if (rc == 0 && log) fprintf(log, "import: wrote %s\n", out);
    }
    ed_gpt_free(m);
    ed_tok_free(tok);
    return rc;
}

/* ---- export ------------------------------------------------------------------------------ */

static char *config_json(const ed_model_config *c, float dropout, int gpt2_ids, const ed_tokenizer *tok) {
    int V_hf = gpt2_ids ? c->vocab_size - 3 : c->vocab_size;
    int eos = gpt2_ids ? V_hf - 1 : ed_tok_role_id(tok, ED_ROLE_EOS), bos = gpt2_ids ? eos : ed_tok_role_id(tok, ED_ROLE_BOS);
    json_t *r = json_object();
    json_t *arch = json_array();
    json_array_append_new(arch, json_string("GPT2LMHeadModel"));
    json_object_set_new(r, "architectures", arch);
    json_object_set_new(r, "model_type", json_string("gpt2"));
    json_object_set_new(r, "vocab_size", json_integer(V_hf));
    json_object_set_new(r, "n_positions", json_integer(c->max_seq_len));
    json_object_set_new(r, "n_ctx", json_integer(c->max_seq_len));
    json_object_set_new(r, "n_embd", json_integer(c->d_model));
    json_object_set_new(r, "n_layer", json_integer(c->n_layers));
    json_object_set_new(r, "n_head", json_integer(c->n_heads));
    json_object_set_new(r, "n_inner", json_integer(c->d_ff));
    json_object_set_new(r, "activation_function", json_string("gelu_new"));
    json_object_set_new(r, "layer_norm_epsilon", json_real(1e-5));
    json_object_set_new(r, "resid_pdrop", json_real(dropout));
    json_object_set_new(r, "embd_pdrop", json_real(0.0));
    json_object_set_new(r, "attn_pdrop", json_real(dropout));
    json_object_set_new(r, "initializer_range", json_real(0.02));
    json_object_set_new(r, "bos_token_id", bos >= 0 ? json_integer(bos) : json_null());
    json_object_set_new(r, "eos_token_id", eos >= 0 ? json_integer(eos) : json_null());
    json_object_set_new(r, "tie_word_embeddings", json_true());
    json_object_set_new(r, "torch_dtype", json_string("float32"));
    char *s = json_dumps(r, JSON_INDENT(2));
    json_decref(r);
    return s;
}

/* vocab.json + merges.txt from a bpe tokenizer of the older import (our 4 specials first):
 * our id i >= 4 is GPT-2 id i - 4, <EOS> is <|endoftext|>, the last id. */
static int write_bpe_files(const ed_tokenizer *tok, const char *dir, ed_error *err) {
    size_t len;
    char *blob = ed_tok_serialize(tok, &len);
    json_t *root = json_loadb(blob, len, 0, NULL);
    free(blob);
    const json_t *vocab = root ? json_object_get(root, "vocab") : NULL, *merges = root ? json_object_get(root, "merges") : NULL;
    ED_CHECK(json_is_array(vocab) && json_is_array(merges), "BPE tokenizer serialisation without vocab/merges");
    json_t *v = json_object();
    size_t n = json_array_size(vocab);
    for (size_t i = ED_NUM_SPECIAL; i < n; i++)
        json_object_set_new(v, json_string_value(json_array_get(vocab, i)), json_integer((json_int_t)(i - ED_NUM_SPECIAL)));
    json_object_set_new(v, "<|endoftext|>", json_integer((json_int_t)(n - ED_NUM_SPECIAL)));
    char *vj = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    size_t cap = 32, ml = 0;
    for (size_t i = 0; i < json_array_size(merges); i++) cap += strlen(json_string_value(json_array_get(merges, i))) + 1;
    char *mt = ed_malloc(cap);
    ml = (size_t)sprintf(mt, "#version: 0.2\n");
    for (size_t i = 0; i < json_array_size(merges); i++)
        ml += (size_t)sprintf(mt + ml, "%s\n", json_string_value(json_array_get(merges, i)));
    json_decref(root);
    char path[ED_PATH_MAX + 32];
    join(path, sizeof path, dir, "vocab.json");
    int rc = ed_write_file_atomic(path, vj, strlen(vj), "model file", err);
    join(path, sizeof path, dir, "merges.txt");
    if (rc == 0) rc = ed_write_file_atomic(path, mt, ml, "model file", err);
    free(vj);
    free(mt);
    return rc;
}

int ed_hf_export(const char *ckpt, const char *dir, FILE *log, ed_error *err) {
    ed_options o;
    ed_options_defaults(&o);
    ed_tokenizer *tok;
    ed_gpt *m;
    /* the model as generate would open it: shape, tokenizer and weights */
    if (ed_ckpt_load_file(ckpt, ED_CKPT_USES_MODEL, &o, NULL, &tok, &m, NULL, err) != 0) return -1;
    int rc = 0;
    const ed_model_config *c = ed_gpt_config(m);
    if (c->arch == ED_ARCH_LLAMA) {
        rc = hf_llama_export(ckpt, m, tok, dir, log, err);
        ed_gpt_free(m);
        ed_tok_free(tok);
        return rc;
    }
    const int gpt2_ids = ed_tok_kind_of(tok) == ED_TOK_BPE;
    if (c->vocab_size < (gpt2_ids ? ED_NUM_SPECIAL + 1 : 1))
        rc = ed_fail(err, "%s: vocabulary of %d tokens has nothing to export", ckpt, c->vocab_size);
    if (rc == 0 && mkdir(dir, 0755) != 0 && errno != EEXIST) rc = ed_fail(err, "%s: cannot create: %s", dir, strerror(errno));
    /* bpe models (trained here, or imported before ids were kept) take GPT-2's numbering
     * (<BOS>, <PAD>, <UNK> rows are not exported); every other keeps its ids, with its
     * tokenizer file (ed_tok_save_dir). */
    const int D = c->d_model, L = c->n_layers, V_hf = gpt2_ids ? c->vocab_size - 3 : c->vocab_size;
    const float *p = ed_gpt_params(m);
    int nt = 2 + L * N_BLOCK_MAP + 2, k = 0;
    ed_st_out *t = ed_calloc((size_t)nt, sizeof *t);
    char (*names)[96] = ed_calloc((size_t)nt, sizeof *names);
    float **bufs = ed_calloc((size_t)nt, sizeof *bufs);
    /* wte in GPT-2's id order: ours 4.. then <EOS> as <|endoftext|> */
    const float *wte = p + ed_gpt_find_tensor(m, "wte.weight")->offset;
    bufs[0] = ed_alloc_floats((size_t)V_hf * D);
    if (gpt2_ids) {
        memcpy(bufs[0], wte + (size_t)ED_NUM_SPECIAL * D, (size_t)(V_hf - 1) * D * sizeof(float));
        memcpy(bufs[0] + (size_t)(V_hf - 1) * D, wte + (size_t)ED_EOS * D, D * sizeof(float));
    } else {
        memcpy(bufs[0], wte, (size_t)V_hf * D * sizeof(float));
    }
    t[k++] = (ed_st_out){"transformer.wte.weight", 2, {V_hf, D}, bufs[0]};
    const ed_tensor *wpe = ed_gpt_find_tensor(m, "wpe.weight");
    t[k++] = (ed_st_out){"transformer.wpe.weight", 2, {wpe->shape[0], D}, p + wpe->offset};
    for (int l = 0; l < L; l++)
        for (int b = 0; b < N_BLOCK_MAP; b++) {
            char on[96];
            snprintf(on, sizeof on, "blocks.%d.%s", l, BLOCK_MAP[b].ours);
            snprintf(names[k], sizeof names[k], "transformer.h.%d.%s", l, BLOCK_MAP[b].hf);
            const ed_tensor *x = ed_gpt_find_tensor(m, on);
            if (BLOCK_MAP[b].conv1d) { /* ours [out, in] -> Conv1D [in, out] */
                int R = x->shape[0], C = x->shape[1];
                float *tr = bufs[k] = ed_alloc_floats(x->numel);
                for (size_t i = 0; i < (size_t)R; i++)
                    for (size_t j = 0; j < (size_t)C; j++) tr[j * R + i] = p[x->offset + i * C + j];
                t[k] = (ed_st_out){names[k], 2, {C, R}, tr};
            } else {
                t[k] = (ed_st_out){names[k], 1, {x->shape[0]}, p + x->offset};
            }
            k++;
        }
    t[k++] = (ed_st_out){"transformer.ln_f.weight", 1, {D}, p + ed_gpt_find_tensor(m, "ln_f.weight")->offset};
    t[k++] = (ed_st_out){"transformer.ln_f.bias", 1, {D}, p + ed_gpt_find_tensor(m, "ln_f.bias")->offset};
    char path[ED_PATH_MAX + 32];
    if (rc == 0) {
        join(path, sizeof path, dir, "model.safetensors");
        rc = ed_st_write(path, t, k, err);
    }
    if (rc == 0) {
        char *cj = config_json(c, c->dropout, gpt2_ids, tok);
        join(path, sizeof path, dir, "config.json");
        rc = ed_write_file_atomic(path, cj, strlen(cj), "model file", err);
        free(cj);
    }
    if (rc == 0 && ed_tok_kind_of(tok) == ED_TOK_BPE) {
        rc = write_bpe_files(tok, dir, err);
    } else if (rc == 0) {
        rc = ed_tok_save_dir(tok, dir, TOK_FILE, err);
    }
    static const char *const tok_files[] = {TOK_FILE, "vocab.json, merges.txt", "tokenizer.model, tokenizer_config.json",
                                            "tokenizer.json, tokenizer_config.json"};
    if (rc == 0 && log)
        fprintf(log, "export: %s -> %s (config.json, model.safetensors, %s)\n", ckpt, dir, tok_files[ed_tok_kind_of(tok)]);
    for (int i = 0; i < nt; i++) free(bufs[i]);
    free(bufs);
    free(names);
    free(t);
    ed_gpt_free(m);
    ed_tok_free(tok);
    return rc;
}
