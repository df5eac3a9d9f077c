/* bench_engine.c — speed of the engine's training step against two yardsticks, in one run:
 *   1. our step in fp32, bf16 and fp16 (--precision): forward + backward + clip + AdamW
 *      (fp16: at loss scale 2^16, unscaled before the clip, as the trainer does),
 *      median over --steps after 2 warm-ups; tokens/s and effective GFLOPS =
 *      ed_flops_per_token (6*params + 12*L*T*D; an untied embedding is not counted) *
 *      tokens / time;
 *   2. the GEMMs of that step (every Linear forward and both backward products, the tied
 *      head, attention QK^T/AV and their backward per (b,h) at full T x T) on every GEMM
 *      the machine offers: raw cblas_sgemm with OpenBLAS's own threads, the engine's
 *      OpenBLAS split, oneDNN fp32, and oneDNN bf16 / fp16 where the CPU has a native
 *      matmul of that type (on operands already in half precision: the GEMM alone; the
 *      step's own rounding of operands counts against the step); timed the same way.
 *      The best of them for a precision is the honest ceiling (a half precision without
 *      native support: the best fp32 rate, since it is then emulated by fp32 GEMMs);
 *   3. PyTorch on the same config and thread count (tests/reference/gpt.py bench, or
 *      tests/reference/llama_reference.py bench for a llama row: --torch-llama), in
 *      fp32 and under torch.autocast('cpu', bfloat16), run before and after 1+2 and
 *      averaged (no fp16 peer: torch 1.13 has no fp16 autocast on the CPU).
 * The header names the CPU, its ISA, OpenBLAS's core and oneDNN's ISA.
 * With --recompute an fp32 engine with activation recomputation runs interleaved with
 * the others, and a row "<config>+rc" shows its speed, its activation memory and its
 * time over the plain fp32 step ("rc_time" = extra time in %, from the same run).
 * --engine-only runs our steps alone (no GEMM sets, no PyTorch; ours% shows 0): a
 * workload for `perf record`. Prints one table row per config. Not a test (no thresholds): see scripts/bench.sh.
 * cpuE / cpuG: CPU time our step / the sgemm set actually got, as a fraction of
 * wall time x threads; well below 100% means other jobs were sharing the cores. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expert/common.h"
#include "expert/compute.h"
#include "expert/gpt.h"
#include "expert/isa.h"
#include "expert/optim.h"
#include "expert/progress.h"
#include "gemm.h"

typedef struct {
    const char *name;
    int V, D, L, H, FF, T, B;
    int G; /* llama: key/value heads; 0 = a GPT-2 */
} bench_cfg;

/* llama-small: the llama-small preset (untied head, SwiGLU 688, 2 key/value heads) at
 * small's vocabulary and shapes, the row to hold against small. */
static const bench_cfg PRESETS[] = {
    {"small", 8192, 256, 4, 4, 1024, 256, 8, 0},
    {"llama-small", 8192, 256, 4, 4, 688, 256, 8, 2},
    {"seed", 10000, 512, 8, 8, 2048, 512, 8, 0},
};

static ed_model_config model_config(const bench_cfg *c) {
    ed_model_config mc = {.vocab_size = c->V, .d_model = c->D, .n_layers = c->L, .n_heads = c->H,
                          .d_ff = c->FF, .max_seq_len = c->T};
    if (c->G) {
        mc.arch = ED_ARCH_LLAMA;
        mc.n_kv_heads = c->G;
        mc.rope_theta = 10000.0f;
        mc.rms_eps = 1e-6f;
    }
    return mc;
}

/* "all", or a comma-separated list of names */
static int selected(const char *which, const char *name) {
    if (!strcmp(which, "all")) return 1;
    size_t n = strlen(name);
    for (const char *p = which; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return 1;
        p += len + (e != NULL);
    }
    return 0;
}

