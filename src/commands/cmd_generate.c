/* cmd_generate.c — `expert-dist generate`: continue prompts with a checkpoint's model.
 *
 * Rank 0 does the work (one sequence gains nothing from more ranks); the others only
 * learn the outcome so that every rank exits with the same status. The token loop is
 * src/generate/ (key/value cache, sliding window, sampling); this file reads the prompts,
 * and prints text AS IT IS PRODUCED: after each token the sequence is decoded again and
 * whatever is new is written and flushed, except a tail that may still change (a
 * byte-level BPE token can end inside a UTF-8 character, shown as U+FFFD until the next
 * token completes it) or that may be the start of the --stop text. */
#include <stdlib.h>
#include <string.h>

#include "expert/checkpoint.h"
#include "expert/commands.h"
#include "expert/dataset.h"
#include "expert/generate.h"
#include "expert/tokenizer.h"
#include "expert/trainer.h"

/* ---- prompts ------------------------------------------------------------------------ */

typedef struct {
    char **text;
    int n;
} prompt_list;

static void prompts_free(prompt_list *p) {
    for (int i = 0; i < p->n; i++) free(p->text[i]);
    free(p->text);
}

static void prompts_add(prompt_list *p, const char *s, size_t len) {
    p->text = ed_realloc(p->text, (size_t)(p->n + 1) * sizeof *p->text);
    char *t = ed_malloc(len + 1);
    memcpy(t, s, len);
    t[len] = 0;
    p->text[p->n++] = t;
}

/* One prompt per paragraph, read as a .txt training file is (ed_docs_read): paragraphs
 * are separated by blank lines (whitespace-only, Unicode spaces included), a paragraph's
 * lines keep "\n" between them, and errors name file:line. */
static int read_prompt_file(const char *path, prompt_list *out, ed_error *err) {
    ed_read_options ro = {.format = ED_FORMAT_TXT}; /* a prompt file of any name */
    ed_docs docs;
    if (ed_docs_read(path, &ro, &docs, err) != 0) return -1;
    for (size_t i = 0; i < docs.n; i++) prompts_add(out, docs.text[i], docs.len[i]);
    ed_docs_free(&docs);
    return 0;
}

/* ---- streaming output ---------------------------------------------------------------- */

typedef struct {
    const ed_tokenizer *tok;
    const char *stop;    /* "" = none */
    size_t n_prompt;     /* ids of BOS + prompt */
    size_t gen_from;     /* bytes of the decoded prompt: the stop text is searched after it */
    size_t printed;      /* bytes of the decoded sequence already written */
    int stopped;         /* the stop text was found */
} stream;

/* Writes text[printed, upto) and flushes. */
static void put(stream *s, const char *text, size_t upto) {
    if (upto > s->printed) {
        fwrite(text + s->printed, 1, upto - s->printed, stdout);
        s->printed = upto;
    }
    fflush(stdout);
}

/* How much of the decoded text may be written now (final: all of it, up to a stop). */
static size_t safe_end(stream *s, const char *text, size_t len, int final) {
    size_t sl = strlen(s->stop);
    if (sl) {
        const char *hit = strstr(text + s->gen_from, s->stop);
        if (hit) {
            s->stopped = 1;
            return (size_t)(hit - text);
        }
    }
    if (final) return len;
    size_t end = len;
    /* a trailing U+FFFD may be half a character that the next token completes */
    while (end >= 3 && end - 3 >= s->gen_from && memcmp(text + end - 3, "\xEF\xBF\xBD", 3) == 0) end -= 3;
    /* the longest tail that could be the start of the stop text */
    for (size_t k = sl - (sl > 0); k > 0; k--)
        if (end >= s->gen_from + k && memcmp(text + end - k, s->stop, k) == 0) {
            end -= k;
            break;
        }
    return end;
}

static int on_token(void *ctx, const ed_ivec *ids) {
    stream *s = ctx;
    char *text = ed_tok_decode(s->tok, ids->data, ids->len, 1);
    size_t end = safe_end(s, text, strlen(text), 0);
    put(s, text, end);
    free(text);
    return s->stopped;
}

