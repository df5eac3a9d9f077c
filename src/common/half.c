/* half.c — the array conversions of expert/half.h (plain loops over contiguous arrays, one
 * per format, so the compiler vectorises each). */
#include "expert/half.h"

void ed_half_round(ed_half_format fmt, float *dst, const float *src, size_t n) {
    if (fmt == ED_HALF_BF16) {
        for (size_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &src[i], sizeof u);
            u = ed_bf16_round_bits(u);
            memcpy(&dst[i], &u, sizeof u);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &src[i], sizeof u);
            u = ed_fp16_round_bits(u);
            memcpy(&dst[i], &u, sizeof u);
        }
    }
}

void ed_half_from_f32(ed_half_format fmt, uint16_t *dst, const float *src, size_t n) {
    if (fmt == ED_HALF_BF16)
        for (size_t i = 0; i < n; i++) dst[i] = ed_bf16_encode(src[i]);
    else
        for (size_t i = 0; i < n; i++) dst[i] = ed_fp16_encode(src[i]);
}