/* CPU seconds used by the whole process (all threads). */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* ---- 1. the engine's step ---- */
typedef struct {
    ed_gpt *m;
    ed_optim o;
    int32_t *x, *y;
    size_t n;
    ed_gemm_backend gemm;
    ed_precision prec;
    double *t, *f, *b, *op; /* per-step times: total, forward, backward, clip + AdamW */
    double cpu, wall;       /* CPU and wall seconds after warm-up */
} engine;

static void engine_init(engine *e, const bench_cfg *c, int recompute, ed_gemm_backend gemm, ed_precision prec,
                        int total) {
    ed_model_config mc = model_config(c);
    char msg[256];
    memset(e, 0, sizeof *e);
    e->m = ed_gpt_create(&mc, 0, msg, sizeof msg);
    if (!e->m) ED_DIE("config %s: %s", c->name, msg);
    if (ed_gpt_set_compute(e->m, gemm, prec, msg, sizeof msg) != 0) ED_DIE("%s", msg);
    e->gemm = gemm, e->prec = prec;
    ed_gpt_set_recompute(e->m, recompute);
    e->n = ed_gpt_num_params(e->m);
    size_t N = (size_t)c->B * c->T;
    e->x = ed_malloc(N * sizeof *e->x);
    e->y = ed_malloc(N * sizeof *e->y);
    ed_rng r;
    ed_rng_seed(&r, 1, 0);
    for (size_t i = 0; i < N; i++) {
        e->x[i] = (int32_t)ed_rng_below(&r, (uint64_t)c->V);
        e->y[i] = (int32_t)ed_rng_below(&r, (uint64_t)c->V);
    }
    ed_optim_init(&e->o, ED_OPT_ADAMW, 0, e->n, 0.9f, 0.999f, 1e-8f, 0.01f, 0.0f);
    e->t = ed_calloc((size_t)total * 4, sizeof(double));
    e->f = e->t + total, e->b = e->t + 2 * total, e->op = e->t + 3 * total;
}

/* Training step s; records its phase times. */
static void engine_step(engine *e, const bench_cfg *c, int s) {
    double c0 = cpu_now(), t0 = ed_now(), loss;
    long cnt;
    ed_gpt_zero_grad(e->m);
    ed_gpt_forward(e->m, e->x, e->y, c->B, c->T, 0.0f, 0, NULL, &loss, &cnt);
    double t1 = ed_now();
    /* fp16: the loss scaler's work as in train_step.c (the scaled backward, one unscaling
     * pass over the gradients); the scale stays 2^16 (random data does not overflow) */
    const float S = e->prec == ED_PREC_FP16 ? 65536.0f : 1.0f;
    ed_gpt_backward(e->m, S / (float)cnt, NULL, NULL);
    double t2 = ed_now();
    if (S != 1.0f) ed_scale(ed_gpt_grads(e->m), e->n, 1.0f / S);
    float f = ed_clip_factor(sqrt(ed_sumsq(ed_gpt_grads(e->m), e->n)), 1.0f);
    if (f < 1.0f) ed_scale(ed_gpt_grads(e->m), e->n, f);
    ed_optim_step(&e->o, ed_gpt_params(e->m), ed_gpt_grads(e->m), ed_gpt_tensors(e->m),
                  ed_gpt_num_tensors(e->m), 5e-4f);
    double t3 = ed_now();
    if (!isfinite(loss)) ED_DIE("non-finite loss in the benchmark");
    e->f[s] = t1 - t0, e->b[s] = t2 - t1, e->op[s] = t3 - t2, e->t[s] = t3 - t0;
    if (s >= 2) e->cpu += cpu_now() - c0, e->wall += t3 - t0;
}

static void engine_free(engine *e) {
    free(e->x), free(e->y), free(e->t);
    ed_optim_free(&e->o);
    ed_gpt_free(e->m);
}

/* ---- 2. the step's GEMMs on each GEMM of the machine ---- */
typedef struct {
    int ta, tb, M, N, K, reps, per_head; /* per_head: one product per (b,h), spread over threads */
} gemm_shape;

/* onednn: primitives threaded by oneDNN on the OpenMP pool; onednn-split: the same
 * primitives single-threaded inside the engine's per-thread slabs (how oneDNN's own
 * threading compares with the engine's split, measured rather than assumed). */
