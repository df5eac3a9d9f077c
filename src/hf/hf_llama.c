/* hf_llama.c — Llama in the Hugging Face layout (LlamaForCausalLM) <-> expert-dist
 * checkpoints (hf.h). The architectures are the same (src/model/llama.c follows
 * modeling_llama.py: rotate-half RoPE, so q and k need no permutation); what moves is
 * names. Weights are F32, BF16 or F16, in one file or shards (hf_internal.h); export
 * writes F32 in one model.safetensors. The tokenizer keeps its ids (ed_tok_load_dir,
 * ed_tok_save_dir), so the embedding rows are copied in order. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "expert/checkpoint.h"
#include "expert/hf.h"
#include "expert/options.h"
#include "hf_internal.h"

/* Our tensors of block l and their names under model.layers.{l}. (both [out, in]). */
static const struct {
    const char *ours, *hf;
} LLAMA_MAP[] = {
    {"attn_norm.weight", "input_layernorm.weight"},
    {"q.weight", "self_attn.q_proj.weight"},
    {"k.weight", "self_attn.k_proj.weight"},
    {"v.weight", "self_attn.v_proj.weight"},
    {"o.weight", "self_attn.o_proj.weight"},
    {"mlp_norm.weight", "post_attention_layernorm.weight"},
    {"gate.weight", "mlp.gate_proj.weight"},
    {"up.weight", "mlp.up_proj.weight"},
    {"down.weight", "mlp.down_proj.weight"},
};
enum { N_LLAMA_MAP = sizeof LLAMA_MAP / sizeof LLAMA_MAP[0] };

static char *join(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = ed_malloc(n);
    snprintf(p, n, "%s/%s", dir, file);
    return p;
}

int hf_is_llama(const char *dir) {
    char *path = join(dir, "config.json");
    json_t *root = json_load_file(path, 0, NULL);
    free(path);
    const json_t *mt = json_object_get(root, "model_type"), *archs = json_object_get(root, "architectures");
    int yes = json_is_string(mt) && strcmp(json_string_value(mt), "llama") == 0;
    for (size_t i = 0; !yes && i < json_array_size(archs); i++)
        yes = json_is_string(json_array_get(archs, i)) &&
              strcmp(json_string_value(json_array_get(archs, i)), "LlamaForCausalLM") == 0;
    json_decref(root);
    return yes;
}

/* ---- config.json ---------------------------------------------------------------------- */

typedef struct {
    const char *path;
    const json_t *root;
    ed_error *err;
} cfg_reader;

/* A positive integer field; absent or null: *out unchanged and 1 when not required. */
static int get_int(cfg_reader *r, const char *key, int *out, int required) {
    const json_t *v = json_object_get(r->root, key);
    if (!v || json_is_null(v)) return required ? ed_fail(r->err, "%s: \"%s\" is missing", r->path, key) : 1;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1 << 30)
        return ed_fail(r->err, "%s: \"%s\" must be a positive integer", r->path, key);
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_pos_number(cfg_reader *r, const char *key, float *out) {
    const json_t *v = json_object_get(r->root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v) || !(json_number_value(v) > 0.0) || json_number_value(v) > 1e30)
        return ed_fail(r->err, "%s: \"%s\" must be a positive number", r->path, key);
    *out = (float)json_number_value(v);
    return 0;
}

