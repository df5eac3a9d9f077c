/* bf16.c — the conversion loops of expert/bf16.h (plain loops over contiguous arrays: the
 * compiler vectorises them). */
#include "expert/bf16.h"

void ed_bf16_round(float *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], sizeof u);
        u = ed_bf16_round_bits(u);
        memcpy(&dst[i], &u, sizeof u);
    }
}

void ed_bf16_from_f32(uint16_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = ed_bf16_encode(src[i]);
}
