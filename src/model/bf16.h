/* bf16.h — float32 <-> bfloat16 conversion loops of the bf16 precision mode.
 *
 * bfloat16 keeps float32's sign and 8-bit exponent and the top 7 mantissa bits, so a
 * bf16 value is a float32 whose low 16 bits are zero. Rounding is to nearest, ties to
 * even (as torch.Tensor.to(torch.bfloat16) and oneDNN's reorders do); NaN stays NaN
 * (quiet), infinities stay infinite, a finite value that rounds past the largest bf16
 * becomes infinity. Plain loops over contiguous arrays: the compiler vectorises them,
 * and the ISA-dispatch layer may swap in hand-tuned variants later. */
#ifndef ED_MODEL_BF16_H
#define ED_MODEL_BF16_H

#include <stddef.h>
#include <stdint.h>

/* dst[i] = src[i] rounded to the nearest bf16, kept as a float32 (low 16 bits zero).
 * dst may equal src. */
void ed_bf16_round(float *dst, const float *src, size_t n);

/* dst[i] = the bf16 bit pattern of src[i] rounded to nearest even. */
void ed_bf16_from_f32(uint16_t *dst, const float *src, size_t n);

/* dst[i] = src[i] widened to float32 (exact). */
void ed_bf16_to_f32(float *dst, const uint16_t *src, size_t n);

#endif
