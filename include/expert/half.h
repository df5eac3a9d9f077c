/* half.h — float32 <-> 16-bit floats: bfloat16 and IEEE binary16 ("fp16"). The one
 * rounding module of the project, used by the half-precision GEMM modes (the operand
 * copies of --precision bf16 / fp16, src/gemm/gemm.c) and by bf16 gradients on the wire
 * (src/comm/grad_bf16.c).
 *
 * bfloat16 keeps float32's sign and 8-bit exponent and the top 7 mantissa bits, so a
 * bf16 value is a float32 whose low 16 bits are zero. fp16 has a 5-bit exponent and 10
 * mantissa bits: normal numbers from 2^-14 to 65504, subnormals down to 2^-24; it holds
 * 3 more bits of precision than bf16 but a far smaller range, which is why fp16 training
 * needs loss scaling (docs/design.md) and bf16 training does not.
 *
 * Both roundings are to nearest, ties to even (as torch.Tensor.to(torch.bfloat16 /
 * torch.float16) and oneDNN's reorders do); NaN stays NaN (quiet, sign kept),
 * infinities stay infinite, a finite value that rounds past the largest finite value
 * (bf16: about 3.39e38; fp16: 65504, so from 65520 up) becomes infinity of its sign; an
 * fp16 value below half the smallest subnormal becomes a signed zero. Widening is exact.
 * The conversions are integer arithmetic, except fp16 subnormals (see ed_fp16_encode_bits).
 *
 * The scalar conversions are inline because the callers' loops (a gradient bucket, a GEMM
 * operand) are the hot path: a call per element would stop them vectorising. They are
 * the reference the vectorised array conversions below are tested against. */
#ifndef EXPERT_HALF_H
#define EXPERT_HALF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The two 16-bit formats, for the array conversions below. */
typedef enum { ED_HALF_BF16 = 0, ED_HALF_FP16 = 1 } ed_half_format;

/* ---- bfloat16 ---- */

/* The float32 bit pattern u rounded to bf16, low 16 bits zero: add 0x7fff plus the lowest
 * kept bit, so a tie rounds to the even neighbour. A NaN only gets its quiet bit set,
 * since the addition could carry a NaN with a small payload into infinity. */
static inline uint32_t ed_bf16_round_bits(uint32_t u) {
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u | 0x00400000u) & 0xffff0000u;
    return (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
}

/* The bf16 bit pattern of f, rounded to nearest even. */
static inline uint16_t ed_bf16_encode(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (uint16_t)(ed_bf16_round_bits(u) >> 16);
}