enum { RAW_SGEMM, CTX_OPENBLAS, CTX_ONEDNN, CTX_ONEDNN_SPLIT, CTX_ONEDNN_BF16, CTX_ONEDNN_FP16, N_GEMMS };
static const char *const GEMM_NAMES[N_GEMMS] = {"sgemm", "openblas", "onednn", "onednn-split", "onednn-bf16",
                                                "onednn-fp16"};

typedef struct {
    gemm_shape g[24];
    int k;
    double flops;
    float *A, *B, *C; /* C has room for one output per thread */
    void *hA[N_GEMMS], *hB[N_GEMMS]; /* native half contexts: A and B already in half */
    size_t maxc;
    ed_gemm_ctx *ctx[N_GEMMS]; /* NULL for RAW_SGEMM and for what the machine lacks */
    int have[N_GEMMS];
    double *t[N_GEMMS];
} gemm_set;

static int add_linear(gemm_shape *g, int k, int N, int C, int OC, int reps) {
    g[k++] = (gemm_shape){0, 1, N, OC, C, reps, 0}; /* out = inp w^T */
    g[k++] = (gemm_shape){0, 0, N, C, OC, reps, 0}; /* dinp = dout w */
    g[k++] = (gemm_shape){1, 0, OC, C, N, reps, 0}; /* dw = dout^T inp */
    return k;
}

static void gemm_init(gemm_set *s, const bench_cfg *c, const ed_machine *mach, int total) {
    int N = c->B * c->T, D = c->D, hd = c->D / c->H, T = c->T, k = 0, L = c->L;
    memset(s, 0, sizeof *s);
    gemm_shape *g = s->g;
    /* a llama's fused q|k|v rows are D + 2 G hd wide, its gate|up 2 FF */
    int qkv = c->G ? D + 2 * c->G * hd : 3 * D, mlp = c->G ? 2 * c->FF : c->FF;
    k = add_linear(g, k, N, D, qkv, L);
    k = add_linear(g, k, N, D, D, L);
    k = add_linear(g, k, N, D, mlp, L);
    k = add_linear(g, k, N, c->FF, D, L);
    k = add_linear(g, k, N, D, c->V, 1); /* head: logits, dlnf, dwte */
    int bh = c->B * c->H * L;
    g[k++] = (gemm_shape){0, 1, T, T, hd, bh, 1}; /* S = Q K^T */
    g[k++] = (gemm_shape){0, 0, T, hd, T, bh, 1}; /* Y = P V */
    g[k++] = (gemm_shape){1, 0, T, hd, T, bh, 1}; /* dV = P^T dY */
    g[k++] = (gemm_shape){0, 1, T, T, hd, bh, 1}; /* dP = dY V^T */
    g[k++] = (gemm_shape){0, 0, T, hd, T, bh, 1}; /* dQ = dS K */
    g[k++] = (gemm_shape){1, 0, T, hd, T, bh, 1}; /* dK = dS^T Q */
    s->k = k;
    size_t maxa = 0, maxb = 0, maxc = 0;
    for (int i = 0; i < k; i++) {
        size_t a = (size_t)g[i].M * g[i].K, b = (size_t)g[i].K * g[i].N, cc = (size_t)g[i].M * g[i].N;
        maxa = a > maxa ? a : maxa, maxb = b > maxb ? b : maxb, maxc = cc > maxc ? cc : maxc;
        s->flops += 2.0 * g[i].M * g[i].N * (double)g[i].K * g[i].reps;
    }
    int nt = omp_get_max_threads();
    s->maxc = maxc;
    s->A = ed_alloc_floats(maxa), s->B = ed_alloc_floats(maxb), s->C = ed_alloc_floats(maxc * (size_t)nt);
    for (size_t i = 0; i < maxa; i++) s->A[i] = 0.001f * (float)(i % 97);
    for (size_t i = 0; i < maxb; i++) s->B[i] = 0.001f * (float)(i % 89);
    memset(s->C, 0, maxc * (size_t)nt * sizeof(float));
    s->have[RAW_SGEMM] = s->have[CTX_OPENBLAS] = 1;
    s->ctx[CTX_OPENBLAS] = ed_gemm_ctx_create(ED_GEMM_OPENBLAS, ED_PREC_FP32, NULL, 0);
    if (mach->have_onednn) {
        s->have[CTX_ONEDNN] = s->have[CTX_ONEDNN_SPLIT] = 1;
        s->ctx[CTX_ONEDNN] = ed_gemm_ctx_create(ED_GEMM_ONEDNN, ED_PREC_FP32, NULL, 0);
        s->ctx[CTX_ONEDNN_SPLIT] = ed_gemm_ctx_create(ED_GEMM_ONEDNN, ED_PREC_FP32, NULL, 0);
        ed_gemm_ctx_set_onednn_split(s->ctx[CTX_ONEDNN_SPLIT], 1);
        if (mach->bf16_native) {
            s->have[CTX_ONEDNN_BF16] = 1;
            s->ctx[CTX_ONEDNN_BF16] = ed_gemm_ctx_create(ED_GEMM_ONEDNN, ED_PREC_BF16, NULL, 0);
        }
        if (mach->fp16_native) {
            s->have[CTX_ONEDNN_FP16] = 1;
            s->ctx[CTX_ONEDNN_FP16] = ed_gemm_ctx_create(ED_GEMM_ONEDNN, ED_PREC_FP16, NULL, 0);
        }
    }
    /* The native half GEMMs multiply operands already in half precision: the GEMM alone,
     * the ceiling of a step whose own rounding of operands is part of its time. */
    for (int j = CTX_ONEDNN_BF16; j <= CTX_ONEDNN_FP16; j++) {
        if (!s->have[j]) continue;
        s->hA[j] = ed_malloc(maxa * ed_gemm_operand_bytes(s->ctx[j]));
        s->hB[j] = ed_malloc(maxb * ed_gemm_operand_bytes(s->ctx[j]));
        ed_gemm_prepare(s->ctx[j], s->hA[j], s->A, 1, (int)maxa, (int)maxa);
        ed_gemm_prepare(s->ctx[j], s->hB[j], s->B, 1, (int)maxb, (int)maxb);
    }
    for (int j = 0; j < N_GEMMS; j++) s->t[j] = ed_calloc((size_t)total, sizeof(double));
}

