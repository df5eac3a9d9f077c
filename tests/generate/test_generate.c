/* test_generate.c — cached generation is the uncached forward, token for token.
 *
 *  - ed_gpt_forward_cached, fed one token at a time and in chunks (a prompt of more than
 *    one 64-row chunk), gives the logits of ed_gpt_forward's last row to float rounding;
 *  - ed_generate_tokens with the cache and without it produces exactly the same ids for a
 *    fixed seed, greedy and sampled (temperature, top-k, top-p, repetition penalty), for
 *    prompts shorter and longer than the window, over enough tokens to slide it several
 *    times; no position at or past the window is ever used;
 *  - the sampler: top-k 1 and a tiny top-p are greedy, the penalty moves the arg-max,
 *    the draw follows the softmax.
 * Weights are the GPT-2 init scaled up so the logits are peaked like a trained model's
 * (a random init's nearly flat logits would make the comparison say little). The logits
 * tests run on 2 OpenMP threads so the per-thread attention scratch and the split GEMV
 * are exercised. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "expert/generate.h"
#include "expert/gpt.h"
#include "expert/rng.h"
#include "expert/tokenizer.h"

enum { V = 97, TMAX = 48, W = 40 };

/* A GPT-2, or (llama) a Llama with grouped-query attention (4 heads, 2 key/value heads)
 * and an untied head. */
static ed_gpt *make_model_arch(int llama) {
    ed_model_config c = {.vocab_size = V, .d_model = 32, .n_layers = 3, .n_heads = 4,
                         .d_ff = 80, .max_seq_len = TMAX, .dropout = 0.0f};
    if (llama) {
        c.arch = ED_ARCH_LLAMA;
        c.n_kv_heads = 2;
        c.rope_theta = 10000.0f;
        c.rms_eps = 1e-6f;
    }
    char msg[128];
    ed_gpt *m = ed_gpt_create(&c, 5, msg, sizeof msg);
    assert_non_null(m);
    float *p = ed_gpt_params(m);
    for (size_t i = 0; i < ed_gpt_num_params(m); i++) p[i] *= 6.0f;
    /* <EOS> gets logit 0 (its head row is zero), below the top logits: runs stay long */
    const char *head = llama ? "lm_head.weight" : "wte.weight";
    memset(p + ed_gpt_find_tensor(m, head)->offset + (size_t)ED_EOS * 32, 0, 32 * sizeof(float));
    return m;
}


static void random_ids(int32_t *ids, int n, uint64_t seed) {
    ed_rng r;
    ed_rng_seed(&r, seed, 0);
    for (int i = 0; i < n; i++) ids[i] = ED_NUM_SPECIAL + (int32_t)ed_rng_below(&r, V - ED_NUM_SPECIAL);
    ids[0] = ED_BOS;
}

static double max_rel(const float *a, const float *b, int n) {
    double d = 0.0, s = 0.0;
    for (int i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs((double)b[i]));
    }
    return d / s;
}

static void logits_match(int llama) {
    ed_set_threads(2);
    ed_gpt *m = make_model_arch(llama);
    int32_t ids[TMAX];
    random_ids(ids, TMAX, 3);
    ed_kv_cache *k = ed_kv_cache_create(m, TMAX);
    assert_int_equal(ed_kv_cache_capacity(k), TMAX);
    float *want = malloc(sizeof(float) * V);
    /* one token at a time, every prefix length */
    for (int n = 1; n <= TMAX; n++) {
        const float *got = ed_gpt_forward_cached(m, k, ids + n - 1, 1);
        assert_int_equal(ed_kv_cache_len(k), n);
        float tmp[V];
        memcpy(tmp, got, sizeof tmp);
        ed_gpt_forward(m, ids, NULL, 1, n, 0.0f, 0, NULL, NULL, NULL);
        memcpy(want, ed_gpt_logits(m) + (size_t)(n - 1) * V, sizeof(float) * V);
        assert_true(max_rel(tmp, want, V) < 1e-5);
    }
    /* a prefill in one call (chunks of 64 rows need a longer model: TMAX < 64 here, so
     * also feed 7 + rest to cover a prefill that starts mid-cache) */
    ed_kv_cache_reset(k);
    ed_gpt_forward_cached(m, k, ids, 7);
    const float *got = ed_gpt_forward_cached(m, k, ids + 7, TMAX - 7);
    assert_true(max_rel(got, want, V) < 1e-5);
    ed_kv_cache_free(k);
    free(want);
    ed_gpt_free(m);
}

static void cached_logits_match_forward(void **state) {
    (void)state;
    logits_match(0);
}

/* The llama's cache holds G = 2 key/value heads (half a GPT-2's) after RoPE; a chunk
 * that starts mid-cache rotates by its own positions. */
