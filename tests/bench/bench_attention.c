/* bench_attention.c — attention forward + backward time, the tiled kernel (kernels.h, the
 * engine's) against the pre-tiling kernel (bench_attention_gemm.c: ed_gemm row blocks
 * and the full T x T probability matrix), interleaved in one process at the same shapes:
 * a ratio that a loaded machine cannot fake as much as two separate runs could.
 *
 *   ed-bench-attention [--T 256,1024,2048] [--tokens 4096] [--D 256] [--H 4] [--G 4] [--layers 4]
 *                      [--reps 5] [--gemm openblas|onednn] [--precision fp32|bf16|fp16]
 *                      [--window N] [--only old|new]
 *
 * Defaults are --preset small's attention (D 256, 4 heads of 64, 4 layers) at 4096 tokens
 * per call (B = tokens / T). Like a training step, the forward runs over the layers in
 * order, each with its own inputs and saved state, then the backward in reverse: the old
 * kernel's L probability matrices (4 x 134 MB at T = 2048) leave the caches as they do in
 * training, which one reused buffer would hide. --window N packs each row with windows of N tokens (block-diagonal
 * attention through seg): the tiled kernel skips the tiles between windows, the old one
 * only the tiles before its first row block's window. Per T, the median over --reps of
 * each kernel's forward and backward (milliseconds), the speed-up of the tiled pair (wall
 * time, and CPU time of the process: steadier when other jobs share the cores), its
 * effective GFLOP/s (causal flops: 4 T^2/2 hd per head forward, 10 T^2/2 hd backward,
 * counting the recomputed scores), and the bytes each keeps per layer. --only runs one
 * kernel (for a profiler). The header names
 * the CPU, the kernel path and the GEMM, and the time of one 64 x 64 x 64 ed_gemm (the
 * tile product the tiled kernel does with its own micro-kernel instead). Not a test. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expert/common.h"
#include "expert/compute.h"
#include "expert/isa.h"
#include "expert/rng.h"
#include "bench_attention.h"
#include "gemm.h"
#include "kernels.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* CPU seconds of the whole process (all threads): on a machine shared with other jobs
 * the ratio of CPU times is the steadier measure of work; wall times are printed too. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s [--T list] [--tokens N] [--D N] [--H N] [--G N] [--reps N] [--gemm openblas|onednn]\n"
            "          [--precision fp32|bf16|fp16] [--window N] [--only old|new] [--layers L]\n",
            argv0);
    exit(ED_EXIT_USAGE);
}

/* Microseconds per 64 x 64 x 64 ed_gemm issued from inside a parallel region (one per
 * thread, as a tiled kernel would issue them), median of 5 rounds of 200 calls. */
static double tile_gemm_us(ed_gemm_ctx *g) {
    int nt = omp_get_max_threads();
    float *buf = ed_alloc_floats((size_t)nt * 3 * 64 * 64);
    for (size_t i = 0; i < (size_t)nt * 3 * 64 * 64; i++) buf[i] = 0.001f * (float)(i % 101);
    double t[5];
    int saved = ed_blas_serial_begin();
    for (int round = -1; round < 5; round++) {
        double t0 = ed_now();
#pragma omp parallel num_threads(nt)
        {
            float *a = buf + (size_t)omp_get_thread_num() * 3 * 64 * 64, *b = a + 64 * 64, *c = b + 64 * 64;
            for (int k = 0; k < 200; k++) ed_gemm(g, 0, 1, 64, 64, 64, 1.0f, a, 64, b, 64, 0.0f, c, 64);
        }
        if (round >= 0) t[round] = (ed_now() - t0) / 200 * 1e6;
    }
    ed_blas_serial_end(saved);
    free(buf);
    return median(t, 5);
}

