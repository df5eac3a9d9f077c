/* vmath.h — an expf the compiler can vectorise.
 *
 * glibc's expf/tanhf only vectorise (through libmvec) under -ffast-math, which we do not
 * want for the whole engine, so the hot elementwise loops (softmax, cross-entropy, GELU)
 * use this inline version instead: Cody-Waite range reduction x = n ln2 + r with
 * |r| <= ln2/2, a degree-7 Taylor polynomial for e^r (truncation error < 1e-8 relative)
 * and 2^n built from the exponent bits. Accurate to about 2 ulp on [-87, 88]; inputs
 * below -87 return ~1e-38 rather than 0, which no caller can tell apart from 0 in a sum. */
#ifndef ED_MODEL_VMATH_H
#define ED_MODEL_VMATH_H

#include <stdint.h>
#include <string.h>

static inline float ed_expf(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    /* round-to-nearest by the 1.5*2^23 trick (valid for |x*log2e| < 2^22) */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693145751953125f;   /* ln2 high part (exact product) */
    r = r - n * 1.428606765330187e-06f;     /* ln2 low part */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* tanh(u) = 1 - 2/(e^{2u}+1): absolute error ~1e-7, saturates cleanly to +-1. */
static inline float ed_tanhf(float u) { return 1.0f - 2.0f / (ed_expf(2.0f * u) + 1.0f); }

#endif
