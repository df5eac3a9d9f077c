/* bench_engine.c — speed of the engine's training step against two yardsticks, in one run:
 *   1. our step: forward + backward + clip + AdamW, median over --steps after 2 warm-ups;
 *      tokens/s and effective GFLOPS = (6*params + 12*L*T*D) * tokens / time;
 *   2. raw cblas_sgemm on the GEMM shapes of that step (every Linear forward and both
 *      backward products, the tied head, attention QK^T/AV and their backward per (b,h)
 *      at full T x T), timed the same way: the honest ceiling on this machine;
 *   3. PyTorch on the same config and thread count (tests/reference/gpt.py bench), run
 *      before and after 1+2 and averaged.
 * With --recompute a second engine with activation recomputation runs interleaved with
 * the first, and a row "<config>+rc" shows its speed, its activation memory and its
 * time over the plain step ("rc_time" = extra time in %, from the same run).
 * Prints one table row per config. Not a test (no thresholds): see scripts/bench.sh.
 * cpuE / cpuG: CPU time our step / the sgemm set actually got, as a fraction of
 * wall time x threads; well below 100% means other jobs were sharing the cores. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expert/common.h"
#include "expert/gpt.h"
#include "expert/isa.h"
#include "expert/optim.h"

typedef struct {
    const char *name;
    int V, D, L, H, FF, T, B;
} bench_cfg;

static const bench_cfg PRESETS[] = {
    {"small", 8192, 256, 4, 4, 1024, 256, 8},
    {"seed", 10000, 512, 8, 8, 2048, 512, 8},
};

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
} engine;

static void engine_init(engine *e, const bench_cfg *c, int recompute) {
    ed_model_config mc = {.vocab_size = c->V, .d_model = c->D, .n_layers = c->L,
                          .n_heads = c->H, .d_ff = c->FF, .max_seq_len = c->T};
    char msg[128];
    e->m = ed_gpt_create(&mc, 0, msg, sizeof msg);
    if (!e->m) ED_DIE("config %s: %s", c->name, msg);
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
}

/* One training step; phase times in t[0..2] (forward, backward, clip + AdamW). */
static void engine_step(engine *e, const bench_cfg *c, double t[3]) {
    double t0 = ed_now(), loss;
    long cnt;
    ed_gpt_zero_grad(e->m);
    ed_gpt_forward(e->m, e->x, e->y, c->B, c->T, 0.0f, 0, NULL, &loss, &cnt);
    double t1 = ed_now();
    ed_gpt_backward(e->m, 1.0f / (float)cnt, NULL, NULL);
    double t2 = ed_now();
    float f = ed_clip_factor(sqrt(ed_sumsq(ed_gpt_grads(e->m), e->n)), 1.0f);
    if (f < 1.0f) ed_scale(ed_gpt_grads(e->m), e->n, f);
    ed_optim_step(&e->o, ed_gpt_params(e->m), ed_gpt_grads(e->m), ed_gpt_tensors(e->m),
                  ed_gpt_num_tensors(e->m), 5e-4f);
    double t3 = ed_now();
    if (!isfinite(loss)) ED_DIE("non-finite loss in the benchmark");
    t[0] = t1 - t0, t[1] = t2 - t1, t[2] = t3 - t2;
}

static void engine_free(engine *e) {
    free(e->x), free(e->y);
    ed_optim_free(&e->o);
    ed_gpt_free(e->m);
}

/* ---- 2. raw sgemm at the step's shapes ---- */
typedef struct {
    CBLAS_TRANSPOSE ta, tb;
    int M, N, K, reps;
} gemm_shape;

typedef struct {
    gemm_shape g[24];
    int k;
    double flops;
    float *A, *B, *C;
} gemm_set;

static int add_linear(gemm_shape *g, int k, int N, int C, int OC, int reps) {
    g[k++] = (gemm_shape){CblasNoTrans, CblasTrans, N, OC, C, reps};   /* out = inp w^T */
    g[k++] = (gemm_shape){CblasNoTrans, CblasNoTrans, N, C, OC, reps}; /* dinp = dout w */
    g[k++] = (gemm_shape){CblasTrans, CblasNoTrans, OC, C, N, reps};   /* dw = dout^T inp */
    return k;
}

