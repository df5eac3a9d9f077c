/* cmd_generate.c — `expert-dist generate`: continue a prompt with a checkpoint's model.
 * Rank 0 does the work (one sequence gains nothing from more ranks); the others only
 * learn the outcome so that every rank exits with the same status. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "expert/checkpoint.h"
#include "expert/commands.h"
#include "expert/tokenizer.h"
#include "expert/trainer.h"

typedef struct {
    float logit;
    int id;
} cand;

static int cand_desc(const void *a, const void *b) {
    float x = ((const cand *)a)->logit, y = ((const cand *)b)->logit;
    if (x != y) return x < y ? 1 : -1;
    return ((const cand *)a)->id - ((const cand *)b)->id; /* deterministic ties */
}

/* Next token from one row of logits: greedy at temperature 0, else softmax(l / T) over the
 * top_k most likely (all when top_k = 0). */
static int32_t sample(const float *logits, int V, float temperature, int top_k, cand *c, ed_rng *rng) {
    for (int v = 0; v < V; v++) c[v] = (cand){logits[v], v};
    qsort(c, (size_t)V, sizeof *c, cand_desc);
    if (temperature <= 0.0f) return c[0].id;
    int k = top_k > 0 && top_k < V ? top_k : V;
    double z = 0.0, *p = ed_malloc((size_t)k * sizeof *p);
    for (int i = 0; i < k; i++) z += p[i] = exp(((double)c[i].logit - c[0].logit) / temperature);
    double u = ed_rng_uniform(rng) * z, acc = 0.0;
    int pick = k - 1;
    for (int i = 0; i < k; i++) {
        acc += p[i];
        if (u < acc) {
            pick = i;
            break;
        }
    }
    free(p);
    return c[pick].id;
}

static int generate(const ed_options *in, ed_error *err) {
    ed_options o = *in;
    ed_tokenizer *tok;
    ed_gpt *m;
    if (ed_trainer_open_checkpoint(o.checkpoint, ED_CMD_GENERATE, &o, NULL, &tok, &m, err) != 0) return -1;
    int V = ed_gpt_config(m)->vocab_size, Tmax = o.model.max_seq_len;
    ed_ivec ids = {0};
    ed_ivec_push(&ids, ED_BOS);
    ed_tok_encode(tok, o.prompt, strlen(o.prompt), 0, &ids);
    size_t n_prompt = ids.len;
    ed_rng rng;
    ed_rng_seed(&rng, o.seed, 0x67656e ^ 0); /* "gen" */
    cand *c = ed_malloc((size_t)V * sizeof *c);
    for (int i = 0; i < o.max_new_tokens; i++) {
        /* The model has Tmax positions: condition on the latest Tmax tokens only. */
        size_t T = ids.len < (size_t)Tmax ? ids.len : (size_t)Tmax;
        const int32_t *ctx = ids.data + ids.len - T;
        ed_gpt_forward(m, ctx, NULL, 1, (int)T, 0.0f, 0, NULL, NULL, NULL);
        const float *last = ed_gpt_logits(m) + (T - 1) * (size_t)V;
        int32_t next = sample(last, V, o.temperature, o.top_k, c, &rng);
        if (next == ED_EOS) break;
        ed_ivec_push(&ids, next);
    }
    char *prompt_text = ed_tok_decode(tok, ids.data, n_prompt, 1);
    char *new_text = ed_tok_decode(tok, ids.data + n_prompt, ids.len - n_prompt, 1);
    printf("%s%s%s\n", prompt_text, prompt_text[0] && new_text[0] ? " " : "", new_text);
    free(prompt_text);
    free(new_text);
    free(c);
    ed_ivec_free(&ids);
    ed_gpt_free(m);
    ed_tok_free(tok);
    return 0;
}

int ed_generate(const ed_options *o, const ed_dist *d) {
    ed_error err = {{0}};
    int status = 0;
    if (d->rank == 0) {
        ed_set_threads(ed_dist_threads(d, o->threads, NULL));
        status = generate(o, &err);
    }
    if (ed_dist_agree(d, status, &err) != 0) {
        if (d->rank == 0) fprintf(stderr, "expert-dist: error: %s\n", err.msg);
        return ED_EXIT_FAILURE;
    }
    return ED_EXIT_OK;
}
