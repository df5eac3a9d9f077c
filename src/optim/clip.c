/* clip.c — gradient norm and clipping (torch.nn.utils.clip_grad_norm_ semantics). */
#include "expert/optim.h"

double ed_sumsq(const float *g, size_t n) {
    double s = 0.0;
#pragma omp parallel for simd schedule(static) reduction(+ : s)
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return s;
}

void ed_scale(float *g, size_t n, float s) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) g[i] *= s;
}

/* clip_grad_norm_: coef = max_norm / (norm + 1e-6), applied only when coef < 1. */
float ed_clip_factor(double total_norm, float max_norm) {
    if (!(max_norm > 0.0f)) return 1.0f;
    double coef = (double)max_norm / (total_norm + 1e-6);
    return coef < 1.0 ? (float)coef : 1.0f;
}