/* ---- the command ---------------------------------------------------------------------- */

typedef struct {
    ed_gpt *model;
    ed_tokenizer *tok;
    int window;
} loaded;

static void print_memory(const ed_options *o, const loaded *l) {
    const ed_model_config *c = ed_gpt_config(l->model);
    double MiB = 1024.0 * 1024.0;
    size_t weights = ed_gpt_num_params(l->model) * sizeof(float);
    size_t kv = ed_kv_cache_bytes(c, l->window), scratch = ed_kv_scratch_bytes(c, l->window);
    printf("generate memory (rank 0; per sequence):\n"
           "  weights             %10.2f MiB  (%zu params x 4 B)\n"
           "  gradients           %10.2f MiB  (allocated by the model object, unused here)\n"
           "  kv cache            %10.2f MiB  (L %d x 2 x T %d x %s %d x 4 B = %zu B/position)\n"
           "  decode scratch      %10.2f MiB  (64 rows of activations, 64 x T scores per thread, V logits)\n"
           "  window              %d positions (trained: max-length %d - 1, model max-seq-len %d)\n"
           "  mode                %s\n",
           weights / MiB, ed_gpt_num_params(l->model), weights / MiB, kv / MiB, c->n_layers, l->window,
           c->arch == ED_ARCH_LLAMA ? "G*hd" : "D", ed_model_kv_heads(c) * (c->d_model / c->n_heads),
           ed_kv_cache_bytes(c, 1), scratch / MiB, l->window, o->max_length, c->max_seq_len,
           o->kv_cache ? "kv cache" : "no kv cache (a full forward over the window per token)");
}

/* Appends s[0..n) and a newline to *out (NULL: nothing to keep). */
static void keep(char **out, size_t *len, const char *s, size_t n) {
    if (!out) return;
    *out = ed_realloc(*out, *len + n + 2);
    memcpy(*out + *len, s, n);
    *len += n;
    memcpy(*out + *len, "\n", 2);
    *len += 1;
}