int main(int argc, char **argv) {
    const char *Ts = "256,1024,2048";
    int tokens = 4096, D = 256, H = 4, G = 0, L = 4, reps = 5, window = 0, only = 0; /* only: 1 old, 2 new */
    ed_gemm_backend backend = ED_GEMM_OPENBLAS;
    ed_precision prec = ED_PREC_FP32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage(argv[0]);
        if (!strcmp(a, "--T")) Ts = v;
        else if (!strcmp(a, "--tokens")) tokens = atoi(v);
        else if (!strcmp(a, "--D")) D = atoi(v);
        else if (!strcmp(a, "--H")) H = atoi(v);
        else if (!strcmp(a, "--G")) G = atoi(v);
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else if (!strcmp(a, "--window")) window = atoi(v);
        else if (!strcmp(a, "--layers")) L = atoi(v);
        else if (!strcmp(a, "--only")) only = !strcmp(v, "old") ? 1 : !strcmp(v, "new") ? 2 : -1;
        else if (!strcmp(a, "--gemm")) {
            int b = ed_name_index(ed_gemm_backend_names, v);
            if (b < 0 || b == ED_GEMM_AUTO) usage(argv[0]);
            backend = (ed_gemm_backend)b;
        } else if (!strcmp(a, "--precision")) {
            int p = ed_name_index(ed_precision_names, v);
            if (p < 0) usage(argv[0]);
            prec = (ed_precision)p;
        } else
            usage(argv[0]);
        i++;
    }
    if (G == 0) G = H;
    const int layers = L;
    if (only < 0 || L < 1 || L > 16 || D <= 0 || H <= 0 || D % H || G <= 0 || H % G || reps <= 0 || tokens <= 0) usage(argv[0]);
    char msg[256], cpu[256], isa[256], gdesc[256];
    ed_gemm_ctx *g = ed_gemm_ctx_create(backend, prec, msg, sizeof msg);
    if (!g) {
        fprintf(stderr, "ed-bench-attention: %s\n", msg);
        return ED_EXIT_FAILURE;
    }
#ifdef ED_BENCH_OLD_AVX512
    if (!ed_isa_runs(ED_ISA_AVX512)) {
        fprintf(stderr, "ed-bench-attention: the baseline kernel was built for AVX-512, which this CPU lacks\n");
        return ED_EXIT_FAILURE;
    }