/* What the engine does not implement is refused by name, never ignored. */
static int refuse_unsupported(cfg_reader *r) {
    const json_t *o = r->root, *v;
    const char *p = r->path;
    v = json_object_get(o, "model_type");
    if (v && (!json_is_string(v) || strcmp(json_string_value(v), "llama") != 0))
        return ed_fail(r->err, "%s: \"model_type\" is not \"llama\"", p);
    v = json_object_get(o, "hidden_act");
    if (v && (!json_is_string(v) || strcmp(json_string_value(v), "silu") != 0))
        return ed_fail(r->err, "%s: \"hidden_act\" must be \"silu\" (the SwiGLU MLP)", p);
    v = json_object_get(o, "rope_scaling");
    if (v && !json_is_null(v))
        return ed_fail(r->err, "%s: \"rope_scaling\" is not supported (plain RoPE only; remove it or set null)", p);
    static const char *const no_bias[] = {"attention_bias", "mlp_bias"};
    for (int i = 0; i < 2; i++) {
        v = json_object_get(o, no_bias[i]);
        if (v && !json_is_false(v))
            return ed_fail(r->err, "%s: \"%s\" must be false (the engine's llama has no biases)", p, no_bias[i]);
    }
    v = json_object_get(o, "sliding_window");
    const json_t *use = json_object_get(o, "use_sliding_window");
    if (v && !json_is_null(v) && !json_is_false(use))
        return ed_fail(r->err, "%s: \"sliding_window\" is not supported (full causal attention only)", p);
    v = json_object_get(o, "attention_dropout");
    if (v && !(json_is_number(v) && json_number_value(v) == 0.0))
        return ed_fail(r->err, "%s: \"attention_dropout\" must be 0 (set --dropout when training instead)", p);
    v = json_object_get(o, "partial_rotary_factor");
    if (v && !(json_is_number(v) && json_number_value(v) == 1.0))
        return ed_fail(r->err, "%s: \"partial_rotary_factor\" must be 1 (RoPE on the whole head)", p);
    return 0;
}

/* A token id field: null, an id in [0, V), or (eos) a list of them; *first gets the first
 * id or -1. */
static int get_token_id(cfg_reader *r, const char *key, int V, int *first) {
    const json_t *v = json_object_get(r->root, key);
    *first = -1;
    if (!v || json_is_null(v)) return 0;
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) >= V)
            return ed_fail(r->err, "%s: \"%s\" must be a token id in [0, %d) (or a list of them, or null)", r->path,
                           key, V);
        if (i == 0) *first = (int)json_integer_value(e);
    }
    return 0;
}

typedef struct {
    ed_model_config mc;
    int bos, eos; /* -1: not given */
} llama_cfg;

static int read_config(const char *dir, llama_cfg *c, ed_error *err) {
    char *path = join(dir, "config.json");
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        ed_fail(err, "%s:%d: %s", path, je.line, je.text);
        free(path);
        return -1;
    }
    cfg_reader r = {path, root, err};
    ed_model_config *m = &c->mc;
    *m = (ed_model_config){.arch = ED_ARCH_LLAMA, .rope_theta = 10000.0f, .rms_eps = 1e-6f};
    int tied = 0, hd = 0, rc = -1;
    const json_t *tie = json_object_get(root, "tie_word_embeddings");
    if (!json_is_object(root)) {
        ed_fail(err, "%s: not a JSON object", path);
    } else if (refuse_unsupported(&r) == 0 && get_int(&r, "hidden_size", &m->d_model, 1) == 0 &&
               get_int(&r, "intermediate_size", &m->d_ff, 1) == 0 &&
               get_int(&r, "num_hidden_layers", &m->n_layers, 1) == 0 &&
               get_int(&r, "num_attention_heads", &m->n_heads, 1) == 0 &&
               get_int(&r, "vocab_size", &m->vocab_size, 1) == 0 &&
               get_int(&r, "max_position_embeddings", &m->max_seq_len, 1) == 0 &&
               get_int(&r, "num_key_value_heads", &m->n_kv_heads, 0) >= 0 && get_int(&r, "head_dim", &hd, 0) >= 0 &&
               get_pos_number(&r, "rms_norm_eps", &m->rms_eps) == 0 &&
               get_pos_number(&r, "rope_theta", &m->rope_theta) == 0 &&
               get_token_id(&r, "bos_token_id", m->vocab_size, &c->bos) == 0 &&
               get_token_id(&r, "eos_token_id", m->vocab_size, &c->eos) == 0) {
        if (tie && !json_is_boolean(tie)) {
            ed_fail(err, "%s: \"tie_word_embeddings\" must be true or false", path);
        } else if (m->d_model % m->n_heads != 0) {
            ed_fail(err, "%s: \"num_attention_heads\" %d does not divide \"hidden_size\" %d", path, m->n_heads,
                    m->d_model);
        } else if (hd && hd != m->d_model / m->n_heads) {
            ed_fail(err, "%s: \"head_dim\" %d is not hidden_size / num_attention_heads = %d (not supported)", path, hd,
                    m->d_model / m->n_heads);
        } else if (m->n_kv_heads && m->n_heads % m->n_kv_heads != 0) {
            ed_fail(err, "%s: \"num_key_value_heads\" %d does not divide \"num_attention_heads\" %d", path,
                    m->n_kv_heads, m->n_heads);
        } else {
            tied = json_is_true(tie); /* LlamaConfig's default: untied */
            m->tie_embeddings = tied;
            char msg[160];
            rc = ed_model_config_check(m, msg, sizeof msg) == 0 ? 0 : ed_fail(err, "%s: %s", path, msg);
        }
    }
    json_decref(root);
    free(path);
    return rc;
}

