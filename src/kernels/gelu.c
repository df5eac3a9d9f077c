/* gelu.c — GELU, tanh approximation (PyTorch F.gelu(x, approximate='tanh')):
 *   gelu(x) = 0.5 x (1 + tanh(k (x + 0.044715 x^3))),  k = sqrt(2/pi). */
#include <stddef.h>

#include "vmath.h"
#include "kernels.h"

#define GELU_K 0.7978845608028654f
#define GELU_C 0.044715f

/* inp, out are (n) flat. */
void ED_KFN(gelu_forward)(float *out, const float *inp, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float t = ed_tanhf(GELU_K * (x + GELU_C * x * x * x));
        out[i] = 0.5f * x * (1.0f + t);
    }
}

/* d gelu/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 c x^2). */
void ED_KFN(gelu_backward)(float *dinp, const float *inp, const float *dout, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float t = ed_tanhf(GELU_K * (x + GELU_C * x * x * x));
        float d = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * GELU_C * x * x);
        dinp[i] = d * dout[i];
    }
}
