/* gemm_probe.c — `--gemm auto`'s measurement (ed_gpt_gemm_compare, expert/gpt.h): how
 * fast each GEMM backend of this build runs the products a command will run, in tens of
 * milliseconds.
 *
 * Where the time of the previous probe went (2-core Zen 4): nearly all of it in the
 * products' arithmetic. It timed every Linear and head product of a step at the step's
 * shapes with the rows capped at 256, a warm-up round and 3+ timed rounds: 0.1-0.5 s
 * idle, three quarters of it in the tied head's products (V = 10000 wide); first-touching
 * its V-wide operands cost 20-70 ms more; creating the backends (0.2 ms) and a oneDNN
 * primitive (0.1-0.5 ms per shape, paid by its first call) little. On a loaded machine
 * it took 0.7-3 s and its figures were noise: a 2-thread product of 0.2 ms there often
 * waits 4-20 ms (scheduler slices) for its second thread to be scheduled. So:
 *   - each DISTINCT product (transposes, M, N, K) is timed, with a weight: the FLOPs the
 *     workload spends in the products it stands for per row (a Linear layer's product
 *     counts L times; the head once), so the figure is that of the workload's mix;
 *   - a probe product keeps the workload's transposes and shapes but at most PROBE_ROWS
 *     rows and PROBE_WIDE wide (the vocabulary, a wide MLP): large enough to run the
 *     same kernels as the real ones, small enough to take 0.1-0.5 ms (at 1024 the seed
 *     preset's probe took 3-5x longer for the same picks);
 *   - every OpenMP thread multiplies its own copy of each product at once, single-
 *     threaded (as the engine's OpenBLAS slabs are, and as oneDNN runs inside a region):
 *     every core is busy as in a step, and no call waits for another thread, so a call
 *     the scheduler interrupts is one slow sample of one thread, which min-of-k
 *     discards. A product counts at its slowest thread's best (a pass waits for its
 *     slowest thread). The backends' own threading of one product is not timed;
 *   - min-of-k, interleaved (backend A, backend B, B, A ... on the same operands, so a
 *     burst of load hits both): MIN_SAMPLES calls per backend, more only until each
 *     backend's best call is confirmed by a second one (settled(): a first call pays the
 *     oneDNN primitive and the cache warm-up) or one backend is clearly behind, at most
 *     MAX_SAMPLES, and MIN_SAMPLES once BUDGET is spent;
 *   - one set of inputs for all products, sized for the largest, filled once.
 * Each backend's figure: threads x the workload's per-row FLOPs over its estimated time
 * (the sum over products of weight x seconds / probe FLOPs). */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "expert/common.h"
#include "gpt_internal.h"
#include "layers.h"

const char *const ed_gemm_work_names[] = {"train", "forward", "decode", NULL};

enum {
    PROBE_ROWS = 128,  /* rows of a probe product at most (a step has thousands) */
    PROBE_WIDE = 512,  /* columns / inner width at most (V = 10000, FF = 2048 ...) */
    MAX_SHAPES = 32,
    MIN_SAMPLES = 2,  /* calls per backend and product at least ... */
    MAX_SAMPLES = 8,  /* ... and at most */
};
#define STEADY 1.15 /* a best call confirmed by a second one within 15% */
#define CLEAR 1.3   /* a backend this much slower than another at a product: settled */
#define BUDGET 0.5  /* seconds: past it (a loaded machine), MIN_SAMPLES calls per product */

typedef struct {
    int ta, tb, M, N, K;
    double weight; /* FLOPs per row of the workload these products stand for */
} probe_shape;

typedef struct {
    probe_shape s[MAX_SHAPES];
    int n;
} probe_set;

static int cap(int x, int c) { return x < c ? x : c; }

/* Adds one product (real widths N, K; M probe rows), merged with an equal one. */
static void add(probe_set *ps, int ta, int tb, int M, int N, int K, double weight) {
    probe_shape s = {ta, tb, M, cap(N, PROBE_WIDE), cap(K, PROBE_WIDE), weight};
    if (ta) s.M = cap(M, PROBE_WIDE); /* a weight gradient: M is a width, K the rows */
    for (int i = 0; i < ps->n; i++) {
        probe_shape *o = &ps->s[i];
        if (o->ta == s.ta && o->tb == s.tb && o->M == s.M && o->N == s.N && o->K == s.K) {
            o->weight += weight;
            return;
        }
    }
    ED_CHECK(ps->n < MAX_SHAPES, "gemm probe: more than %d products", MAX_SHAPES);
    ps->s[ps->n++] = s;
}