/* The bf16 bit pattern h widened to float32 (exact). */
static inline float ed_bf16_decode(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- fp16 (IEEE binary16) ---- */

/* The fp16 bit pattern of the float32 bit pattern u, rounded to nearest even. Every case
 * is computed and the right one selected (no branches, no per-element shift counts), so
 * loops over it vectorise even with the baseline's SSE2:
 *   normal    |x| >= 2^-14: rebias the exponent (127 - 15 = 112) and round the mantissa
 *             to 10 bits like bf16 above (a carry into the exponent is the right answer);
 *   subnormal |x| <  2^-14: |x| + 0.5 in float32, whose ulp is 2^-24, the fp16 subnormal
 *             step: the addition rounds |x| to a multiple of 2^-24, to nearest even, and
 *             the sum's low bits count the steps (1024 = 2^-14 encodes the smallest
 *             normal, as it should). This one path uses the FPU, in its default
 *             round-to-nearest mode, which the engine never changes; a float32 denormal
 *             input becomes 0 either way, so flush-to-zero does not matter;
 *   overflow  |x| >= 65520 (0x477ff000: halfway from 65504 to 2^16, ties to even = up);
 *   NaN       quiet bit set, the top payload bits kept. */
/* c ? a : b as masks: GCC turns ?: on these into branches its vectoriser gives up on. */
static inline uint32_t ed_half_select(int c, uint32_t a, uint32_t b) {
    uint32_t m = 0u - (uint32_t)(c != 0);
    return (a & m) | (b & ~m);
}

static inline uint16_t ed_fp16_encode_bits(uint32_t u) {
    uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    uint32_t normal = (a + 0xfffu + ((a >> 13) & 1u) - 0x38000000u) >> 13;
    float fa, fs;
    memcpy(&fa, &a, sizeof fa);
    fs = fa + 0.5f;
    uint32_t sub;
    memcpy(&sub, &fs, sizeof sub);
    sub -= 0x3f000000u;
    int32_t ia = (int32_t)a; /* < 2^31: signed compares, which SSE2 has */
    uint32_t r = ed_half_select(ia >= 0x38800000, normal, sub);
    r = ed_half_select(ia >= 0x477ff000, 0x7c00u, r);
    r = ed_half_select(ia > 0x7f800000, 0x7e00u | ((a >> 13) & 0x3ffu), r);
    return (uint16_t)(sign | r);
}

static inline uint16_t ed_fp16_encode(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return ed_fp16_encode_bits(u);
}

/* The float32 bit pattern u rounded to the nearest fp16 value, kept as float32 bits (=
 * the widened ed_fp16_encode_bits(u), without the 16-bit detour that SSE2 packs slowly):
 * the same cases, a normal value rounded to 10 mantissa bits in place, a subnormal one
 * as (|x| + 0.5) - 0.5 (both steps exact but the rounding one). */
static inline uint32_t ed_fp16_round_bits(uint32_t u) {
    uint32_t sign = u & 0x80000000u, a = u & 0x7fffffffu;
    uint32_t normal = (a + 0xfffu + ((a >> 13) & 1u)) & 0xffffe000u;
    float fa;
    memcpy(&fa, &a, sizeof fa);
    fa = (fa + 0.5f) - 0.5f;
    uint32_t sub;
    memcpy(&sub, &fa, sizeof sub);
    int32_t ia = (int32_t)a;
    uint32_t r = ed_half_select(ia >= 0x38800000, normal, sub);
    r = ed_half_select(ia >= 0x477ff000, 0x7f800000u, r);
    r = ed_half_select(ia > 0x7f800000, (a | 0x00400000u) & 0xffffe000u, r);
    return sign | r;
}

/* The fp16 bit pattern h widened to float32 (exact): normal and special values by moving
 * the fields into place; a subnormal m x 2^-24 as (0.5 + m x 2^-24) - 0.5, whose first
 * term is the float32 with bits 0x3f000000 + m (exact: no rounding happens). */
static inline float ed_fp16_decode(uint16_t h) {
    uint32_t sign = ((uint32_t)h & 0x8000u) << 16, e = ((uint32_t)h >> 10) & 0x1fu, m = (uint32_t)h & 0x3ffu;
    uint32_t normal = ed_half_select(e == 0x1fu, 0x7f800000u, (e + 112u) << 23) | (m << 13);
    uint32_t hb = 0x3f000000u | m, sub;
    float half;
    memcpy(&half, &hb, sizeof half);
    half -= 0.5f;
    memcpy(&sub, &half, sizeof sub);
    uint32_t u = sign | ed_half_select(e == 0, sub, normal);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- arrays ----
 * Defined in src/kernels/convert.c, one copy per ISA path (expert/isa.h: ED_ISA picks
 * it), vectorised there: every path returns exactly the scalar functions above, bit for
 * bit, for every input. Serial: a caller parallelises over its rows. */

/* dst[i] = src[i] rounded to the nearest value of format fmt, kept as a float32 (exact:
 * both formats are subsets of float32). dst may equal src. */
void ed_half_round(ed_half_format fmt, float *dst, const float *src, size_t n);

/* dst[i] = the fmt bit pattern of src[i] (ed_bf16_encode / ed_fp16_encode). */
void ed_half_from_f32(ed_half_format fmt, uint16_t *dst, const float *src, size_t n);

/* The bf16 forms, as the callers that only ever use bf16 name them. */
static inline void ed_bf16_round(float *dst, const float *src, size_t n) { ed_half_round(ED_HALF_BF16, dst, src, n); }
static inline void ed_bf16_from_f32(uint16_t *dst, const float *src, size_t n) {
    ed_half_from_f32(ED_HALF_BF16, dst, src, n);
}

#endif
