/* rope.c — rotary position embedding in the rotate-half convention of Hugging Face's
 * Llama (apply_rotary_pos_emb): each head vector x of size hd splits into halves
 * x1 = x[0:hd/2], x2 = x[hd/2:hd], and with c = cos(t f_i), s = sin(t f_i)
 *   y1 = x1 c - x2 s,   y2 = x2 c + x1 s.
 * A rotation: the backward is the rotation by -t f_i applied to the gradient. */
#include <stddef.h>

#include "kernels.h"

/* sign +1 rotates forward, -1 backward; see rope_forward. */
static void rotate(float *x, const float *cos, const float *sin, const int *pos, int B, int T, int heads, int hd,
                   int ld, float sign) {
    const int half = hd / 2;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < B * T; n++) {
        size_t t = (size_t)(pos ? pos[n] : n % T);
        const float *c = cos + t * half, *s = sin + t * half;
        for (int h = 0; h < heads; h++) {
            float *x1 = x + (size_t)n * ld + (size_t)h * hd, *x2 = x1 + half;
#pragma omp simd
            for (int i = 0; i < half; i++) {
                float a = x1[i], b = x2[i], si = sign * s[i];
                x1[i] = a * c[i] - b * si;
                x2[i] = b * c[i] + a * si;
            }
        }
    }
}

void ED_KFN(rope_forward)(float *x, const float *cos, const float *sin, const int *pos, int B, int T, int heads,
                          int hd, int ld) {
    rotate(x, cos, sin, pos, B, T, heads, hd, ld, 1.0f);
}

void ED_KFN(rope_backward)(float *dx, const float *cos, const float *sin, const int *pos, int B, int T, int heads,
                           int hd, int ld) {
    rotate(dx, cos, sin, pos, B, T, heads, hd, ld, -1.0f);
}
