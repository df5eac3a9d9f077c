/* bf16.c — the conversion loops of bf16.h (bit manipulation on the float32 pattern). */
#include "bf16.h"

#include <string.h>

/* The rounded upper half of x's bit pattern: add 0x7fff plus the lowest kept bit, so a
 * tie rounds to the even neighbour. A NaN only gets its quiet bit set, since the
 * addition could carry a NaN with a small payload into infinity. */
static inline uint32_t round_bits(uint32_t u) {
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u | 0x00400000u) & 0xffff0000u;
    return (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
}

void ed_bf16_round(float *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], sizeof u);
        u = round_bits(u);
        memcpy(&dst[i], &u, sizeof u);
    }
}

void ed_bf16_from_f32(uint16_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], sizeof u);
        dst[i] = (uint16_t)(round_bits(u) >> 16);
    }
}

void ed_bf16_to_f32(float *dst, const uint16_t *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(&dst[i], &u, sizeof u);
    }
}