/* One step's worth of GEMMs on GEMM j; returns seconds. The raw sgemm runs every product
 * with OpenBLAS's own threads; the contexts run the Linear products on all threads and
 * the per-head ones spread over the threads, one product per thread, as the engine does. */
static double gemm_run(gemm_set *s, int j) {
    int nt = omp_get_max_threads();
    double t0 = ed_now();
    int saved = j == RAW_SGEMM ? 0 : ed_blas_serial_begin();
    const void *A = s->hA[j] ? s->hA[j] : (const void *)s->A, *B = s->hB[j] ? s->hB[j] : (const void *)s->B;
    int ready = s->hA[j] ? ED_GEMM_A_READY | ED_GEMM_B_READY : 0;
    if (j == RAW_SGEMM) openblas_set_num_threads(nt);
    for (int i = 0; i < s->k; i++) {
        const gemm_shape *q = &s->g[i];
        int lda = q->ta ? q->M : q->K, ldb = q->tb ? q->K : q->N;
        if (j == RAW_SGEMM) {
            for (int r = 0; r < q->reps; r++)
                cblas_sgemm(CblasRowMajor, q->ta ? CblasTrans : CblasNoTrans, q->tb ? CblasTrans : CblasNoTrans, q->M,
                            q->N, q->K, 1.0f, s->A, lda, s->B, ldb, 0.0f, s->C, q->N);
        } else if (q->per_head) {
            ed_gemm_ctx *g = s->ctx[j];
#pragma omp parallel for schedule(dynamic, 1)
            for (int r = 0; r < q->reps; r++)
                ed_gemm_ready(g, ready, q->ta, q->tb, q->M, q->N, q->K, 1.0f, A, lda, B, ldb, 0.0f,
                              s->C + (size_t)omp_get_thread_num() * s->maxc, q->N);
        } else {
            for (int r = 0; r < q->reps; r++)
                ed_gemm_ready(s->ctx[j], ready, q->ta, q->tb, q->M, q->N, q->K, 1.0f, A, lda, B, ldb, 0.0f, s->C,
                              q->N);
        }
    }
    if (j != RAW_SGEMM) ed_blas_serial_end(saved);
    return ed_now() - t0;
}