static void gemm_init(gemm_set *s, const bench_cfg *c) {
    int N = c->B * c->T, D = c->D, hd = c->D / c->H, T = c->T, k = 0, L = c->L;
    gemm_shape *g = s->g;
    k = add_linear(g, k, N, D, 3 * D, L);
    k = add_linear(g, k, N, D, D, L);
    k = add_linear(g, k, N, D, c->FF, L);
    k = add_linear(g, k, N, c->FF, D, L);
    k = add_linear(g, k, N, D, c->V, 1); /* tied head: logits, dlnf, dwte */
    int bh = c->B * c->H * L;
    g[k++] = (gemm_shape){CblasNoTrans, CblasTrans, T, T, hd, bh};   /* S = Q K^T */
    g[k++] = (gemm_shape){CblasNoTrans, CblasNoTrans, T, hd, T, bh}; /* Y = P V */
    g[k++] = (gemm_shape){CblasTrans, CblasNoTrans, T, hd, T, bh};   /* dV = P^T dY */
    g[k++] = (gemm_shape){CblasNoTrans, CblasTrans, T, T, hd, bh};   /* dP = dY V^T */
    g[k++] = (gemm_shape){CblasNoTrans, CblasNoTrans, T, hd, T, bh}; /* dQ = dS K */
    g[k++] = (gemm_shape){CblasTrans, CblasNoTrans, T, hd, T, bh};   /* dK = dS^T Q */
    s->k = k;
    size_t maxa = 0, maxb = 0, maxc = 0;
    s->flops = 0.0;
    for (int i = 0; i < k; i++) {
        size_t a = (size_t)g[i].M * g[i].K, b = (size_t)g[i].K * g[i].N, cc = (size_t)g[i].M * g[i].N;
        maxa = a > maxa ? a : maxa, maxb = b > maxb ? b : maxb, maxc = cc > maxc ? cc : maxc;
        s->flops += 2.0 * g[i].M * g[i].N * (double)g[i].K * g[i].reps;
    }
    s->A = ed_alloc_floats(maxa), s->B = ed_alloc_floats(maxb), s->C = ed_alloc_floats(maxc);
    for (size_t i = 0; i < maxa; i++) s->A[i] = 0.001f * (float)(i % 97);
    for (size_t i = 0; i < maxb; i++) s->B[i] = 0.001f * (float)(i % 89);
    memset(s->C, 0, maxc * sizeof(float));
}

/* One step's worth of GEMMs; returns seconds. */
static double gemm_run(gemm_set *s) {
    double t0 = ed_now();
    for (int i = 0; i < s->k; i++) {
        const gemm_shape *q = &s->g[i];
        int lda = q->ta == CblasNoTrans ? q->K : q->M, ldb = q->tb == CblasNoTrans ? q->N : q->K;
        for (int r = 0; r < q->reps; r++)
            cblas_sgemm(CblasRowMajor, q->ta, q->tb, q->M, q->N, q->K, 1.0f, s->A, lda, s->B, ldb,
                        0.0f, s->C, q->N);
    }
    return ed_now() - t0;
}

static void gemm_free(gemm_set *s) { free(s->A), free(s->B), free(s->C); }

/* ---- 3. PyTorch peer ---- */
static int bench_torch(const bench_cfg *c, int threads, const char *python, const char *ref,
                       double *tok_s, double *gflops) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "%s %s bench --V %d --D %d --L %d --H %d --FF %d --T %d --B %d --threads %d --steps 5",
             python, ref, c->V, c->D, c->L, c->H, c->FF, c->T, c->B, threads);
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
            "usage: ed-bench [--config small|seed|all] [--threads N] [--steps N] [--recompute]\n"
            "                [--python PATH] [--torch-ref PATH | --no-torch]\n"
            "                [--V n --D n --L n --H n --FF n --T n --B n]   (a custom config)\n");
}

