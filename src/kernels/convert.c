/* convert.c — float32 arrays rounded to bf16 / fp16 (expert/half.h's ed_half_round and
 * ed_half_from_f32), one copy per ISA path (kernels.h). They feed every half-precision
 * GEMM operand, so they are on the hot path of --precision bf16 / fp16.
 *
 * Every path returns exactly what the scalar functions of half.h return, bit for bit,
 * for every input (NaN, infinities, denormals, overflow): the loops below are those
 * functions, which are integer arithmetic (and, for fp16 subnormals, one float addition
 * in round-to-nearest), so vectorising them on a wider path changes nothing but speed.
 * The one exception is deliberate: on a CPU with AVX512-BF16, vcvtne2ps2bf16 rounds 32
 * values per instruction with the same rule (ties to even, NaN quieted with its top
 * payload kept, Inf kept, overflow to Inf) except that it flushes denormal inputs to
 * zero, so a block holding a denormal is done by the loop instead (tests/model/test_isa.c
 * checks every path against the scalar functions on every bf16 rounding case). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__AVX512BW__) || defined(__AVX512BF16__))
#include <immintrin.h>
#define ED_HAVE_CVTNE 1
#endif

#include "expert/half.h"
#include "kernels.h"

static void bf16_encode_loop(uint16_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = ed_bf16_encode(src[i]);
}

#ifdef ED_HAVE_CVTNE
/* The AVX512-BF16 instruction, where this path's flags do not already include it, is
 * compiled for it alone and only called after the CPU said it has it. */
#ifdef __AVX512BF16__
#define CVTNE_TARGET
static int have_cvtne(void) { return 1; }
#else
#define CVTNE_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static int have_cvtne(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16");
}
#endif

CVTNE_TARGET static void bf16_encode_cvtne(uint16_t *dst, const float *src, size_t n) {
    const __m512i exp_bits = _mm512_set1_epi32(0x7f800000), abs_bits = _mm512_set1_epi32(0x7fffffff);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 a = _mm512_loadu_ps(src + i), b = _mm512_loadu_ps(src + i + 16);
        __m512i ai = _mm512_castps_si512(a), bi = _mm512_castps_si512(b);
        /* denormal: magnitude bits set, exponent bits all clear */
        __mmask16 da = _mm512_test_epi32_mask(ai, abs_bits) & ~_mm512_test_epi32_mask(ai, exp_bits);
        __mmask16 db = _mm512_test_epi32_mask(bi, abs_bits) & ~_mm512_test_epi32_mask(bi, exp_bits);
        if (__builtin_expect((da | db) != 0, 0))
            bf16_encode_loop(dst + i, src + i, 32);
        else
            _mm512_storeu_si512((void *)(dst + i), (__m512i)_mm512_cvtne2ps_pbh(b, a));
    }
    bf16_encode_loop(dst + i, src + i, n - i);
}
#endif

void ED_KFN(ed_half_from_f32)(ed_half_format fmt, uint16_t *dst, const float *src, size_t n) {
    if (fmt == ED_HALF_BF16) {
#ifdef ED_HAVE_CVTNE
        if (have_cvtne()) {
            bf16_encode_cvtne(dst, src, n);
            return;
        }
#endif
        bf16_encode_loop(dst, src, n);
    } else {
        for (size_t i = 0; i < n; i++) dst[i] = ed_fp16_encode(src[i]);
    }
}

void ED_KFN(ed_half_round)(ed_half_format fmt, float *dst, const float *src, size_t n) {
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
