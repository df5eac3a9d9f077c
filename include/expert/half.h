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
 * The conversions are integer arithmetic only: they do not depend on the FPU's rounding
 * mode or on flush-to-zero.
 *
 * The scalar conversions are inline because the callers' loops (a gradient bucket, a GEMM
 * operand) are the hot path: a call per element would stop them vectorising. */
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
 * is computed and the right one selected (no early returns), so loops over it vectorise:
 *   normal    |x| >= 2^-14: rebias the exponent (127 - 15 = 112) and round the mantissa
 *             to 10 bits like bf16 above (a carry into the exponent is the right answer);
 *   subnormal |x| <  2^-14: the significand (implicit bit set) shifted right by
 *             126 - exponent (14 .. 24 places), rounded on the bits shifted out; from
 *             126 - exponent > 24 on, |x| < 2^-25 and the result is zero;
 *   overflow  |x| >= 65520 (0x477ff000: halfway from 65504 to 2^16, ties to even = up);
 *   NaN       quiet bit set, the top payload bits kept. */
static inline uint16_t ed_fp16_encode_bits(uint32_t u) {
    uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    uint32_t normal = (a + 0xfffu + ((a >> 13) & 1u) - 0x38000000u) >> 13;
    uint32_t e = a >> 23, shift = e < 102u ? 31u : 126u - e; /* shift 31: nothing survives */
    uint32_t m = (a & 0x7fffffu) | 0x800000u;
    uint32_t q = shift >= 31u ? 0u : m >> shift;
    uint32_t rem = shift >= 31u ? m : m & ((1u << shift) - 1u);
    uint32_t half = shift >= 31u ? 0xffffffffu : 1u << (shift - 1u);
    uint32_t sub = q + (rem > half || (rem == half && (q & 1u)));
    uint32_t r = a >= 0x38800000u ? normal : sub;
    r = a >= 0x477ff000u ? 0x7c00u : r;
    r = a > 0x7f800000u ? 0x7e00u | ((a >> 13) & 0x3ffu) : r;
    return (uint16_t)(sign | r);
}

static inline uint16_t ed_fp16_encode(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return ed_fp16_encode_bits(u);
}

/* The fp16 bit pattern h widened to float32 (exact): normal and special values by moving
 * the fields into place, subnormals (exponent field 0) as mantissa x 2^-24, which is
 * exact in float32 and an integer-to-float conversion rather than a bit search. */
static inline float ed_fp16_decode(uint16_t h) {
    uint32_t sign = ((uint32_t)h & 0x8000u) << 16, e = ((uint32_t)h >> 10) & 0x1fu, m = (uint32_t)h & 0x3ffu;
    uint32_t u = sign | (e == 0x1fu ? 0x7f800000u | (m << 13) : ((e + 112u) << 23) | (m << 13));
    float f;
    memcpy(&f, &u, sizeof f);
    float sub = (float)(int32_t)m * 0x1p-24f;
    return e == 0 ? (sign ? -sub : sub) : f;
}

/* ---- arrays ---- */

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