/* ---- the tokenizer ------------------------------------------------------------------- */

/* The tokenizer of a model directory (tokenizer.model, tokenizer.json, GPT-2's pair or
 * our file: ed_tok_load_dir), ids as they are; its size must be the embedding's. */
static ed_tokenizer *read_tokenizer(const char *dir, int V, ed_error *err) {
    ed_tokenizer *tok = ed_tok_load_dir(dir, HF_TOK_FILE, err);
    if (tok && ed_tok_vocab_size(tok) != V) {
        ed_fail(err, "%s: the tokenizer has %d tokens, config.json's vocab_size is %d", dir, ed_tok_vocab_size(tok), V);
        ed_tok_free(tok);
        return NULL;
    }
    return tok;
}

/* ---- import ----------------------------------------------------------------------------- */

/* Buffers older transformers versions saved with the weights: not parameters. */
static int rope_buffer(const char *n) {
    size_t nl = strlen(n);
    return nl > 20 && strcmp(n + nl - 20, ".rotary_emb.inv_freq") == 0;
}

static int import_weights(hf_weights *w, ed_gpt *m, ed_error *err) {
    const ed_model_config *c = ed_gpt_config(m);
    float *p = ed_gpt_params(m);
    const int V = c->vocab_size, D = c->d_model;
    const ed_tensor *embed = ed_gpt_find_tensor(m, "embed.weight");
    int rc = hf_take(w, "model.", "embed_tokens.weight", V, D, 0, p + embed->offset, err);
    char hn[96], on[96];
    for (int l = 0; l < c->n_layers && rc == 0; l++)
        for (int k = 0; k < N_LLAMA_MAP && rc == 0; k++) {
            snprintf(hn, sizeof hn, "layers.%d.%s", l, LLAMA_MAP[k].hf);
            snprintf(on, sizeof on, "blocks.%d.%s", l, LLAMA_MAP[k].ours);
            const ed_tensor *t = ed_gpt_find_tensor(m, on);
            rc = hf_take(w, "model.", hn, t->shape[0], t->ndim == 2 ? t->shape[1] : 0, 0, p + t->offset, err);
        }
    if (rc == 0) rc = hf_take(w, "model.", "norm.weight", D, 0, 0, p + ed_gpt_find_tensor(m, "norm_f.weight")->offset, err);
    if (rc == 0 && !c->tie_embeddings) {
        rc = hf_take(w, "", "lm_head.weight", V, D, 0, p + ed_gpt_find_tensor(m, "lm_head.weight")->offset, err);
    } else if (rc == 0) { /* tied: a stored lm_head must be the embedding */
        int f = 0;
        const ed_st_tensor *head = hf_find(w, "", "lm_head.weight", &f);
        if (head) {
            float *h = ed_alloc_floats((size_t)V * D);
            if (head->ndim != 2 || head->shape[0] != V || head->shape[1] != D)
                rc = ed_fail(err, "%s: lm_head.weight is not [%d, %d]", w->path[f], V, D);
            else if ((rc = ed_st_read_f32(&w->st[f], head, h, w->path[f], err)) == 0 &&
                     memcmp(h, p + embed->offset, (size_t)V * D * sizeof(float)) != 0)
                rc = ed_fail(err, "%s: lm_head.weight differs from model.embed_tokens.weight but config.json says "
                                  "\"tie_word_embeddings\": true", w->path[f]);
            free(h);
        }
    }
    if (rc == 0) rc = hf_weights_check_used(w, rope_buffer, "LlamaForCausalLM", err);
    return rc;
}

