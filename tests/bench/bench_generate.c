/* bench_generate.c — generation speed: tokens/s with the key/value cache against a full
 * forward per token (--no-kv-cache), for the small and seed presets (random weights:
 * speed does not depend on their values), through the same ed_decoder/ed_pick as
 * `expert-dist generate`. Run it through scripts/bench_generate.sh.
 *
 * Per config: the prompt (W/2 tokens, W = max-length - 1 trained positions) is fed once
 * (prefill tok/s), then --tokens new tokens are decoded greedily from that context with
 * the cache (cached tok/s) and without it (uncached tok/s, fewer tokens: each costs a
 * forward over the whole context); x = cached / uncached. "slide" is the cached rate over
 * 2W new tokens from an empty context, window slides (re-prefill of W/2) included.
 * <EOS> is not a stop here, so every run makes exactly the tokens asked for. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expert/generate.h"
#include "expert/gpt.h"
#include "expert/isa.h"

typedef struct {
    const char *name;
    int D, L, H, FF, max_length;
} config;

static const config CONFIGS[] = {{"small", 256, 4, 4, 1024, 256}, {"seed", 512, 8, 8, 2048, 512}};
enum { V = 10000 };

/* Decodes n tokens after ids (which grows); returns seconds. */
static double decode(ed_decoder *d, ed_pick *p, ed_ivec *ids, int n) {
    const ed_sampling greedy = {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f, .repetition_penalty = 1.0f};
    double t0 = ed_now();
    for (int i = 0; i < n; i++) {
        const float *z = ed_decoder_next(d, ids->data, ids->len);
        ed_ivec_push(ids, ed_pick_token(p, &greedy, z, ids->data, ids->len, NULL));
    }
    return ed_now() - t0;
}

int main(int argc, char **argv) {
    int tokens = 64, unc_tokens = 0, threads = 2;
    const char *which = "all";
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--tokens") == 0) tokens = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--uncached-tokens") == 0) unc_tokens = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0) threads = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--config") == 0) which = argv[++i];
        else {
            fprintf(stderr, "usage: ed-bench-generate [--config small|seed|all] [--tokens N] "
                            "[--uncached-tokens N] [--threads N]\n");
            return 2;
        }
    }
    if (tokens < 1 || threads < 1 || unc_tokens < 0) {
        fprintf(stderr, "ed-bench-generate: --tokens and --threads must be >= 1\n");
        return 2;
    }
    ed_set_threads(threads);
    char cpu[256], isa[160], emsg[256];
    ed_cpu_model(cpu, sizeof cpu);
    if (ed_isa_init(emsg, sizeof emsg) != 0) {
        fprintf(stderr, "ed-bench-generate: %s\n", emsg);
        return 2;
    }
    ed_isa_describe(isa, sizeof isa);
    printf("# CPU: %s; kernels: %s; GEMM: OpenBLAS fp32 (%s)\n", cpu, isa, openblas_get_config());
    printf("# threads=%d, greedy, random weights, V=%d; prompt W/2 tokens, then %d new tokens\n", threads, V,
           tokens);
    printf("%-6s %9s %5s %8s %11s %10s %12s %7s %10s\n", "config", "params", "W", "kv_MiB", "prefill/s",
           "cached/s", "uncached/s", "x", "slide/s");
    int found = 0;
    for (size_t c = 0; c < sizeof CONFIGS / sizeof CONFIGS[0]; c++) {
        const config *k = &CONFIGS[c];
        if (strcmp(which, "all") != 0 && strcmp(which, k->name) != 0) continue;
        found = 1;
        ed_model_config mc = {.vocab_size = V, .d_model = k->D, .n_layers = k->L, .n_heads = k->H,
                              .d_ff = k->FF, .max_seq_len = k->max_length, .dropout = 0.0f};
        char msg[128];
        ed_gpt *m = ed_gpt_create(&mc, 1, msg, sizeof msg);
        int W = ed_decoder_window(k->max_length, mc.max_seq_len), P = W / 2;
        int n = tokens < W - P ? tokens : W - P; /* stay inside the window: no slide */
        int nu = unc_tokens ? unc_tokens : (n < 16 ? n : 16);
        if (nu > n) nu = n;
        ed_pick pick;
        ed_pick_init(&pick, V);
        ed_ivec ids = {0};
        ed_rng r;
        ed_rng_seed(&r, 3, 0);
        for (int i = 0; i < P; i++) ed_ivec_push(&ids, 4 + (int32_t)ed_rng_below(&r, V - 4));

        ed_decoder dc, du;
        ed_decoder_init(&dc, m, W, 1);
        ed_decoder_init(&du, m, W, 0);
        /* warm-up: one prompt and a few tokens each way */
        ed_decoder_reset(&dc);
        ids.len = P;
        decode(&dc, &pick, &ids, 4);
        ed_decoder_reset(&dc);
        ids.len = P;
        double t0 = ed_now();
        ed_decoder_next(&dc, ids.data, ids.len);
        double prefill = ed_now() - t0;
        ed_decoder_reset(&dc);
        ids.len = P;
        ed_decoder_next(&dc, ids.data, ids.len); /* the prompt, then time the new tokens */
        ed_ivec_push(&ids, 4);
        double tc = decode(&dc, &pick, &ids, n);
        ed_decoder_reset(&du);
        ids.len = P + 1;
        double tu = decode(&du, &pick, &ids, nu);
        ed_decoder_reset(&dc);
        ids.len = 1;
        double ts = decode(&dc, &pick, &ids, 2 * W);
        printf("%-6s %9zu %5d %8.2f %11.0f %10.1f %12.2f %6.0fx %10.1f\n", k->name, ed_gpt_num_params(m), W,
               ed_kv_cache_bytes(&mc, W) / 1048576.0, P / prefill, n / tc, nu / tu, (n / tc) / (nu / tu),
               2 * W / ts);
        fflush(stdout);
        ed_decoder_free(&dc);
        ed_decoder_free(&du);
        ed_ivec_free(&ids);
        ed_pick_free(&pick);
        ed_gpt_free(m);
    }
    if (!found) {
        fprintf(stderr, "ed-bench-generate: unknown config '%s' (small, seed, all)\n", which);
        return 2;
    }
    return 0;
}