/* The Linear layers of a block (in, out) and the head (D -> V) at R rows: the products
 * of work w. */
static void probe_shapes(const ed_model_config *c, ed_gemm_work w, int rows, probe_set *ps) {
    const int D = c->d_model, V = c->vocab_size, L = c->n_layers;
    const int lin[4][2] = {{D, gpt_qkv_width(c)}, {D, D}, {D, gpt_mlp_width(c)}, {c->d_ff, D}};
    int R = cap(rows < 1 ? 1 : rows, PROBE_ROWS);
    ps->n = 0;
    if (w == ED_GEMM_WORK_DECODE) {
        /* a new token is one row; a prompt goes through in chunks of GPT_KV_ROWS rows
         * (decode.c): weighted alike, as if prompts were as long as what is generated.
         * The head runs on the last row only. */
        for (int i = 0; i < 4; i++) {
            double f = 2.0 * L * lin[i][0] * lin[i][1];
            add(ps, 0, 1, 1, lin[i][1], lin[i][0], f);
            add(ps, 0, 1, GPT_KV_ROWS, lin[i][1], lin[i][0], f);
        }
        add(ps, 0, 1, 1, V, D, 2.0 * V * D);
        return;
    }
    for (int i = 0; i < 4; i++) {
        int C = lin[i][0], OC = lin[i][1];
        double f = 2.0 * L * C * OC;
        add(ps, 0, 1, R, OC, C, f); /* out = x w^T */
        if (w == ED_GEMM_WORK_TRAIN) {
            add(ps, 0, 0, R, C, OC, f); /* dx = dy w */
            add(ps, 1, 0, OC, C, R, f); /* dw = dy^T x */
        }
    }
    /* the tied head, in chunks of ED_CE_CHUNK rows as the engine runs it */
    int H = cap(R, ED_CE_CHUNK);
    double f = 2.0 * V * D;
    add(ps, 0, 1, H, V, D, f);
    if (w == ED_GEMM_WORK_TRAIN) {
        add(ps, 0, 0, H, D, V, f);
        add(ps, 1, 0, V, D, H, f);
    }
}

int ed_gpt_gemm_compare_rows(ed_gemm_work w, int rows) {
    if (w == ED_GEMM_WORK_DECODE) return GPT_KV_ROWS;
    return cap(rows < 1 ? 1 : rows, PROBE_ROWS);
}

/* A backend's two fastest calls of a product so far. */
typedef struct {
    double best, second;
} probe_min;

/* Enough calls of a product: every backend's best confirmed by a second call within
 * STEADY of it (a call that waited for a core, or paid a first call's warm-up, is slower
 * and discarded), or one backend, confirmed, slower than CLEAR times another's best so
 * far (which more calls can only lower). */
static int settled(ed_gemm_ctx *const g[ED_GEMM_N], const probe_min t[ED_GEMM_N]) {
    int all = 1;
    for (int b = 0; b < ED_GEMM_N; b++)
        if (g[b] && t[b].second > STEADY * t[b].best) all = 0;
    if (all) return 1;
    for (int b = 0; b < ED_GEMM_N; b++)
        for (int o = 0; o < ED_GEMM_N; o++)
            if (g[b] && g[o] && o != b && t[b].second <= STEADY * t[b].best && t[b].best > CLEAR * t[o].best) return 1;
    return 0;
}

/* Seconds of one call of product s on g. */
static double time_one(ed_gemm_ctx *g, const probe_shape *s, const float *A, const float *B, float *C) {
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    double t0 = ed_now();
    ed_gemm(g, s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, s->N);
    return ed_now() - t0;
}