int hf_llama_import(const char *dir, const char *out, FILE *log, ed_error *err) {
    llama_cfg c;
    if (read_config(dir, &c, err) != 0) return -1;
    ed_tokenizer *tok = read_tokenizer(dir, c.mc.vocab_size, err);
    if (!tok) return -1;
    /* the roles config.json names must be the tokenizer's (where both name one) */
    char cfgp[ED_PATH_MAX + 32];
    snprintf(cfgp, sizeof cfgp, "%s/config.json", dir);
    int bos = ed_tok_role_id(tok, ED_ROLE_BOS), eos = ed_tok_role_id(tok, ED_ROLE_EOS);
    if ((c.bos >= 0 && bos >= 0 && c.bos != bos) || (c.eos >= 0 && eos >= 0 && c.eos != eos)) {
        ed_fail(err, "%s: bos_token_id %d / eos_token_id %d are not the tokenizer's BOS %d / EOS %d", cfgp, c.bos,
                c.eos, bos, eos);
        ed_tok_free(tok);
        return -1;
    }
    ed_options o;
    ed_options_defaults(&o);
    o.tokenizer = ed_tok_kind_of(tok);
    o.vocab_size = ed_tok_vocab_size(tok);
    o.model = c.mc;
    /* windows of max_position_embeddings tokens, as the GPT-2 import */
    o.max_length = c.mc.max_seq_len >= 2 ? c.mc.max_seq_len : 2;
    o.stride = o.max_length / 2;
    hf_weights w;
    if (hf_weights_open(&w, dir, err) != 0) {
        ed_tok_free(tok);
        return -1;
    }
    char msg[160];
    ed_gpt *m = ed_gpt_create(&o.model, 0, msg, sizeof msg);
    int rc = m ? import_weights(&w, m, err) : ed_fail(err, "%s: %s", cfgp, msg);
    int files = w.n;
    hf_weights_close(&w);
    if (rc == 0) {
        const ed_model_config *mc = ed_gpt_config(m);
        if (log)
            fprintf(log,
                    "import: %s: Llama with %zu parameters (D %d, L %d, H %d, KV %d, FF %d, %d positions, vocab %d, "
                    "%s head; %d weight file(s))\n",
                    dir, ed_gpt_num_params(m), mc->d_model, mc->n_layers, mc->n_heads, mc->n_kv_heads, mc->d_ff,
                    mc->max_seq_len, mc->vocab_size, mc->tie_embeddings ? "tied" : "untied", files);
        o.model = *mc;
        ed_ckpt_contents cc = {.opt = &o, .model = m, .tok = tok};
        rc = ed_ckpt_write(out, &cc, 0, err);
        if (rc == 0 && log) fprintf(log, "import: wrote %s\n", out);
    }
    ed_gpt_free(m);
    ed_tok_free(tok);
    return rc;
}

/* ---- export ------------------------------------------------------------------------------ */

/* A role's id, or null when the tokenizer has no such token. */
static json_t *role_json(const ed_tokenizer *tok, ed_tok_role r) {
    int id = ed_tok_role_id(tok, r);
    return id >= 0 ? json_integer(id) : json_null();
}