#endif
    ed_cpu_model(cpu, sizeof cpu);
    ed_isa_describe(isa, sizeof isa);
    double tile_us = tile_gemm_us(g);
    ed_gemm_ctx_describe(g, gdesc, sizeof gdesc);
    int threads = omp_get_max_threads(), hd = D / H, ld = D + 2 * G * hd;
    printf("# cpu: %s\n# kernels: %s\n# gemm: %s, %d threads\n", cpu, isa, gdesc, threads);
    printf("# one 64x64x64 ed_gemm inside a region: %.2f us (%.1f GFLOP/s per thread)\n", tile_us,
           2.0 * 64 * 64 * 64 / tile_us / 1e3);
    printf("# D %d, %d heads (%d kv), %d layers, %d tokens per call%s", D, H, G, layers, tokens, window ? "" : "\n");
    if (window) printf(", windows of %d tokens\n", window);
    printf("%6s %4s %9s %9s %9s %9s %8s %8s %8s %9s %9s\n", "T", "B", "old_fwd", "old_bwd", "new_fwd", "new_bwd",
           "speedup", "cpu_spd", "GFLOP/s", "old_MB", "new_MB");
    for (const char *s = Ts; *s;) {
        int T = atoi(s);
        s += strcspn(s, ",");
        if (*s) s++;
        int B = tokens / T > 0 ? tokens / T : 1;
        size_t N = (size_t)B * T, nq = N * ld, na = (size_t)B * H * T * T;
        ed_rng r;
        ed_rng_seed(&r, 7, (uint64_t)T);
        /* per layer, as a training step holds them: inputs, outputs, and what each kernel
         * keeps for its backward (old: the probabilities; tiled: the log-sum-exps) */
        float *qkv[16], *out[16], *att[16], *lse[16];
        for (int l = 0; l < layers; l++) {
            qkv[l] = ed_alloc_floats(nq), out[l] = ed_alloc_floats(N * D);
            att[l] = only != 2 ? ed_alloc_floats(na) : NULL, lse[l] = ed_alloc_floats((size_t)B * H * T);
            for (size_t i = 0; i < nq; i++) qkv[l][i] = (float)ed_rng_normal(&r);
        }
        float *dqkv = ed_alloc_floats(nq), *dout = ed_alloc_floats(N * D);
        float *scr = ed_alloc_floats((size_t)threads * ed_att_scratch_floats(T, hd));
        float *oscr = ed_alloc_floats((size_t)threads * ED_ATT_BLOCK * T);
        for (size_t i = 0; i < N * D; i++) dout[i] = (float)ed_rng_normal(&r);
        int *seg = NULL;
        if (window > 0) {
            seg = malloc(N * sizeof(int));
            for (size_t i = 0; i < N; i++) seg[i] = (int)((i % T) / window * window);
        }
        double *t = malloc((size_t)4 * reps * sizeof(double)), *c = malloc((size_t)4 * reps * sizeof(double));
        int saved = ed_blas_serial_begin();
        for (int k = -1; k < reps; k++) { /* k = -1: warm-up (oneDNN primitives, page faults) */
            double t0 = ed_now(), c0 = cpu_now();
            for (int l = 0; l < layers && only != 2; l++)
                old_attention_forward(g, out[l], att[l], NULL, qkv[l], seg, B, T, D, H, G, 0.0f, 1);
            double t1 = ed_now();
            for (int l = layers - 1; l >= 0 && only != 2; l--)
                old_attention_backward(g, dqkv, oscr, dout, qkv[l], att[l], NULL, seg, B, T, D, H, G, 0.0f, threads);
            double t2 = ed_now(), c2 = cpu_now();
            for (int l = 0; l < layers && only != 1; l++)
                attention_forward(g, out[l], lse[l], qkv[l], seg, B, T, D, H, G, 0.0f, 1, scr, threads);
            double t3 = ed_now();
            for (int l = layers - 1; l >= 0 && only != 1; l--)
                attention_backward(g, dqkv, scr, dout, qkv[l], out[l], lse[l], seg, B, T, D, H, G, 0.0f, 1, threads);
            double t4 = ed_now(), c4 = cpu_now();
            if (k < 0) continue;
            t[k] = t1 - t0, t[reps + k] = t2 - t1, t[2 * reps + k] = t3 - t2, t[3 * reps + k] = t4 - t3;
            c[k] = (c2 - c0), c[reps + k] = (c4 - c2);
        }
        ed_blas_serial_end(saved);
        double of = median(t, reps), ob = median(t + reps, reps), nf = median(t + 2 * reps, reps);
        double nb = median(t + 3 * reps, reps);
        double cpu_ratio = median(c, reps) / median(c + reps, reps);
        /* visible (query, key) pairs: causal, or within the windows */
        double pairs = 0.0;
        for (int i = 0; i < T; i++) pairs += seg ? i - seg[i] + 1 : i + 1;
        double flops = 14.0 * pairs * hd * B * H * layers;
        double old_mb = ((double)layers * na + (double)threads * ED_ATT_BLOCK * T) * 4 / 1e6;
        double new_mb = ((double)layers * B * H * T + (double)threads * ed_att_scratch_floats(T, hd)) * 4 / 1e6;
        printf("%6d %4d %9.2f %9.2f %9.2f %9.2f %7.2fx %7.2fx %8.1f %9.1f %9.1f\n", T, B, of * 1e3, ob * 1e3,
               nf * 1e3, nb * 1e3, (of + ob) / (nf + nb), cpu_ratio, flops / (nf + nb) / 1e9, old_mb, new_mb);
        fflush(stdout);
        for (int l = 0; l < layers; l++) free(qkv[l]), free(out[l]), free(att[l]), free(lse[l]);
        free(dqkv), free(dout), free(scr), free(oscr), free(seg), free(t), free(c);
    }
    ed_gemm_ctx_free(g);
    return 0;
}
