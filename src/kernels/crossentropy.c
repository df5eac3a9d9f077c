/* crossentropy.c — softmax cross-entropy over the vocabulary with ignore_index -100 and
 * PyTorch label smoothing. The forward keeps only one float per row (the log-sum-exp);
 * the backward rebuilds the softmax from it, one pass per row, into whatever chunk of
 * rows the caller hands over (gpt.c feeds it chunks so dlogits never needs [N,V]). */
#include <math.h>
#include <stddef.h>

#include "expert/gpt.h"
#include "vmath.h"
#include "kernels.h"

/* logits is (N,V), targets (N), lse (N). Per row:
 *   -log p_t = lse - z_t,  mean_j(-log p_j) = lse - mean_j z_j. */
void ED_KFN(crossentropy_forward)(float *lse, double *loss, uint8_t *hit, const float *logits,
                          const int32_t *targets, int N, int V, float eps) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * V;
        float mx = ed_vmax(z, V);
        float s = 0.0f, zs = 0.0f;
        /* omp simd lets the float sums be reassociated into vector lanes (GCC will not
         * otherwise without -ffast-math) */
#pragma omp simd reduction(+ : s, zs)
        for (int j = 0; j < V; j++) {
            s += ed_expf(z[j] - mx);
            zs += z[j];
        }
        float l = mx + logf(s);
        lse[n] = l;
        int t = targets[n];
        loss[n] = 0.0;
        hit[n] = 0;
        if (t == ED_IGNORE_INDEX) continue;
        double nll = (double)l - z[t];
        double smooth = (double)l - (double)zs / V;
        loss[n] = (1.0 - eps) * nll + eps * smooth;
        /* The target is the (first) arg-max iff it equals the row max and no earlier logit
         * does: O(1) for almost every row, where z[t] is not the max. */
        int h = z[t] == mx;
        for (int j = 0; h && j < t; j++) h = z[j] != mx;
        hit[n] = (uint8_t)h;
    }
}

/* dlogits, logits are (N,V): d loss_n / d z_j = p_j - (1-eps)[j==t] - eps/V. */
void ED_KFN(crossentropy_backward)(float *dlogits, const float *logits, const float *lse,
                           const int32_t *targets, int N, int V, float eps, float scale) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * V;
        float *dz = dlogits + (size_t)n * V;
        int t = targets[n];
        if (t == ED_IGNORE_INDEX) {
            for (int j = 0; j < V; j++) dz[j] = 0.0f;
            continue;
        }
        float l = lse[n], u = eps / (float)V;
        for (int j = 0; j < V; j++) dz[j] = scale * (ed_expf(z[j] - l) - u);
        dz[t] -= scale * (1.0f - eps);
    }
}