static void llama_cached_logits_match_forward(void **state) {
    (void)state;
    logits_match(1);
    ed_model_config c = {.vocab_size = V, .d_model = 32, .n_layers = 3, .n_heads = 4, .d_ff = 80,
                         .max_seq_len = TMAX, .arch = ED_ARCH_LLAMA, .n_kv_heads = 2};
    assert_int_equal(ed_kv_cache_bytes(&c, TMAX), (size_t)3 * 2 * TMAX * 16 * 4);
}

/* A prompt of 150 tokens through a model with 160 positions crosses the 64-row chunks;
 * d_ff 576 x d_model 128 is large enough for the one-row GEMV to split over threads. */
static void long_prefill_in_chunks(void **state) {
    (void)state;
    ed_set_threads(2);
    ed_model_config c = {.vocab_size = V, .d_model = 128, .n_layers = 2, .n_heads = 4,
                         .d_ff = 576, .max_seq_len = 160, .dropout = 0.0f};
    char msg[128];
    ed_gpt *m = ed_gpt_create(&c, 9, msg, sizeof msg);
    int32_t ids[150];
    random_ids(ids, 150, 4);
    ed_kv_cache *k = ed_kv_cache_create(m, 160);
    float got[V];
    memcpy(got, ed_gpt_forward_cached(m, k, ids, 150), sizeof got);
    ed_gpt_forward(m, ids, NULL, 1, 150, 0.0f, 0, NULL, NULL, NULL);
    assert_true(max_rel(got, ed_gpt_logits(m) + (size_t)149 * V, V) < 1e-5);
    assert_int_equal(ed_kv_cache_len(k), 150);
    /* then one token (the GEMV path) after the long prefill */
    ed_kv_cache_reset(k);
    ed_gpt_forward_cached(m, k, ids, 149);
    memcpy(got, ed_gpt_forward_cached(m, k, ids + 149, 1), sizeof got);
    assert_true(max_rel(got, ed_gpt_logits(m) + (size_t)149 * V, V) < 1e-5);
    assert_int_equal(ed_kv_cache_bytes(&c, 160), (size_t)2 * 2 * 160 * 128 * 4);
    ed_kv_cache_free(k);
    ed_gpt_free(m);
}

typedef struct {
    ed_decoder *d;
    int max_span; /* the widest context any step conditioned on */
} watch;

static int on_token(void *ctx, const ed_ivec *ids) {
    watch *w = ctx;
    int span = (int)(ids->len - 1 - w->d->start); /* the step that made the token */
    if (span > w->max_span) w->max_span = span;
    return 0;
}

static void run(ed_gpt *m, int use_cache, const ed_sampling *how, const int32_t *prompt, int n_prompt,
                int max_new, ed_ivec *out, int *max_span) {
    ed_decoder d;
    ed_decoder_init(&d, m, W, use_cache);
    ed_pick s;
    ed_pick_init(&s, V);
    ed_rng rng;
    ed_rng_seed(&rng, 1234, 7);
    out->len = 0;
    for (int i = 0; i < n_prompt; i++) ed_ivec_push(out, prompt[i]);
    watch w = {&d, 0};
    ed_generate_tokens(&d, &s, how, &rng, out, max_new, on_token, &w);
    *max_span = w.max_span;
    ed_pick_free(&s);
    ed_decoder_free(&d);
}

static void ids_equal(int llama) {
    ed_set_threads(1); /* the 2-thread paths are covered above; spare a loaded machine */
    ed_gpt *m = make_model_arch(llama);
    const ed_sampling greedy = {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f, .repetition_penalty = 1.0f};
    const ed_sampling sampled = {.temperature = 0.9f, .top_k = 20, .top_p = 0.95f, .repetition_penalty = 1.3f};
    const ed_sampling plain = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .repetition_penalty = 1.0f};
    const ed_sampling *modes[] = {&greedy, &sampled, &plain};
    const int prompt_lens[] = {1, 6, W - 1, W, 90}; /* BOS only, short, at the window, longer */
    int32_t prompt[90];
    random_ids(prompt, 90, 8);
    ed_ivec a = {0}, b = {0};
    for (size_t mi = 0; mi < sizeof modes / sizeof modes[0]; mi++)
        for (size_t pi = 0; pi < sizeof prompt_lens / sizeof prompt_lens[0]; pi++) {
            int np = prompt_lens[pi], span_a, span_b;
            run(m, 1, modes[mi], prompt, np, 100, &a, &span_a);
            run(m, 0, modes[mi], prompt, np, 100, &b, &span_b);
            assert_int_equal(a.len, b.len);
            if (memcmp(a.data, b.data, a.len * sizeof(int32_t)) != 0) {
                for (size_t i = 0; i < a.len; i++)
                    if (a.data[i] != b.data[i]) fail_msg("mode %zu prompt %d: token %zu differs (%d vs %d)", mi, np, i, a.data[i], b.data[i]);
            }
            if (a.len <= (size_t)np + 50) /* long enough to slide the window twice */
                fail_msg("mode %zu prompt %d: only %zu new tokens", mi, np, a.len - np);
            assert_true(span_a <= W && span_b <= W);
            /* the generated tokens are not all the same id (the test would say little) */
            int distinct = 0;
            for (size_t i = (size_t)np + 1; i < a.len; i++) distinct += a.data[i] != a.data[i - 1];
            assert_true(distinct > 5);
        }
    ed_ivec_free(&a);
    ed_ivec_free(&b);
    ed_gpt_free(m);
}