void ed_gpt_gemm_compare(const ed_gpt *m, ed_gemm_work w, int rows, ed_precision p, ed_gemm_comparison *out) {
    double t_start = ed_now();
    memset(out, 0, sizeof *out);
    probe_set ps;
    probe_shapes(&m->cfg, w, rows, &ps);
    ed_gemm_ctx *g[ED_GEMM_N] = {0};
    int nb = 0;
    for (int b = ED_GEMM_OPENBLAS; b < ED_GEMM_N; b++)
        if ((g[b] = ed_gemm_ctx_create((ed_gemm_backend)b, p, NULL, 0))) {
            ed_gemm_ctx_set_shapes(g[b], ed_gemm_ctx_shapes(m->gemm)); /* what the run will execute */
            nb++;
        }
    /* one set of inputs for every product (read by every thread) and one output per
     * thread: values stay put (beta 0), so nothing drifts into denormals; C is touched
     * now, not inside the first timed call */
    size_t na = 0, nbf = 0, nc = 0;
    for (int i = 0; i < ps.n; i++) {
        const probe_shape *s = &ps.s[i];
        size_t a = (size_t)s->M * s->K, bb = (size_t)s->K * s->N, c = (size_t)s->M * s->N;
        na = a > na ? a : na, nbf = bb > nbf ? bb : nbf, nc = c > nc ? c : nc;
    }
    float *A = ed_alloc_floats(na), *B = ed_alloc_floats(nbf);
    for (size_t i = 0; i < na; i++) A[i] = 0.001f * (float)(i & 63);
    for (size_t i = 0; i < nbf; i++) B[i] = 0.002f * (float)(i & 31);
    int nt = omp_get_max_threads();
    float *C = ed_alloc_floats(nc * (size_t)nt);
    memset(C, 0, nc * (size_t)nt * sizeof *C);
    double *best = ed_calloc((size_t)nt * ps.n * ED_GEMM_N, sizeof *best); /* [thread][product][backend] */
    int calls = 0;
    int saved = ed_blas_serial_begin();
#pragma omp parallel num_threads(nt) reduction(+ : calls)
    {
        int tid = omp_get_thread_num();
        float *Ct = C + nc * (size_t)tid;
        for (int i = 0; i < ps.n; i++) {
            const probe_shape *s = &ps.s[i];
            probe_min t[ED_GEMM_N];
            for (int k = 0; k < MAX_SAMPLES; k++) {
                /* alternate which backend goes first: neither always finds the caches warm */
                for (int j = 0; j < ED_GEMM_N; j++) {
                    int b = k & 1 ? ED_GEMM_N - 1 - j : j;
                    if (!g[b]) continue;
                    double dt = time_one(g[b], s, A, B, Ct);
                    if (k == 0) t[b].best = dt, t[b].second = 1e300;
                    else if (dt < t[b].best) t[b].second = t[b].best, t[b].best = dt;
                    else if (dt < t[b].second) t[b].second = dt;
                    calls++;
                }
                if (k + 1 >= MIN_SAMPLES && (nb < 2 || settled(g, t) || ed_now() - t_start > BUDGET)) break;
            }
            for (int b = 0; b < ED_GEMM_N; b++) best[((size_t)tid * ps.n + i) * ED_GEMM_N + b] = g[b] ? t[b].best : 0.0;
        }
    }
    ed_blas_serial_end(saved);
    /* each product at its slowest thread's best: a pass waits for its slowest thread */
    double est[ED_GEMM_N] = {0}, weight = 0.0;
    for (int i = 0; i < ps.n; i++) {
        const probe_shape *s = &ps.s[i];
        double flops = 2.0 * s->M * (double)s->N * s->K;
        for (int b = 0; b < ED_GEMM_N; b++) {
            double slowest = 0.0;
            for (int tid = 0; tid < nt; tid++) {
                double x = best[((size_t)tid * ps.n + i) * ED_GEMM_N + b];
                slowest = x > slowest ? x : slowest;
            }
            est[b] += s->weight * slowest / flops;
        }
        weight += s->weight;
    }
    for (int b = 0; b < ED_GEMM_N; b++) {
        out->gflops[b] = g[b] && est[b] > 0 ? nt * weight / est[b] / 1e9 : 0.0;
        ed_gemm_ctx_free(g[b]);
    }
    free(A), free(B), free(C), free(best);
    out->calls = calls;
    out->products = ps.n;
    out->seconds = ed_now() - t_start;
}
