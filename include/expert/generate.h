/* generate.h — text generation from a model: the token-level loop behind `expert-dist
 * generate` (src/generate/), usable without the command line (tests, benchmarks).
 *
 *   ed_decoder   the logits of the next token given the ids so far, with or without a
 *                key/value cache, keeping every position inside the trained window;
 *   ed_pick   the next token from those logits: repetition penalty, temperature,
 *                top-k, top-p (nucleus), or greedy at temperature 0; never <PAD>/<BOS>
 *                (the tokenizer's ids: ed_pick_set_roles);
 *   ed_generate_tokens  the loop of the two, one callback per new token.
 *
 * Window. Training only ever puts tokens at positions [0, W) with W = max_length - 1 (a
 * window of max_length tokens gives max_length - 1 inputs), so positions >= W have wpe
 * rows that never learned anything. When a sequence outgrows W the decoder drops its
 * oldest tokens: a prompt longer than W keeps its latest W tokens for the first new
 * token; after that, whenever the context would exceed W, it restarts from the latest
 * ceil(W/2) tokens (the cache is rebuilt from them in one batched forward, so the
 * amortised cost stays about two token forwards per new token). The uncached decoder
 * follows the same rule, so both condition every token on the same ids at the same
 * positions and pick the same tokens (tests/generate). */
#ifndef EXPERT_GENERATE_H
#define EXPERT_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include "expert/common.h"
#include "expert/gpt.h"
#include "expert/rng.h"

typedef struct {
    ed_gpt *model;       /* not owned */
    ed_kv_cache *cache;  /* owned; NULL = uncached (a full forward over the window per token) */
    int window;          /* W: positions used, 1 <= W <= max_seq_len */
    size_t start;        /* the context is ids[start, len) */
    int started;         /* a first call happened since the last reset */
} ed_decoder;

/* use_cache: 1 = key/value cache of `window` positions, 0 = full forward each token. */
void ed_decoder_init(ed_decoder *d, ed_gpt *m, int window, int use_cache);
void ed_decoder_free(ed_decoder *d);
/* Starts a new sequence. */
void ed_decoder_reset(ed_decoder *d);
/* Logits [V] of the token after ids[0..len) (len >= 1). Between resets, successive calls
 * must pass the same ids extended at the end (the cache holds what it was given).
 * Valid until the next call. */
const float *ed_decoder_next(ed_decoder *d, const int32_t *ids, size_t len);
/* The position window a model trained with max_length uses: min(max_length - 1,
 * max_seq_len), at least 1. */
int ed_decoder_window(int max_length, int max_seq_len);

typedef struct {
    float temperature;        /* 0 = greedy (arg-max, lowest id on ties) */
    int top_k;                /* keep the k most likely (0 = all) */
    float top_p;              /* then the smallest set of probability >= top_p (1 = all) */
    float repetition_penalty; /* CTRL-style, on ids already in the sequence (1 = off):
                                 a logit z becomes z / r when z > 0, z * r otherwise */
} ed_sampling;

typedef struct {
    int V;
    float *z;       /* [V] logits after the penalty and the <PAD>/<BOS> mask */
    void *cand;     /* [V] (logit, id) pairs */
    double *p;      /* [V] probabilities of the candidates */
    uint8_t *seen;  /* [V] ids present in the sequence */
    int32_t ban[2]; /* never picked: <PAD>, <BOS> (-1: none; a <BOS> that is also <EOS> is not banned) */
    int32_t eos;    /* generation stops here (-1: never) */
} ed_pick;

/* Roles default to ours (<PAD>=0 <BOS>=2 <EOS>=3); set the tokenizer's with ed_pick_set_roles. */
void ed_pick_init(ed_pick *s, int V);
void ed_pick_set_roles(ed_pick *s, int32_t pad, int32_t bos, int32_t eos);
void ed_pick_free(ed_pick *s);
/* The next token from logits[V]; ids[0..n) is the sequence so far (for the penalty).
 * Draws exactly one uniform from rng unless greedy (none). */
int32_t ed_pick_token(ed_pick *s, const ed_sampling *how, const float *logits,
                  const int32_t *ids, size_t n, ed_rng *rng);

/* Called after each new token (already appended to ids); return non-zero to stop. */
typedef int (*ed_token_fn)(void *ctx, const ed_ivec *ids);

/* Appends up to max_new tokens to ids (which holds BOS + prompt, len >= 1); stops early
 * at s's <EOS> (not appended) or when on_token says so. on_token may be NULL. Resets the
 * decoder first. Returns the number of tokens appended. */
int ed_generate_tokens(ed_decoder *d, ed_pick *s, const ed_sampling *how, ed_rng *rng,
                       ed_ivec *ids, int max_new, ed_token_fn on_token, void *ctx);

#endif
