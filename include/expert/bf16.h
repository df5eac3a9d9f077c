/* bf16.h — float32 <-> bfloat16 conversion: the one rounding of the project, used by the
 * bf16 precision mode (the GEMM operand copies, src/gemm/gemm.c) and by bf16 gradients
 * on the wire (src/comm/grad_bf16.c).
 *
 * bfloat16 keeps float32's sign and 8-bit exponent and the top 7 mantissa bits, so a
 * bf16 value is a float32 whose low 16 bits are zero. Rounding is to nearest, ties to
 * even (as torch.Tensor.to(torch.bfloat16) and oneDNN's reorders do); NaN stays NaN
 * (quiet, sign kept), infinities stay infinite, a finite value that rounds past the
 * largest bf16 becomes infinity. Widening is exact.
 *
 * The scalar conversions are inline because the callers' loops (a gradient bucket, a GEMM
 * operand) are the hot path: a call per element would stop them vectorising. */
#ifndef EXPERT_BF16_H
#define EXPERT_BF16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

/* dst[i] = src[i] rounded to the nearest bf16, kept as a float32 (low 16 bits zero).
 * dst may equal src. */
void ed_bf16_round(float *dst, const float *src, size_t n);

/* dst[i] = ed_bf16_encode(src[i]). */
void ed_bf16_from_f32(uint16_t *dst, const float *src, size_t n);

#endif
