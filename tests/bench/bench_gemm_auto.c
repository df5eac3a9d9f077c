/* bench_gemm_auto.c — is `--gemm auto`'s pick the faster backend? In one process, rounds
 * of: the probe (ed_gpt_gemm_compare on the training products: what auto would pick, and
 * how long it took), then a forward + backward step of B x T tokens on OpenBLAS and one
 * on oneDNN (the order alternating between rounds; each after an untimed step on the
 * same backend, which creates its primitives and fills its operand copies). Prints the
 * median step time per backend, wall and CPU (both threads: on a loaded machine the
 * steadier figure), their ratio, and how often the probe picked each backend.
 * Not a test: no thresholds (README "GEMM backend choice").
 *
 *   ed-bench-gemm-auto [--config small|seed] [--precision fp32|bf16] [--rounds N] [--threads N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expert/common.h"
#include "expert/gpt.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n ? v[n / 2] : 0.0;
}

int main(int argc, char **argv) {
    const char *config = "small";
    ed_precision p = ED_PREC_FP32;
    int rounds = 5, threads = 2;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--config") == 0) config = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--precision") == 0) p = strcmp(argv[++i], "bf16") == 0 ? ED_PREC_BF16 : ED_PREC_FP32;
        else if (i + 1 < argc && strcmp(argv[i], "--rounds") == 0) rounds = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0) threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: ed-bench-gemm-auto [--config small|seed] [--precision fp32|bf16] [--rounds N] [--threads N]\n");
            return 2;
        }
    }
    if (rounds < 1 || rounds > 64 || threads < 1) {
        fprintf(stderr, "ed-bench-gemm-auto: --rounds 1..64, --threads >= 1\n");
        return 2;
    }
    int seed = strcmp(config, "seed") == 0;
    /* the presets' shapes on the bundled corpus (vocabulary 10000), batch 8 */
    ed_model_config c = {.vocab_size = 10000, .d_model = seed ? 512 : 256, .n_layers = seed ? 8 : 4,
                         .n_heads = seed ? 8 : 4, .d_ff = seed ? 2048 : 1024, .max_seq_len = seed ? 512 : 256};
    const int B = 8, T = c.max_seq_len - 1, N = B * T;
    ed_set_threads(threads);
    char msg[256] = "";
    ed_gpt *m = ed_gpt_create(&c, 1, msg, sizeof msg);
    if (!m || ed_gpt_set_compute(m, ED_GEMM_ONEDNN, p, msg, sizeof msg) != 0) {
        fprintf(stderr, "ed-bench-gemm-auto: %s\n", msg);
        return 1;
    }
    int32_t *in = ed_malloc((size_t)N * sizeof *in), *tg = ed_malloc((size_t)N * sizeof *tg);
    for (int i = 0; i < N; i++) in[i] = (int32_t)((i * 7919L) % c.vocab_size), tg[i] = (int32_t)((i * 104729L + 3) % c.vocab_size);
    ed_gpt_reserve(m, B, T);
    double wall[ED_GEMM_N][64], cpu[ED_GEMM_N][64], probe[64];
    int picks[ED_GEMM_N] = {0};
    for (int r = 0; r < rounds; r++) {
        ed_gemm_comparison cmp;
        ed_gpt_gemm_compare(m, ED_GEMM_WORK_TRAIN, N, p, &cmp);
        picks[cmp.gflops[ED_GEMM_ONEDNN] > cmp.gflops[ED_GEMM_OPENBLAS] ? ED_GEMM_ONEDNN : ED_GEMM_OPENBLAS]++;
        probe[r] = cmp.seconds;
        for (int j = 0; j < 2; j++) {
            ed_gemm_backend b = (r + j) % 2 ? ED_GEMM_ONEDNN : ED_GEMM_OPENBLAS;
            ed_gpt_set_compute(m, b, p, msg, sizeof msg);
            for (int s = 0; s < 2; s++) {
                double loss;
                long count;
                double w0 = ed_now(), c0 = cpu_now();
                ed_gpt_zero_grad(m);
                ed_gpt_forward(m, in, tg, B, T, 0.0f, 0, NULL, &loss, &count);
                ed_gpt_backward(m, 1.0f, NULL, NULL);
                if (s == 1) wall[b][r] = ed_now() - w0, cpu[b][r] = cpu_now() - c0;
            }
        }
    }
    double wo = median(wall[ED_GEMM_OPENBLAS], rounds), wd = median(wall[ED_GEMM_ONEDNN], rounds);
    double co = median(cpu[ED_GEMM_OPENBLAS], rounds), cd = median(cpu[ED_GEMM_ONEDNN], rounds);
    printf("%s %s, %d threads, %d rounds: forward+backward of %d tokens, median of the rounds\n", config,
           ed_precision_names[p], threads, rounds, N);
    printf("  wall: openblas %.1f ms, onednn %.1f ms -> oneDNN %.2fx\n", 1e3 * wo, 1e3 * wd, wo / wd);
    printf("  CPU:  openblas %.1f ms, onednn %.1f ms -> oneDNN %.2fx\n", 1e3 * co, 1e3 * cd, co / cd);
    printf("  probe: picked openblas %d, onednn %d of %d; %.0f ms (median)\n", picks[ED_GEMM_OPENBLAS],
           picks[ED_GEMM_ONEDNN], rounds, 1e3 * median(probe, rounds));
    free(in), free(tg);
    ed_gpt_free(m);
    return 0;
}
