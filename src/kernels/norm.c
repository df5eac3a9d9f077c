/* norm.c — the gradient's sum of squares and scaling (kernels: one copy per ISA path). */
#include "expert/optim.h"
#include "kernels.h"

double ED_KFN(ed_sumsq)(const float *g, size_t n) {
    double s = 0.0;
#pragma omp parallel for simd schedule(static) reduction(+ : s)
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return s;
}

void ED_KFN(ed_scale)(float *g, size_t n, float s) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) g[i] *= s;
}
