/* gemm_peak.c — the MFU reference: how fast one core of this CPU multiplies with a given
 * backend and precision when every core is busy (expert/compute.h, ed_gemm_peak_gflops).
 *
 * Why per core, all cores at once? A training rank runs its GEMMs on its threads while
 * every other core of the node does the same, so a core's rate under full load (shared
 * caches, memory bandwidth, all-core clock) is the ceiling a step can reach; the figure
 * of one core alone would be higher than any step and a step's own shapes (the previous
 * reference) make the "peak" depend on the model. Each thread multiplies its own
 * 512 x 512 x 512 operands single-threaded, in the three orientations of a Linear layer
 * (forward, input gradient, weight gradient). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "expert/common.h"
#include "expert/compute.h"
#include "gemm.h"

#define PEAK_N 512

double ed_gemm_peak_gflops(ed_gemm_backend b, ed_precision p, int threads, double seconds, char *msg,
                           size_t msg_len) {
    ed_gemm_ctx *g = ed_gemm_ctx_create(b, p, msg, msg_len);
    if (!g) return -1.0;
    if (threads < 1) threads = 1;
    const int n = PEAK_N;
    const size_t per = (size_t)n * n;
    float *buf = ed_alloc_floats(per * 3 * (size_t)threads);
    for (size_t i = 0; i < per * 3 * (size_t)threads; i++) buf[i] = 0.001f * (float)(i % 97);
    double *rate = ed_calloc((size_t)threads, sizeof *rate);
    int saved = ed_blas_serial_begin();
    /* Every thread: a warm-up product (primitive creation, first touch), then rounds of the
     * three orientations for `seconds`; its best round is its rate. */
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num();
        float *A = buf + per * 3 * (size_t)t, *B = A + per, *C = B + per;
        ed_gemm(g, 0, 1, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n);
        double t_end = ed_now() + seconds, best = 0.0;
        int rounds = 0;
        do {
            double t0 = ed_now();
            ed_gemm(g, 0, 1, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n); /* out = x w^T */
            ed_gemm(g, 0, 0, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n); /* dx = dy w */
            ed_gemm(g, 1, 0, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n); /* dw = dy^T x */
            double dt = ed_now() - t0;
            if (dt > 0 && 6.0 * n * (double)n * n / dt > best) best = 6.0 * n * (double)n * n / dt;
            rounds++;
        } while (ed_now() < t_end || rounds < 2);
        rate[t] = best / 1e9;
    }
    ed_blas_serial_end(saved);
    /* The slowest core is what a rank of all of them can count on. */
    double slowest = rate[0];
    for (int t = 1; t < threads; t++) slowest = rate[t] < slowest ? rate[t] : slowest;
    free(rate);
    free(buf);
    ed_gemm_ctx_free(g);
    return slowest;
}
