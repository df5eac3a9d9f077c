/* test_expf_range.c — ed_expf over the whole float range, incl. where its exponent trick
 * once overflowed int32 (x in about (-1.74e7, -8.7e6): a fuzzing finding, UB under UBSan).
 * Checks values against libm, so the test fails on a wrong result as well as on UB. */
#include <math.h>
#include <stdio.h>

#include "vmath.h"

int main(void) {
    int bad = 0;
    for (float x = -2e7f; x <= 2e7f; x += 12345.0f) {
        float y = ed_expf(x), want = expf(x);
        if (!(y == want || fabsf(y - want) <= 1e-6f * want)) {
            fprintf(stderr, "ed_expf(%g) = %g, libm %g\n", (double)x, (double)y, (double)want);
            bad = 1;
        }
    }
    for (float x = -87.0f; x < 88.0f; x += 0.01f) {
        double r = fabs((double)ed_expf(x) - exp((double)x)) / exp((double)x);
        if (r > 1e-6) {
            fprintf(stderr, "ed_expf(%g): relative error %g\n", (double)x, r);
            bad = 1;
        }
    }
    const float lo[] = {-INFINITY, -1e30f, -8.8e6f, -104.0f};
    for (unsigned i = 0; i < sizeof lo / sizeof lo[0]; i++)
        if (ed_expf(lo[i]) != 0.0f) {
            fprintf(stderr, "ed_expf(%g) should underflow to 0\n", (double)lo[i]);
            bad = 1;
        }
    if (ed_expf(INFINITY) != INFINITY) bad = 1;
    printf("%s\n", bad ? "FAILED" : "ok");
    return bad;
}