int main(int argc, char **argv) {
    const char *which = "all", *python = "/usr/bin/python3", *ref = NULL;
    int threads = 2, steps = 5, no_torch = 0, recompute = 0;
    bench_cfg custom = {"custom", 0, 0, 0, 0, 0, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int *ip = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 0;
        else if (!strcmp(a, "--no-torch")) { no_torch = 1; continue; }
        else if (!strcmp(a, "--recompute")) { recompute = 1; continue; }
        else if (!v) { usage(stderr); return 2; }
        else if (!strcmp(a, "--config")) which = v;
        else if (!strcmp(a, "--python")) python = v;
        else if (!strcmp(a, "--torch-ref")) ref = v;
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
    if (!ref) no_torch = 1;
    ed_set_threads(threads);
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
            if (!strcmp(which, "all") || !strcmp(which, PRESETS[i].name)) list[nl++] = &PRESETS[i];
        if (!nl) { fprintf(stderr, "ed-bench: unknown config '%s'\n", which); return 2; }
    }
    char cpu[128], isa[160], emsg[256];
    if (ed_isa_init(emsg, sizeof emsg) != 0) {
        fprintf(stderr, "ed-bench: %s\n", emsg);
        return 2;
    }
    ed_cpu_model(cpu, sizeof cpu);
    ed_isa_describe(isa, sizeof isa);
    printf("# cpu: %s; kernels: %s; gemm: OpenBLAS %s\n", cpu, isa, openblas_get_corename());
    printf("# threads=%d, median of %d steps after 2 warm-ups; our step and raw sgemm interleaved;\n"
           "# PyTorch (median of 5) run before and after, averaged\n", threads, steps);
    printf("%-7s %9s %8s %7s %7s %7s %7s %8s %8s %6s %5s %5s %9s %8s %6s %6s\n", "config", "params",
           "tok/s", "GFLOPS", "fwd_s", "bwd_s", "opt_s", "act_MiB", "sgemmGF", "ours%", "cpuE", "cpuG",
           "torch_t/s", "torchGF", "torch%", "x");
    for (int i = 0; i < nl; i++) {
        const bench_cfg *c = list[i];
        /* PyTorch runs in its own process, so it cannot be interleaved step by step:
         * it runs once before and once after our measurement and the two are averaged,
         * which cancels a steady drift in the machine's load. */
        double pt0 = 0, pg0 = 0, pt1 = 0, pg1 = 0;
        int have_torch = !no_torch && bench_torch(c, threads, python, ref, &pt0, &pg0) == 0;
        engine e, er;
        gemm_set gs;
        engine_init(&e, c, 0);
        if (recompute) engine_init(&er, c, 1);
        gemm_init(&gs, c);
        int total = steps + 2;
        double *ts = ed_malloc((size_t)total * 9 * sizeof *ts);
        double *tt = ts, *tf = ts + total, *tb = ts + 2 * total, *to = ts + 3 * total, *tg = ts + 4 * total;
        double *rt = ts + 5 * total, *rf = ts + 6 * total, *rb = ts + 7 * total, *ro = ts + 8 * total;
        double cpu_e = 0, wall_e = 0, cpu_g = 0, wall_g = 0, cpu_r = 0, wall_r = 0;
        for (int s = 0; s < total; s++) {
            double ph[3], c0 = cpu_now();
            engine_step(&e, c, ph);
            double c1 = cpu_now();
            tf[s] = ph[0], tb[s] = ph[1], to[s] = ph[2], tt[s] = ph[0] + ph[1] + ph[2];
            tg[s] = gemm_run(&gs);
            double c2 = cpu_now();
            if (s >= 2) cpu_e += c1 - c0, wall_e += tt[s], cpu_g += c2 - c1, wall_g += tg[s];
            if (recompute) {
                engine_step(&er, c, ph);
                rf[s] = ph[0], rb[s] = ph[1], ro[s] = ph[2], rt[s] = ph[0] + ph[1] + ph[2];
                if (s >= 2) cpu_r += cpu_now() - c2, wall_r += rt[s];
            }
        }
        double dt = median(tt + 2, steps), gt = median(tg + 2, steps);
        double tokens = (double)c->B * c->T;
        double eff = (6.0 * (double)e.n + 12.0 * c->L * (double)c->T * c->D) * tokens;
        double gf = eff / dt / 1e9, sg = gs.flops / gt / 1e9;
        ed_model_config mc = *ed_gpt_config(e.m);
        size_t act = ed_gpt_activation_bytes(&mc, c->B, c->T, 0);
        size_t np = e.n;
        double f_s = median(tf + 2, steps), b_s = median(tb + 2, steps), o_s = median(to + 2, steps);
        double r_t = 0, r_f = 0, r_b = 0, r_o = 0;
        size_t r_act = 0;
        if (recompute) {
            r_t = median(rt + 2, steps), r_f = median(rf + 2, steps), r_b = median(rb + 2, steps);
            r_o = median(ro + 2, steps);
            r_act = ed_gpt_activation_bytes(&mc, c->B, c->T, 1);
            engine_free(&er);
        }
        engine_free(&e);
        gemm_free(&gs);
        free(ts);
        if (have_torch) have_torch = bench_torch(c, threads, python, ref, &pt1, &pg1) == 0;
        double pt = 0.5 * (pt0 + pt1), pg = 0.5 * (pg0 + pg1);
        printf("%-7s %9zu %8.1f %7.1f %7.3f %7.3f %7.3f %8.0f %8.1f %5.1f%% %4.0f%% %4.0f%%", c->name,
               np, tokens / dt, gf, f_s, b_s, o_s, (double)act / 1048576.0, sg, 100.0 * gf / sg,
               100.0 * cpu_e / (wall_e * threads), 100.0 * cpu_g / (wall_g * threads));
        if (have_torch)
            printf(" %9.1f %8.1f %5.1f%% %5.2fx\n", pt, pg, 100.0 * pg / sg, (tokens / dt) / pt);
        else
            printf(" %9s %8s %6s %6s\n", "-", "-", "-", "-");
        if (recompute) {
            double rgf = eff / r_t / 1e9; /* effective: the recomputed forward is not counted */
            char name[32];
            snprintf(name, sizeof name, "%s+rc", c->name);
            printf("%-7s %9zu %8.1f %7.1f %7.3f %7.3f %7.3f %8.0f %8.1f %5.1f%% %4.0f%% %4s  rc_time %+.1f%%, "
                   "act %.2fx smaller\n",
                   name, np, tokens / r_t, rgf, r_f, r_b, r_o, (double)r_act / 1048576.0, sg, 100.0 * rgf / sg,
                   100.0 * cpu_r / (wall_r * threads), "-", 100.0 * (r_t / dt - 1.0), (double)act / (double)r_act);
        }
        fflush(stdout);
    }
    return 0;
}