static char *config_json(const ed_model_config *c, const ed_tokenizer *tok) {
    json_t *r = json_object(), *arch = json_array();
    json_array_append_new(arch, json_string("LlamaForCausalLM"));
    json_object_set_new(r, "architectures", arch);
    json_object_set_new(r, "model_type", json_string("llama"));
    json_object_set_new(r, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(r, "hidden_size", json_integer(c->d_model));
    json_object_set_new(r, "intermediate_size", json_integer(c->d_ff));
    json_object_set_new(r, "num_hidden_layers", json_integer(c->n_layers));
    json_object_set_new(r, "num_attention_heads", json_integer(c->n_heads));
    json_object_set_new(r, "num_key_value_heads", json_integer(c->n_kv_heads));
    json_object_set_new(r, "head_dim", json_integer(c->d_model / c->n_heads));
    json_object_set_new(r, "max_position_embeddings", json_integer(c->max_seq_len));
    json_object_set_new(r, "hidden_act", json_string("silu"));
    json_object_set_new(r, "rms_norm_eps", json_real(ed_float_decimal(c->rms_eps)));
    json_object_set_new(r, "rope_theta", json_real(ed_float_decimal(c->rope_theta)));
    json_object_set_new(r, "rope_scaling", json_null());
    json_object_set_new(r, "attention_bias", json_false());
    json_object_set_new(r, "mlp_bias", json_false());
    json_object_set_new(r, "attention_dropout", json_real(0.0));
    json_object_set_new(r, "initializer_range", json_real(0.02));
    json_object_set_new(r, "tie_word_embeddings", json_boolean(c->tie_embeddings));
    json_object_set_new(r, "bos_token_id", role_json(tok, ED_ROLE_BOS));
    json_object_set_new(r, "eos_token_id", role_json(tok, ED_ROLE_EOS));
    json_object_set_new(r, "pad_token_id", role_json(tok, ED_ROLE_PAD));
    json_object_set_new(r, "torch_dtype", json_string("float32"));
    char *s = json_dumps(r, JSON_INDENT(2));
    json_decref(r);
    return s;
}

int hf_llama_export(const char *ckpt, const ed_gpt *m, const ed_tokenizer *tok, const char *dir, FILE *log,
                    ed_error *err) {
    const ed_model_config *c = ed_gpt_config(m);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) return ed_fail(err, "%s: cannot create: %s", dir, strerror(errno));
    const float *p = ed_gpt_params((ed_gpt *)m);
    const int L = c->n_layers, nt = 2 + L * N_LLAMA_MAP + !c->tie_embeddings;
    ed_st_out *t = ed_calloc((size_t)nt, sizeof *t);
    char (*names)[96] = ed_calloc((size_t)nt, sizeof *names);
    int k = 0;
    /* HF name -> our tensor, in the state_dict order of LlamaForCausalLM */
    const char *ours[3] = {"embed.weight", "norm_f.weight", "lm_head.weight"};
    const char *theirs[3] = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"};
    for (int i = 0; i < nt; i++) {
        const char *on;
        char buf[96];
        if (i == 0) {
            on = ours[0], snprintf(names[k], sizeof names[k], "%s", theirs[0]);
        } else if (i <= L * N_LLAMA_MAP) {
            int l = (i - 1) / N_LLAMA_MAP, b = (i - 1) % N_LLAMA_MAP;
            snprintf(buf, sizeof buf, "blocks.%d.%s", l, LLAMA_MAP[b].ours);
            snprintf(names[k], sizeof names[k], "model.layers.%d.%s", l, LLAMA_MAP[b].hf);
            on = buf;
        } else {
            int j = i == L * N_LLAMA_MAP + 1 ? 1 : 2;
            on = ours[j], snprintf(names[k], sizeof names[k], "%s", theirs[j]);
        }
        const ed_tensor *x = ed_gpt_find_tensor(m, on);
        t[k] = (ed_st_out){names[k], x->ndim, {x->shape[0], x->shape[1]}, p + x->offset};
        k++;
    }
    char *path = join(dir, "model.safetensors");
    int rc = ed_st_write(path, t, k, err);
    free(path);
    if (rc == 0) {
        char *cj = config_json(c, tok);
        path = join(dir, "config.json");
        rc = ed_write_file_atomic(path, cj, strlen(cj), "model file", err);
        free(path);
        free(cj);
    }
    if (rc == 0) rc = ed_tok_save_dir(tok, dir, HF_TOK_FILE, err);
    static const char *const tok_files[] = {HF_TOK_FILE, HF_TOK_FILE, "tokenizer.model, tokenizer_config.json",
                                            "tokenizer.json, tokenizer_config.json"}; /* by ed_tok_kind */
    if (rc == 0 && log)
        fprintf(log, "export: %s -> %s (config.json: LlamaForCausalLM, model.safetensors, %s)\n", ckpt, dir,
                tok_files[ed_tok_kind_of(tok)]);
    free(names);
    free(t);
    return rc;
}
