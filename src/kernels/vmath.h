/* vmath.h — an expf the compiler can vectorise.
 *
 * glibc's expf/tanhf only vectorise (through libmvec) under -ffast-math, which we do not
 * want for the whole engine, so the hot elementwise loops (softmax, cross-entropy, GELU)
 * use this inline version: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite, two-part ln2),
 * a degree-7 Taylor polynomial for e^r (truncation < 1e-8 relative) and 2^n built in the
 * exponent bits. About 1-2 ulp where the result is a normal float; below that it returns
 * 0 (x < ~-87.3), above x ~ 88.4 it returns +inf (also for NaN input).
 *
 * Written branch-free with integer masks on purpose: under GCC's default trapping-math a
 * float compare/select in the loop body stops the vectoriser ("control flow in loop"). */
#ifndef ED_MODEL_VMATH_H
#define ED_MODEL_VMATH_H

#include <stdint.h>
#include <string.h>

/* x * y + z. A file that defines ED_VMATH_FUSED before including this header gets it
 * fused (one rounding) in its ISA copies that have FMA: about a third fewer operations in
 * ed_expf, whose result then differs from the unfused one by an ulp at most (the build is
 * ISO C, under which GCC contracts nothing by itself). Opt-in per file, so that the other
 * kernels' numbers stay what they were. */
#if defined(ED_VMATH_FUSED) && defined(__FMA__)
#define ED_VMADD(x, y, z) __builtin_fmaf((x), (y), (z))
#else
#define ED_VMADD(x, y, z) ((x) * (y) + (z))
#endif

static inline float ed_expf(float x) {
    /* n = round(x*log2e) by the 1.5*2^23 trick: in [2^23, 2^24) the float spacing is 1,
     * so t's low mantissa bits hold n as an integer. */
    float t = ED_VMADD(x, 1.44269504088896341f, 12582912.0f);
    float n = t - 12582912.0f;
    float r = ED_VMADD(-n, 0.693145751953125f, x); /* ln2 high part: n * it is exact */
    r = ED_VMADD(-n, 1.428606765330187e-06f, r);   /* ln2 low part */
    float p = 1.0f / 5040.0f;
    p = ED_VMADD(p, r, 1.0f / 720.0f);
    p = ED_VMADD(p, r, 1.0f / 120.0f);
    p = ED_VMADD(p, r, 1.0f / 24.0f);
    p = ED_VMADD(p, r, 1.0f / 6.0f);
    p = ED_VMADD(p, r, 0.5f);
    p = ED_VMADD(p, r, 1.0f);
    p = ED_VMADD(p, r, 1.0f);
    int32_t ti;
    memcpy(&ti, &t, sizeof ti);
    /* k = n; 0x4B400000 are the bits of 1.5*2^23. Out of range (|x| huge, inf, NaN) it
     * lands outside [-126,127]. Subtracting in uint32 keeps it defined: for x below about
     * -8.7e6, t is negative and its bits minus the offset would overflow int32 (UB); that
     * case (neg) is an underflow whatever k wrapped to. */
    int32_t k = (int32_t)((uint32_t)ti - 0x4B400000u);
    int32_t neg = -(int32_t)(ti < 0);
    int32_t kc = k < -126 ? -126 : (k > 127 ? 127 : k);
    int32_t bits = (kc + 127) * (1 << 23);
    float scale, y;
    memcpy(&scale, &bits, sizeof scale);
    y = p * scale;
    int32_t yi;
    memcpy(&yi, &y, sizeof yi);
    int32_t under = -(int32_t)(k < -126) | neg, over = -(int32_t)(k > 127) & ~neg;
    yi = (yi & ~under & ~over) | (0x7F800000 & over);
    memcpy(&y, &yi, sizeof y);
    return y;
}

/* tanh(u) = 1 - 2/(e^{2u}+1): absolute error ~1e-7, saturates cleanly to +-1. */
static inline float ed_tanhf(float u) { return 1.0f - 2.0f / (ed_expf(2.0f * u) + 1.0f); }

/* max of x[0..n), n >= 1. Sixteen independent running maxima so the loop is not one
 * long dependency chain (a float compare-select reduction does not vectorise under
 * trapping-math). */
static inline float ed_vmax(const float *x, int n) {
    float acc[16];
    for (int k = 0; k < 16; k++) acc[k] = x[0];
    int j = 0;
    for (; j + 16 <= n; j += 16)
        for (int k = 0; k < 16; k++) acc[k] = x[j + k] > acc[k] ? x[j + k] : acc[k];
    float m = acc[0];
    for (int k = 1; k < 16; k++) m = acc[k] > m ? acc[k] : m;
    for (; j < n; j++) m = x[j] > m ? x[j] : m;
    return m;
}

#endif