static void gemm_free(gemm_set *s) {
    free(s->A), free(s->B), free(s->C);
    for (int j = 0; j < N_GEMMS; j++) {
        ed_gemm_ctx_free(s->ctx[j]);
        free(s->t[j]), free(s->hA[j]), free(s->hB[j]);
    }
}

/* ---- 3. PyTorch peer ---- */
static int bench_torch(const bench_cfg *c, int threads, const char *python, const char *ref, int bf16,
                       double *tok_s, double *gflops) {
    char cmd[4096], g[32] = "";
    if (c->G) snprintf(g, sizeof g, " --G %d", c->G); /* llama_reference.py */
    snprintf(cmd, sizeof cmd,
             "%s %s bench --V %d --D %d --L %d --H %d --FF %d --T %d --B %d%s --threads %d --steps 5 --bf16 %d --budget 60",
             python, ref, c->V, c->D, c->L, c->H, c->FF, c->T, c->B, g, threads, bf16);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[512];
    int ok = -1;
    while (fgets(line, sizeof line, p)) {
        const char *a = strstr(line, "tok_s="), *b = strstr(line, "GFLOPS=");
        if (a && b && sscanf(a, "tok_s=%lf", tok_s) == 1 && sscanf(b, "GFLOPS=%lf", gflops) == 1) ok = 0;
    }
    if (pclose(p) != 0) ok = -1;
    return ok;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: ed-bench [--config small|llama-small|seed|all|NAME,NAME] [--threads N] [--steps N] [--recompute]\n"
            "                [--gemm auto|openblas|onednn] [--precision fp32|bf16|fp16|both|all]\n"
            "                (both = fp32 and bf16; all, the default, adds fp16)\n"
            "                [--python PATH] [--torch-ref PATH [--torch-llama PATH] | --no-torch]\n"
            "                [--engine-only]   (our steps alone, no GEMM sets or PyTorch: for perf record)\n"
            "                [--V n --D n --L n --H n --FF n --T n --B n]   (a custom config)\n");
}