/* Prints the samples; `out` (may be NULL) receives a copy of the sample lines. */
static int generate(const ed_options *in, char **out, int *usage, ed_error *err) {
    size_t out_len = 0;
    ed_options o = *in;
    prompt_list prompts = {0};
    if (o.prompt_file[0]) {
        if (read_prompt_file(o.prompt_file, &prompts, err) != 0) return -1;
    } else {
        size_t n = strlen(o.prompt), bad = ed_utf8_bad(o.prompt, n);
        if (bad < n) return ed_fail(err, "prompt: invalid UTF-8 at byte %zu", bad);
        prompts_add(&prompts, o.prompt, n);
    }
    /* model, tokenizer and the window length (max-length) the checkpoint was trained with */
    loaded l = {0};
    ed_dictated dict = {0};
    if (ed_ckpt_load_file(o.checkpoint, ED_CMD_GENERATE, &o, NULL, &l.tok, &l.model, &dict, err) != 0) {
        *usage = dict.n_flags > 0; /* a flag the checkpoint overrules: refused */
        prompts_free(&prompts);
        return -1;
    }
    if (dict.n > 0)
        fprintf(stderr, "warning: generate: ignoring the config file's %s (the checkpoint's %s)\n", dict.user,
                dict.stored);
    const ed_model_config *c = ed_gpt_config(l.model);
    l.window = ed_decoder_window(o.max_length, c->max_seq_len);
    /* --gemm auto: the backend fastest at decoding (rank 0 alone; the line goes to
     * stderr: stdout carries only the text) */
    if (ed_trainer_gemm_auto(l.model, &o, o.kv_cache ? ED_GEMM_WORK_DECODE : ED_GEMM_WORK_FORWARD, l.window, NULL,
                             stderr, err) != 0) {
        ed_gpt_free(l.model);
        ed_tok_free(l.tok);
        prompts_free(&prompts);
        return -1;
    }
    for (int p = 0; p < prompts.n; p++) /* generation needs one token to start from */
        if (ed_tok_role_id(l.tok, ED_ROLE_BOS) < 0 && ed_tok_role_id(l.tok, ED_ROLE_EOS) < 0 && !prompts.text[p][0]) {
            ed_gpt_free(l.model);
            ed_tok_free(l.tok);
            prompts_free(&prompts);
            return ed_fail(err, "prompt %d is empty and %s's tokenizer has no <BOS> or <EOS> to start from", p + 1,
                           o.checkpoint);
        }
    if (o.dry_run) {
        print_memory(&o, &l);
    } else {
        ed_decoder dec;
        ed_decoder_init(&dec, l.model, l.window, o.kv_cache);
        ed_pick pick;
        ed_pick_init(&pick, c->vocab_size);
        const int32_t bos = ed_tok_role_id(l.tok, ED_ROLE_BOS), eos = ed_tok_role_id(l.tok, ED_ROLE_EOS);
        ed_pick_set_roles(&pick, ed_tok_role_id(l.tok, ED_ROLE_PAD), bos, eos);
        ed_sampling how = {.temperature = o.temperature, .top_k = o.top_k, .top_p = o.top_p,
                           .repetition_penalty = o.repetition_penalty};
        ed_ivec ids = {0};
        int total = prompts.n * o.num_samples;
        for (int p = 0; p < prompts.n; p++)
            for (int s = 0; s < o.num_samples; s++) {
                if (total > 1) printf("%s--- prompt %d/%d, sample %d/%d ---\n", p + s ? "\n" : "", p + 1,
                                      prompts.n, s + 1, o.num_samples);
                ids.len = 0;
                /* the start of a document, as training saw it (a tokenizer without a <BOS>,
                 * e.g. Qwen's, starts right at the prompt; an empty one at its <EOS>) */
                if (bos >= 0) ed_ivec_push(&ids, bos);
                ed_tok_encode(l.tok, prompts.text[p], strlen(prompts.text[p]), 0, &ids);
                if (ids.len == 0) ed_ivec_push(&ids, eos >= 0 ? eos : 0); /* e.g. a prompt of spaces only */
                /* each sample its own stream: sample s of prompt p is the same whatever
                 * else is generated in the same call */
                ed_rng rng;
                ed_rng_seed(&rng, o.seed, 0x67656e + (uint64_t)p * (uint64_t)o.num_samples + (uint64_t)s);
                stream st = {.tok = l.tok, .stop = o.stop, .n_prompt = ids.len};
                char *head = ed_tok_decode(l.tok, ids.data, ids.len, 1);
                st.gen_from = strlen(head);
                put(&st, head, st.gen_from);
                free(head);
                ed_generate_tokens(&dec, &pick, &how, &rng, &ids, o.max_new_tokens, on_token, &st);
                char *text = ed_tok_decode(l.tok, ids.data, ids.len, 1);
                size_t end = safe_end(&st, text, strlen(text), 1);
                put(&st, text, end);
                keep(out, &out_len, text, end);
                free(text);
                fputc('\n', stdout);
                fflush(stdout);
            }
        ed_ivec_free(&ids);
        ed_pick_free(&pick);
        ed_decoder_free(&dec);
    }
    ed_gpt_free(l.model);
    ed_tok_free(l.tok);
    prompts_free(&prompts);
    return 0;
}

int ed_generate_text(const ed_options *o, const ed_dist *d, char **text) {
    ed_error err = {{0}};
    int status = 0, usage = 0;
    if (text) *text = NULL;
    if (d->rank == 0) {
        ed_set_threads(ed_dist_threads(d, o->threads, NULL));
        status = generate(o, text, &usage, &err);
    }
    if (ed_dist_agree(d, status, &err) != 0) {
        ed_dist_bcast(d, &usage, sizeof usage, 0); /* every rank exits with rank 0's status */
        if (d->rank == 0) fprintf(stderr, "expert-dist: error: %s\n", err.msg);
        if (text) {
            free(*text);
            *text = NULL;
        }
        return usage ? ED_EXIT_USAGE : ED_EXIT_FAILURE;
    }
    return ED_EXIT_OK;
}

int ed_generate(const ed_options *o, const ed_dist *d) { return ed_generate_text(o, d, NULL); }
