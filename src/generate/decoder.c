/* decoder.c — next-token logits over a sliding window of trained positions, with a
 * key/value cache or with a full forward per token (the reference the cache is tested
 * against, and the benchmark's baseline). The window rule is in generate.h. */
#include <stdlib.h>

#include "expert/generate.h"
#include "expert/tokenizer.h"

int ed_decoder_window(int max_length, int max_seq_len) {
    int w = max_length - 1 < max_seq_len ? max_length - 1 : max_seq_len;
    return w >= 1 ? w : 1;
}

void ed_decoder_init(ed_decoder *d, ed_gpt *m, int window, int use_cache) {
    ED_CHECK(window >= 1 && window <= ed_gpt_config(m)->max_seq_len, "decoder window %d outside [1, %d]",
             window, ed_gpt_config(m)->max_seq_len);
    *d = (ed_decoder){.model = m, .window = window};
    if (use_cache) d->cache = ed_kv_cache_create(m, window);
}

void ed_decoder_free(ed_decoder *d) {
    ed_kv_cache_free(d->cache);
    d->cache = NULL;
}

void ed_decoder_reset(ed_decoder *d) {
    d->start = 0;
    d->started = 0;
    if (d->cache) ed_kv_cache_reset(d->cache);
}

const float *ed_decoder_next(ed_decoder *d, const int32_t *ids, size_t len) {
    ED_CHECK(len >= 1 && len >= d->start, "decoder called with %zu ids (context starts at %zu)", len, d->start);
    size_t W = (size_t)d->window;
    if (len - d->start > W) {
        /* Slide: a long prompt keeps W tokens; later the latest ceil(W/2). */
        size_t keep = d->started ? (W + 1) / 2 : W;
        d->start = len - keep;
        if (d->cache) ed_kv_cache_reset(d->cache);
    }
    d->started = 1;
    const int32_t *ctx = ids + d->start;
    int n = (int)(len - d->start);
    if (d->cache) {
        int have = ed_kv_cache_len(d->cache);
        ED_CHECK(have < n, "decoder: %d cached positions but only %d ids in the window", have, n);
        return ed_gpt_forward_cached(d->model, d->cache, ctx + have, n - have);
    }
    ed_gpt_forward(d->model, ctx, NULL, 1, n, 0.0f, 0, NULL, NULL, NULL);
    return ed_gpt_logits(d->model) + (size_t)(n - 1) * ed_gpt_config(d->model)->vocab_size;
}

int ed_generate_tokens(ed_decoder *d, ed_pick *s, const ed_sampling *how, ed_rng *rng,
                       ed_ivec *ids, int max_new, ed_token_fn on_token, void *ctx) {
    ed_decoder_reset(d);
    int made = 0;
    while (made < max_new) {
        const float *logits = ed_decoder_next(d, ids->data, ids->len);
        int32_t next = ed_pick_token(s, how, logits, ids->data, ids->len, rng);
        if (next == s->eos) break;
        ed_ivec_push(ids, next);
        made++;
        if (on_token && on_token(ctx, ids)) break;
    }
    return made;
}