int main(int argc, char **argv) {
    const char *which = "all", *python = "/usr/bin/python3", *ref = NULL, *ref_llama = NULL, *gemm_s = "auto",
               *prec_s = "all";
    int threads = 2, steps = 5, no_torch = 0, recompute = 0, engine_only = 0;
    bench_cfg custom = {"custom", 0, 0, 0, 0, 0, 0, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int *ip = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
        else if (!strcmp(a, "--no-torch")) { no_torch = 1; continue; }
        else if (!strcmp(a, "--recompute")) { recompute = 1; continue; }
        else if (!strcmp(a, "--engine-only")) { engine_only = no_torch = 1; continue; }
        else if (!v) { usage(stderr); return 2; }
        else if (!strcmp(a, "--config")) which = v;
        else if (!strcmp(a, "--python")) python = v;
        else if (!strcmp(a, "--torch-ref")) ref = v;
        else if (!strcmp(a, "--torch-llama")) ref_llama = v;
        else if (!strcmp(a, "--gemm")) gemm_s = v;
        else if (!strcmp(a, "--precision")) prec_s = v;
        else if (!strcmp(a, "--threads")) ip = &threads;
        else if (!strcmp(a, "--steps")) ip = &steps;
        else if (!strcmp(a, "--V")) ip = &custom.V;
        else if (!strcmp(a, "--D")) ip = &custom.D;
        else if (!strcmp(a, "--L")) ip = &custom.L;
        else if (!strcmp(a, "--H")) ip = &custom.H;
        else if (!strcmp(a, "--FF")) ip = &custom.FF;
        else if (!strcmp(a, "--T")) ip = &custom.T;
        else if (!strcmp(a, "--B")) ip = &custom.B;
        else { fprintf(stderr, "ed-bench: unknown option %s\n", a); usage(stderr); return 2; }
        if (ip && (sscanf(v, "%d", ip) != 1 || *ip < 1)) {
            fprintf(stderr, "ed-bench: %s needs a positive integer, got '%s'\n", a, v);
            return 2;
        }
        i++;
    }
    int want_i = ed_name_index(ed_gemm_backend_names, gemm_s);
    if (want_i < 0) {
        fprintf(stderr, "ed-bench: --gemm must be auto, openblas or onednn (got '%s')\n", gemm_s);
        return 2;
    }
    ed_gemm_backend want = (ed_gemm_backend)want_i;
    /* do_p[p] by ed_precision: which precisions get a row */
    int all = !strcmp(prec_s, "all"), both = !strcmp(prec_s, "both");
    int do_p[3] = {all || both || !strcmp(prec_s, "fp32"), all || both || !strcmp(prec_s, "bf16"),
                   all || !strcmp(prec_s, "fp16")};
    int do32 = do_p[ED_PREC_FP32];
    if (!do_p[0] && !do_p[1] && !do_p[2]) {
        fprintf(stderr, "ed-bench: --precision must be fp32, bf16, fp16, both or all (got '%s')\n", prec_s);
        return 2;
    }
    if (recompute && !do32) {
        fprintf(stderr, "ed-bench: --recompute compares with the fp32 step: use --precision fp32 or both\n");
        return 2;
    }
    if (!ref) no_torch = 1;
    setvbuf(stdout, NULL, _IOLBF, 0); /* rows appear as they are measured, even into a file */
    ed_set_threads(threads);
    ed_machine mach;
    ed_machine_probe(&mach);
    ed_gemm_backend bk[3];
    for (int p = 0; p < 3; p++) bk[p] = ed_gemm_backend_resolve(want, (ed_precision)p, &mach);
    ed_gemm_backend b32 = bk[ED_PREC_FP32];
    if ((bk[0] == ED_GEMM_ONEDNN || bk[1] == ED_GEMM_ONEDNN || bk[2] == ED_GEMM_ONEDNN) && !mach.have_onednn) {
        fprintf(stderr, "ed-bench: this build has no oneDNN\n");
        return 2;
    }
    const bench_cfg *list[3];
    int nl = 0;
    if (custom.V) {
        if (!custom.D || !custom.L || !custom.H || !custom.FF || !custom.T || !custom.B) {
            fprintf(stderr, "ed-bench: a custom config needs all of --V --D --L --H --FF --T --B\n");
            return 2;
        }
        list[nl++] = &custom;
    } else {
        for (size_t i = 0; i < sizeof PRESETS / sizeof *PRESETS; i++)
            if (selected(which, PRESETS[i].name)) list[nl++] = &PRESETS[i];
        if (!nl) { fprintf(stderr, "ed-bench: unknown config '%s'\n", which); return 2; }
    }
    char cpu[512], emsg[256];
    if (ed_isa_init(emsg, sizeof emsg) != 0) {
        fprintf(stderr, "ed-bench: %s\n", emsg);
        return 2;
    }
    ed_machine_cpu_line(&mach, cpu, sizeof cpu);
    char desc[256];
    ed_machine_describe(&mach, desc, sizeof desc);
    printf("# cpu: %s\n# %s; gemm fp32 %s, bf16 %s, fp16 %s%s\n", cpu, desc, ed_gemm_backend_names[bk[0]],
           ed_gemm_backend_names[bk[1]], ed_gemm_backend_names[bk[2]],
           want == ED_GEMM_AUTO ? " (auto's guess: train measures instead, see scripts/bench_gemm.sh)" : "");
    char warn[320];
    if ((bk[0] == ED_GEMM_OPENBLAS || bk[1] == ED_GEMM_OPENBLAS || bk[2] == ED_GEMM_OPENBLAS) &&
        ed_machine_blas_warning(&mach, warn, sizeof warn))
        printf("# %s\n", warn);
    printf("# threads=%d, median of %d steps after 2 warm-ups; our steps and the GEMM sets interleaved;\n"
           "# PyTorch (median of 5, or of what fits 60 s; bf16 = torch.autocast('cpu', bfloat16); no fp16 peer: torch 1.13 "
           "has no CPU fp16 autocast) run before and after, averaged (once if it took > 3 min)\n",
           threads, steps);
    printf("%-11s %4s %-8s %9s %8s %7s %7s %7s %7s %8s %8s %-14s %6s %5s %9s %8s %6s\n", "config", "prec", "gemm",
           "params", "tok/s", "GFLOPS", "fwd_s", "bwd_s", "opt_s", "act_MiB", "bestGF", "(best of)", "ours%", "cpuE",
           "torch_t/s", "torchGF", "x");
    for (int i = 0; i < nl; i++) {
        const bench_cfg *c = list[i];
        const char *cref = c->G ? ref_llama : ref; /* the PyTorch model of this row */
        int row_torch = !no_torch && cref;
        /* PyTorch runs in its own process, so it cannot be interleaved step by step:
         * it runs once before and once after our measurement and the two are averaged,
         * which cancels a steady drift in the machine's load. */
        /* index p = ed_precision: fp32, bf16, fp16; PyTorch runs fp32 and bf16 only */
        double pt[3][2] = {{0}}, pg[3][2] = {{0}};
        int have_torch[3] = {0, 0, 0};
        double torch_wall[3] = {0, 0, 0};
        for (int p = 0; p < 2; p++)
            if (row_torch && do_p[p]) {
                double t0 = ed_now();
                have_torch[p] = bench_torch(c, threads, python, cref, p, &pt[p][0], &pg[p][0]) == 0;
                torch_wall[p] = ed_now() - t0;
            }
        int total = steps + 2;
        engine ep[3], er;
        engine *e32 = &ep[ED_PREC_FP32];
        for (int p = 0; p < 3; p++)
            if (do_p[p]) engine_init(&ep[p], c, 0, bk[p], (ed_precision)p, total);
        if (recompute) engine_init(&er, c, 1, b32, ED_PREC_FP32, total);
        gemm_set gs;
        gemm_init(&gs, c, &mach, total);
        for (int s = 0; s < total; s++) {
            for (int p = 0; p < 3; p++)
                if (do_p[p]) engine_step(&ep[p], c, s);
            if (recompute) engine_step(&er, c, s);
            for (int j = 0; j < N_GEMMS && !engine_only; j++)
                if (gs.have[j]) gs.t[j][s] = gemm_run(&gs, j);
        }
        double rate[N_GEMMS] = {0};
        for (int j = 0; j < N_GEMMS; j++)
            if (gs.have[j] && !engine_only) rate[j] = gs.flops / median(gs.t[j] + 2, steps) / 1e9;
        printf("# %s GEMMs at the step's shapes (GFLOPS):", c->name);
        for (int j = 0; j < N_GEMMS; j++)
            if (gs.have[j]) printf(" %s %.1f", GEMM_NAMES[j], rate[j]);
        printf("%s%s\n", gs.have[CTX_ONEDNN_BF16] ? "" : " (no native bf16 GEMM on this CPU)",
               gs.have[CTX_ONEDNN_FP16] ? "" : " (no native fp16 GEMM on this CPU)");
        int best32 = RAW_SGEMM;
        for (int j = RAW_SGEMM; j <= CTX_ONEDNN_SPLIT; j++)
            if (gs.have[j] && rate[j] > rate[best32]) best32 = j;
        /* a half precision's ceiling: its native GEMM where faster, else the best fp32 one */
        int best_p[3] = {best32, best32, best32};
        const int native_gemm[3] = {-1, CTX_ONEDNN_BF16, CTX_ONEDNN_FP16};
        for (int p = 1; p < 3; p++)
            if (gs.have[native_gemm[p]] && rate[native_gemm[p]] > rate[best32]) best_p[p] = native_gemm[p];
        /* a PyTorch mode that took minutes (autocast-bf16 without bf16 instructions) is
         * not run a second time: its rate is far from ours, a drift would not change that */
        for (int p = 0; p < 2; p++) {
            if (!have_torch[p]) continue;
            if (torch_wall[p] > 180) {
                pt[p][1] = pt[p][0], pg[p][1] = pg[p][0];
                continue;
            }
            have_torch[p] = bench_torch(c, threads, python, cref, p, &pt[p][1], &pg[p][1]) == 0;
        }
        double tokens = (double)c->B * c->T, tok32 = 0;
        ed_model_config mc = model_config(c);
        size_t act = ed_gpt_activation_bytes(&mc, c->B, c->T, 0);
        for (int p = 0; p < 3; p++) {
            if (!do_p[p]) continue;
            engine *e = &ep[p];
            double dt = median(e->t + 2, steps);
            double eff = ed_flops_per_token(&mc, e->n, c->T) * tokens;
            double gf = eff / dt / 1e9;
            int best = best_p[p];
            if (!p) tok32 = tokens / dt;
            char bestname[32];
            snprintf(bestname, sizeof bestname, "(%s)", GEMM_NAMES[best]);
            printf("%-11s %4s %-8s %9zu %8.1f %7.1f %7.3f %7.3f %7.3f %8.0f %8.1f %-14s %5.1f%% %4.0f%%", c->name,
                   ed_precision_names[p], ed_gemm_backend_names[e->gemm], e->n, tokens / dt, gf,
                   median(e->f + 2, steps), median(e->b + 2, steps), median(e->op + 2, steps),
                   (double)ed_gpt_model_activation_bytes(e->m, c->B, c->T) / 1048576.0, rate[best], bestname, rate[best] > 0 ? 100.0 * gf / rate[best] : 0.0,
                   100.0 * e->cpu / (e->wall * threads));
            double tp = 0.5 * (pt[p][0] + pt[p][1]), tg = 0.5 * (pg[p][0] + pg[p][1]);
            if (have_torch[p])
                printf(" %9.1f %8.1f %5.2fx", tp, tg, (tokens / dt) / tp);
            else
                printf(" %9s %8s %6s", "-", "-", "-");
            if (p && do32)
                printf("  %s/fp32 %.2fx%s", ed_precision_names[p], (tokens / dt) / tok32,
                       ed_gpt_half_native(e->m) ? "" : " (emulated)");
            printf("\n");
        }
        if (recompute) {
            double dt = median(e32->t + 2, steps), r_t = median(er.t + 2, steps);
            double eff = ed_flops_per_token(&mc, er.n, c->T) * tokens;
            double rgf = eff / r_t / 1e9; /* effective: the recomputed forward is not counted */
            size_t r_act = ed_gpt_activation_bytes(&mc, c->B, c->T, 1);
            char name[32];
            snprintf(name, sizeof name, "%s+rc", c->name);
            printf("%-11s %4s %-8s %9zu %8.1f %7.1f %7.3f %7.3f %7.3f %8.0f %8.1f %-14s %5.1f%% %4.0f%%  rc_time %+.1f%%, "
                   "act %.2fx smaller\n",
                   name, "fp32", ed_gemm_backend_names[er.gemm], er.n, tokens / r_t, rgf, median(er.f + 2, steps),
                   median(er.b + 2, steps), median(er.op + 2, steps), (double)r_act / 1048576.0, rate[best32],
                   "", 100.0 * rgf / rate[best32], 100.0 * er.cpu / (er.wall * threads), 100.0 * (r_t / dt - 1.0),
                   (double)act / (double)r_act);
            engine_free(&er);
        }
        for (int p = 0; p < 3; p++)
            if (do_p[p]) engine_free(&ep[p]);
        gemm_free(&gs);
        fflush(stdout);
    }
    return 0;
}