static void cached_ids_equal_uncached(void **state) {
    (void)state;
    ids_equal(0);
}

static void llama_cached_ids_equal_uncached(void **state) {
    (void)state;
    ids_equal(1);
}

static void sampler_rules(void **state) {
    (void)state;
    ed_pick s;
    ed_pick_init(&s, 9);
    /* ids 0..3 are <PAD> <UNK> <BOS> <EOS>; <BOS> has the largest logit but is never drawn */
    const float z[9] = {0.5f, 0.1f, 3.0f, -0.5f, 0.5f, 2.0f, 1.9f, -1.0f, 2.0f};
    ed_rng rng;
    ed_rng_seed(&rng, 1, 0);
    ed_sampling g = {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f, .repetition_penalty = 1.0f};
    assert_int_equal(ed_pick_token(&s, &g, z, NULL, 0, &rng), 5); /* tie 5 vs 8: the lower id */
    ed_sampling k1 = {.temperature = 1.0f, .top_k = 1, .top_p = 1.0f, .repetition_penalty = 1.0f};
    ed_sampling p0 = {.temperature = 1.0f, .top_k = 0, .top_p = 1e-6f, .repetition_penalty = 1.0f};
    ed_sampling all = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .repetition_penalty = 1.0f};
    for (int i = 0; i < 200; i++) {
        assert_int_equal(ed_pick_token(&s, &k1, z, NULL, 0, &rng), 5);
        assert_int_equal(ed_pick_token(&s, &p0, z, NULL, 0, &rng), 5);
        int t = ed_pick_token(&s, &all, z, NULL, 0, &rng);
        assert_true(t != ED_PAD && t != ED_BOS);
    }
    /* the penalty divides positive logits of ids already present: 5 and 8 drop below 6 */
    const int32_t seen[3] = {5, 8, 5};
    ed_sampling pen = {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f, .repetition_penalty = 2.0f};
    assert_int_equal(ed_pick_token(&s, &pen, z, seen, 3, &rng), 6);
    const int32_t neg[1] = {7}; /* a negative logit is multiplied: still not chosen */
    assert_int_equal(ed_pick_token(&s, &pen, z, neg, 1, &rng), 5);
    /* frequencies follow softmax(z) restricted to the top 3 (ids 5, 8, 6) */
    ed_sampling k3 = {.temperature = 1.0f, .top_k = 3, .top_p = 1.0f, .repetition_penalty = 1.0f};
    int count[9] = {0};
    enum { DRAWS = 60000 };
    for (int i = 0; i < DRAWS; i++) count[ed_pick_token(&s, &k3, z, NULL, 0, &rng)]++;
    assert_int_equal(count[5] + count[8] + count[6], DRAWS);
    double zs = 2 * exp(2.0) + exp(1.9);
    assert_true(fabs(count[5] / (double)DRAWS - exp(2.0) / zs) < 0.01);
    assert_true(fabs(count[6] / (double)DRAWS - exp(1.9) / zs) < 0.01);
    /* top-p 0.6 over {5, 8, 6}: 5 and 8 hold 0.69 of the mass, 6 is never drawn */
    ed_sampling tp = {.temperature = 1.0f, .top_k = 3, .top_p = 0.6f, .repetition_penalty = 1.0f};
    for (int i = 0; i < 2000; i++) assert_int_not_equal(ed_pick_token(&s, &tp, z, NULL, 0, &rng), 6);
    ed_pick_free(&s);
}

static void window_rule(void **state) {
    (void)state;
    assert_int_equal(ed_decoder_window(512, 512), 511);
    assert_int_equal(ed_decoder_window(65, 32), 32);
    assert_int_equal(ed_decoder_window(2, 8), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cached_logits_match_forward),
        cmocka_unit_test(long_prefill_in_chunks),
        cmocka_unit_test(cached_ids_equal_uncached),
        cmocka_unit_test(llama_cached_logits_match_forward),
        cmocka_unit_test(llama_cached_ids_equal_uncached),
        cmocka_unit_test(sampler_rules),
        cmocka_unit_test(window_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
