/* expf_overflow.c — reproducer for signed integer overflow (UB) in the engine's ed_expf
 * (src/model/vmath.h:35, `int32_t k = ti - 0x4B400000`) for x in about (-1.74e7, -8.7e6):
 * there t = x*log2e + 1.5*2^23 is a small negative float whose bit pattern, read as int32,
 * is below INT32_MIN + 0x4B400000. Reached by softmax/cross-entropy when a diverging run
 * produces logit gaps of ~1e7. Not built by CMake (it would fail the sanitizer stage until
 * fixed); run it by hand:
 *   gcc -O1 -fsanitize=undefined -fno-sanitize-recover=undefined -Isrc/model \
 *       tests/fuzz/known-bugs/engine/expf_overflow.c -o /tmp/expf_overflow && /tmp/expf_overflow
 * Expected after a fix (e.g. computing k in uint32_t): prints "ok" and exits 0. */
#include <stdio.h>

#include "vmath.h"

int main(void) {
    volatile float sink = 0;
    for (float x = -2e7f; x <= 2e7f; x += 12345.0f) sink += ed_expf(x);
    printf("ok (%g)\n", (double)sink);
    return 0;
}
