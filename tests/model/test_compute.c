/* test_compute.c — the small decisions around the GEMMs: bf16 and fp16 rounding (nearest,
 * ties to even, NaN/Inf/overflow, fp16 subnormals; fp16 also against the compiler's own
 * _Float16 conversions), the emulation switches, the `--gemm auto` rule, the OpenBLAS-core warning, the backend
 * and precision names, a model whose compute setting changes between passes, and
 * operands rounded once (gemm.h's operand forms, the model's rounded weights, activations
 * kept in operand form, a gradient rounded in the same pass as its bias sums or as the
 * cross-entropy makes it) giving exactly what rounding at every product gives. */
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "expert/half.h"
#include "expert/common.h"
#include "expert/compute.h"
#include "expert/gpt.h"
#include "expert/trainer.h"
#include "../gemm/gemm.h"
#include "layers.h"

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static void test_bf16_rounding(void **state) {
    (void)state;
    /* input bits -> expected bf16 bits (upper half) */
    const uint32_t cases[][2] = {
        {0x3f800000u, 0x3f80u}, /* 1.0 exact */
        {0x3f808000u, 0x3f80u}, /* tie, lower kept bit even: down */
        {0x3f818000u, 0x3f82u}, /* tie, lower kept bit odd: up */
        {0x3f808001u, 0x3f81u}, /* just above the tie: up */
        {0x3f807fffu, 0x3f80u}, /* just below: down */
        {0xbf818000u, 0xbf82u}, /* negative tie to even */
        {0x7f7fffffu, 0x7f80u}, /* FLT_MAX rounds past the largest bf16: infinity */
        {0x7f800000u, 0x7f80u}, /* +inf */
        {0xff800000u, 0xff80u}, /* -inf */
        {0x00000001u, 0x0000u}, /* smallest denormal: to zero */
        {0x80000000u, 0x8000u}, /* -0 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        float x = from_bits(cases[i][0]), r;
        uint16_t h;
        ed_bf16_from_f32(&h, &x, 1);
        ed_bf16_round(&r, &x, 1);
        assert_int_equal(h, cases[i][1]);
        assert_int_equal(bits(r), (uint32_t)cases[i][1] << 16);
        assert_int_equal(bits(ed_bf16_decode(h)), bits(r));
    }
    /* NaNs stay NaN, even one whose payload sits in the low half only */
    float nans[2] = {from_bits(0x7f800001u), from_bits(0xffc00000u)}, r[2];
    ed_bf16_round(r, nans, 2);
    assert_true(isnan(r[0]) && isnan(r[1]));
    /* the relative error of rounding is at most half an ulp: 2^-8 (7 stored mantissa bits) */
    for (int i = 1; i < 1000; i++) {
        float x = 0.37f * (float)i + 1.0f / (float)i, y;
        ed_bf16_round(&y, &x, 1);
        assert_true(fabsf(y - x) <= ldexpf(fabsf(x), -8));
    }
}

#ifdef __FLT16_MAX__
/* ed_half_round (its own bit path, not encode + decode) gives the widened _Float16. */
static void check_round(float x, _Float16 ref) {
    float r, want = (float)ref;
    ed_half_round(ED_HALF_FP16, &r, &x, 1);
    if (bits(r) != bits(want)) fail_msg("round %a: %a, want %a", (double)x, (double)r, (double)want);
}
#endif

/* fp16: hand-picked cases, then every fp16 value widened and, around every pair of
 * neighbouring fp16 values, the float32s at and next to the midpoint narrowed, against
 * GCC's _Float16 conversions (IEEE round to nearest even, an independent implementation);
 * plus a stride through all float32 bit patterns. */
static void test_fp16_rounding(void **state) {
    (void)state;
    const uint32_t cases[][2] = {
        {0x3f800000u, 0x3c00u}, /* 1.0 */
        {0x3f801000u, 0x3c00u}, /* 1 + 2^-11: tie, even (down) */
        {0x3f803000u, 0x3c02u}, /* 1 + 3 x 2^-11: tie, odd below: up */
        {0x3f801001u, 0x3c01u}, /* just above the tie */
        {0x477fe000u, 0x7bffu}, /* 65504, the largest fp16 */
        {0x477fefffu, 0x7bffu}, /* just below 65520: stays 65504 */
        {0x477ff000u, 0x7c00u}, /* 65520: tie, rounds up to infinity */
        {0xc77ff000u, 0xfc00u}, /* -65520 */
        {0x7f800000u, 0x7c00u}, /* +inf */
        {0x38800000u, 0x0400u}, /* 2^-14, the smallest normal */
        {0x387fc000u, 0x03ffu}, /* 2^-14 - 2^-24, the largest subnormal */
        {0x387fe000u, 0x0400u}, /* 2^-14 - 2^-25: the tie above it rounds up into the normals (even) */
        {0x33800000u, 0x0001u}, /* 2^-24, the smallest subnormal */
        {0x33000000u, 0x0000u}, /* 2^-25: tie with zero, to even: zero */
        {0x33000001u, 0x0001u}, /* just above 2^-25: the smallest subnormal */
        {0xb3c00000u, 0x8002u}, /* -1.5 x 2^-24: tie, to even: -2 x 2^-24 */
        {0x00000001u, 0x0000u}, /* float32 denormal: zero */
        {0x80000000u, 0x8000u}, /* -0 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        float x = from_bits(cases[i][0]), r;
        uint16_t h;
        ed_half_from_f32(ED_HALF_FP16, &h, &x, 1);
        ed_half_round(ED_HALF_FP16, &r, &x, 1);
        if (h != cases[i][1]) fail_msg("fp16(0x%08x) = 0x%04x, want 0x%04x", cases[i][0], h, cases[i][1]);
        assert_int_equal(bits(ed_fp16_decode(h)), bits(r));
    }
    float nans[2] = {from_bits(0x7f800001u), from_bits(0xffc00000u)}, r[2];
    ed_half_round(ED_HALF_FP16, r, nans, 2);
    assert_true(isnan(r[0]) && isnan(r[1]) && signbit(r[1]));
    assert_true(isnan(ed_fp16_decode(ed_fp16_encode(nans[0]))));
#ifdef __FLT16_MAX__
    long checked = 0;
    for (uint32_t h = 0; h < 0x10000u; h++) {
        uint16_t hb = (uint16_t)h;
        _Float16 v;
        memcpy(&v, &hb, sizeof v);
        float want = (float)v, got = ed_fp16_decode(hb);
        if (isnan(want)) {
            assert_true(isnan(got));
            continue;
        }
        if (bits(got) != bits(want)) fail_msg("decode 0x%04x: %a, want %a", h, (double)got, (double)want);
        if ((h & 0x7c00u) == 0x7c00u) continue;
        /* the midpoint to the next value away from zero (infinity after 65504) */
        double next = (h & 0x7fffu) == 0x7bffu ? 65536.0 : fabs((double)ed_fp16_decode((uint16_t)(hb + 1)));
        double mid = 0.5 * (fabs((double)want) + next);
        for (int d = -1; d <= 1; d++) {
            uint32_t u = bits((float)mid) + (uint32_t)d;
            float x = from_bits(u | (h & 0x8000u ? 0x80000000u : 0u));
            _Float16 ref = (_Float16)x;
            uint16_t rb;
            memcpy(&rb, &ref, sizeof rb);
            if (ed_fp16_encode(x) != rb) fail_msg("encode %a: 0x%04x, want 0x%04x", (double)x, ed_fp16_encode(x), rb);
            check_round(x, ref);
            checked++;
        }
    }
    for (uint64_t u = 0; u <= 0xffffffffu; u += 4099) {
        float x = from_bits((uint32_t)u);
        if (isnan(x)) continue;
        _Float16 ref = (_Float16)x;
        uint16_t rb;
        memcpy(&rb, &ref, sizeof rb);
        if (ed_fp16_encode(x) != rb) fail_msg("encode %a: 0x%04x, want 0x%04x", (double)x, ed_fp16_encode(x), rb);
        check_round(x, ref);
        checked++;
    }
    printf("  fp16: %ld inputs narrowed and rounded as by _Float16\n", checked);
#else
    printf("  fp16: this compiler has no _Float16: only the hand-picked cases\n");
#endif
    /* relative error of a normal value at most half an ulp: 2^-11 (10 stored bits) */
    for (int i = 1; i < 1000; i++) {
        float x = 0.37f * (float)i + 1.0f / (float)i, y;
        ed_half_round(ED_HALF_FP16, &y, &x, 1);
        assert_true(fabsf(y - x) <= ldexpf(fabsf(x), -11));
    }
}

/* ED_BF16_EMULATE / ED_FP16_EMULATE: set and not "0" forces emulation; the names. */
static void test_emulation_switch(void **state) {
    (void)state;
    assert_null(ed_precision_emulate_var(ED_PREC_FP32));
    assert_string_equal(ed_precision_emulate_var(ED_PREC_BF16), "ED_BF16_EMULATE");
    assert_string_equal(ed_precision_emulate_var(ED_PREC_FP16), "ED_FP16_EMULATE");
    const char *values[] = {"1", "yes", "0", "", NULL};
    const int want[] = {1, 1, 0, 0, 0};
    for (int i = 0; i < 5; i++) {
        if (values[i]) setenv("ED_FP16_EMULATE", values[i], 1);
        else unsetenv("ED_FP16_EMULATE");
        assert_int_equal(ed_precision_emulation_forced(ED_PREC_FP16), want[i]);
        assert_int_equal(ed_precision_emulation_forced(ED_PREC_FP32), 0);
    }
}

static ed_machine fake(int avx2, int avx512, const char *core, int onednn, int bf16, int fp16) {
    ed_machine m;
    memset(&m, 0, sizeof m);
    m.avx2 = avx2, m.avx512 = avx512, m.have_onednn = onednn, m.bf16_native = bf16, m.fp16_native = fp16;
    snprintf(m.blas_core, sizeof m.blas_core, "%s", core);
    return m;
}

static void test_auto_rule(void **state) {
    (void)state;
    ed_machine zen3 = fake(1, 0, "Zen", 1, 0, 0), spr = fake(1, 1, "Prescott", 1, 1, 1);
    ed_machine zen5 = fake(1, 1, "Haswell", 1, 1, 0), nodnnl = fake(1, 0, "Prescott", 0, 0, 0);
    ed_machine sprz = fake(1, 1, "SapphireRapids", 1, 1, 1);
    char buf[400];
    /* core flags are computed by the probe: do it by hand for the fakes */
    zen3.blas_core_low = 0, spr.blas_core_low = 1, zen5.blas_core_low = 0, nodnnl.blas_core_low = 1;
    sprz.blas_core_low = 0;
    /* fp16 goes to oneDNN only where it is native there (as bf16) */
    assert_int_equal(ed_gemm_backend_resolve(ED_GEMM_AUTO, ED_PREC_FP16, &zen5), ED_GEMM_OPENBLAS);
    assert_int_equal(ed_gemm_backend_resolve(ED_GEMM_AUTO, ED_PREC_FP16, &sprz), ED_GEMM_ONEDNN);
    assert_int_equal(ed_gemm_backend_resolve(ED_GEMM_AUTO, ED_PREC_FP32, &sprz), ED_GEMM_OPENBLAS);
    assert_int_equal(ed_machine_half_native(&zen5, ED_PREC_BF16), 1);
    assert_int_equal(ed_machine_half_native(&zen5, ED_PREC_FP16), 0);
    assert_int_equal(ed_machine_half_native(&sprz, ED_PREC_FP32), 0);
    assert_int_equal(ed_gemm_backend_resolve(ED_GEMM_AUTO, ED_PREC_FP32, &zen3), ED_GEMM_OPENBLAS);
    assert_int_equal(ed_gemm_backend_resolve(ED_GEMM_AUTO, ED_PREC_BF16, &zen3), ED_GEMM_OPENBLAS);
    assert_int_equal(ed_gemm_backend_resolve(ED_GEMM_AUTO, ED_PREC_FP32, &spr), ED_GEMM_ONEDNN);
    assert_int_equal(ed_gemm_backend_resolve(ED_GEMM_AUTO, ED_PREC_BF16, &spr), ED_GEMM_ONEDNN);
    assert_int_equal(ed_gemm_backend_resolve(ED_GEMM_AUTO, ED_PREC_BF16, &zen5), ED_GEMM_ONEDNN);
    assert_int_equal(ed_gemm_backend_resolve(ED_GEMM_AUTO, ED_PREC_FP32, &nodnnl), ED_GEMM_OPENBLAS);
    assert_int_equal(ed_gemm_backend_resolve(ED_GEMM_OPENBLAS, ED_PREC_BF16, &spr), ED_GEMM_OPENBLAS);
    /* the warning: only for a low core, naming the fixes */
    assert_null(ed_machine_blas_warning(&zen3, buf, sizeof buf));
    unsetenv("OPENBLAS_CORETYPE");
    assert_non_null(ed_machine_blas_warning(&spr, buf, sizeof buf));
    printf("  %s\n", buf);
    assert_non_null(strstr(buf, "Prescott"));
    assert_non_null(strstr(buf, "--gemm auto"));
    assert_null(strstr(buf, "OPENBLAS_CORETYPE")); /* never advised (unset here) */
    /* the names tables match the enums */
    assert_int_equal(ed_name_index(ed_gemm_backend_names, "onednn"), ED_GEMM_ONEDNN);
    assert_string_equal(ed_gemm_backend_names[ED_GEMM_OPENBLAS], "openblas");
    assert_int_equal(ed_name_index(ed_precision_names, "bf16"), ED_PREC_BF16);
    assert_int_equal(ed_name_index(ed_gemm_backend_names, "mkl"), -1);
    assert_int_equal(ed_name_index(ed_precision_names, "fp16"), ED_PREC_FP16);
    assert_int_equal(ed_name_index(ed_precision_names, "fp8"), -1);
}

/* The real probe on this machine: consistent fields, and a core list that matches. */
static void test_probe(void **state) {
    (void)state;
    ed_machine m;
    ed_machine_probe(&m);
    char d[256];
    ed_machine_describe(&m, d, sizeof d);
    printf("  %s: %s\n", m.cpu, d);
    assert_true(m.blas_core[0] != '\0');
    if (m.avx512) assert_true(m.avx2);
    if (m.avx512bf16 || m.amx) assert_true(m.avx512);
    if (m.avx512fp16 || m.amxfp16) assert_true(m.avx512);
    if (!m.have_onednn) assert_false(m.bf16_native || m.fp16_native);
}

/* Switching a model between fp32 and bf16 (and backends) between passes: fp32 results do
 * not depend on what ran before, bf16 differs from fp32 by bf16 rounding, not more. */
static void test_switch(void **state) {
    (void)state;
    ed_model_config cfg = {.vocab_size = 50, .d_model = 32, .n_layers = 2, .n_heads = 4, .d_ff = 64,
                           .max_seq_len = 16};
    char msg[256];
    ed_gpt *m = ed_gpt_create(&cfg, 3, msg, sizeof msg);
    assert_non_null(m);
    int32_t x[2 * 16], y[2 * 16];
    for (int i = 0; i < 32; i++) x[i] = (i * 7) % 50, y[i] = (i * 11 + 3) % 50;
    double l32a, l16, l32b;
    long c;
    ed_machine mach;
    ed_machine_probe(&mach);
    ed_gemm_backend other = mach.have_onednn ? ED_GEMM_ONEDNN : ED_GEMM_OPENBLAS;
    ed_gpt_forward(m, x, y, 2, 16, 0.0f, 0, NULL, &l32a, &c);
    assert_int_equal(ed_gpt_set_compute(m, other, ED_PREC_BF16, msg, sizeof msg), 0);
    ed_gpt_forward(m, x, y, 2, 16, 0.0f, 0, NULL, &l16, &c);
    assert_int_equal(ed_gpt_set_compute(m, ED_GEMM_OPENBLAS, ED_PREC_FP32, msg, sizeof msg), 0);
    ed_gpt_forward(m, x, y, 2, 16, 0.0f, 0, NULL, &l32b, &c);
    printf("  loss fp32 %.9f, bf16 %.9f, fp32 again %.9f\n", l32a, l16, l32b);
    assert_true(l32a == l32b);
    assert_true(l16 != l32a && fabs(l16 - l32a) <= 1e-2 * fabs(l32a));
    assert_int_equal(ed_gpt_set_compute(m, ED_GEMM_AUTO, ED_PREC_FP32, msg, sizeof msg), -1);
    ed_gpt_free(m);
}

/* ed_gemm (operands rounded at the call), ed_gemm_ready on operands prepared beforehand,
 * and a registered operand form give bit-identical products: bf16 and fp16, emulated on
 * OpenBLAS, native or emulated (ED_BF16_EMULATE=1) on oneDNN, all four transposes, with
 * leading dimensions wider than the rows. */
static void test_operand_forms(void **state) {
    (void)state;
    ed_machine mach;
    ed_machine_probe(&mach);
    const int M = 37, N = 29, K = 51, ld = 64;
    float *A = malloc((size_t)ld * ld * sizeof *A), *B = malloc((size_t)ld * ld * sizeof *B);
    float *C1 = malloc((size_t)M * N * sizeof *C1), *C2 = malloc((size_t)M * N * sizeof *C2);
    float *C3 = malloc((size_t)M * N * sizeof *C3);
    for (int i = 0; i < ld * ld; i++) A[i] = sinf(0.37f * (float)i) * 3.1f, B[i] = cosf(0.11f * (float)i) / 0.7f;
    struct {
        ed_gemm_backend b;
        ed_precision p;
        int emulate;
    } runs[] = {{ED_GEMM_OPENBLAS, ED_PREC_BF16, 0}, {ED_GEMM_OPENBLAS, ED_PREC_FP16, 0},
                {ED_GEMM_ONEDNN, ED_PREC_BF16, 0},   {ED_GEMM_ONEDNN, ED_PREC_BF16, 1},
                {ED_GEMM_ONEDNN, ED_PREC_FP16, 0}};
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        if (runs[r].b == ED_GEMM_ONEDNN && !mach.have_onednn) continue;
        if (runs[r].emulate) setenv("ED_BF16_EMULATE", "1", 1);
        ed_gemm_ctx *g = ed_gemm_ctx_create(runs[r].b, runs[r].p, NULL, 0);
        unsetenv("ED_BF16_EMULATE");
        assert_non_null(g);
        assert_true(ed_gemm_rounds(g));
        size_t es = ed_gemm_operand_bytes(g);
        assert_int_equal(es, ed_gemm_ctx_half_native(g) ? 2 : 4);
        char *fa = malloc((size_t)ld * ld * es), *fb = malloc((size_t)ld * ld * es);
        ed_gemm_prepare(g, fa, A, ld, ld, ld); /* dense forms of the whole ld x ld buffers */
        ed_gemm_prepare(g, fb, B, ld, ld, ld);
        for (int t = 0; t < 4; t++) {
            int ta = t & 1, tb = t >> 1;
            for (int i = 0; i < M * N; i++) C1[i] = C2[i] = C3[i] = 0.25f * (float)(i % 7);
            ed_gemm(g, ta, tb, M, N, K, 0.5f, A, ld, B, ld, 1.0f, C1, N);
            ed_gemm_ready(g, ED_GEMM_A_READY | ED_GEMM_B_READY, ta, tb, M, N, K, 0.5f, fa, ld, fb, ld, 1.0f, C2, N);
            ed_gemm_register_form(g, B, (size_t)ld * ld, fb); /* B found inside it, A prepared */
            ed_gemm_ready(g, ED_GEMM_A_READY, ta, tb, M, N, K, 0.5f, fa, ld, B, ld, 1.0f, C3, N);
            ed_gemm_register_form(g, NULL, 0, NULL);
            assert_memory_equal(C1, C2, (size_t)M * N * sizeof *C1);
            assert_memory_equal(C1, C3, (size_t)M * N * sizeof *C1);
        }
        char d[160];
        ed_gemm_ctx_describe(g, d, sizeof d);
        printf("  %s: ready and registered operands == rounding at the call\n", d);
        free(fa), free(fb);
        ed_gemm_ctx_free(g);
    }
    free(A), free(B), free(C1), free(C2), free(C3);
}

/* Open shapes (gemm.h, ed_gemm_shapes): with the token count given at run time, products
 * of ever-new token counts create no new oneDNN primitive after the first of each kind,
 * and compute what a double-precision reference does (fp32 to 1e-5 relative; bf16 on
 * the same rounded operands). FIXED makes one per shape, as before. */
static double ref_dot(const float *A, int lda, int ta, const float *B, int ldb, int tb, int i, int j, int K) {
    double s = 0.0;
    for (int k = 0; k < K; k++)
        s += (double)(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) *
             (double)(tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]);
    return s;
}

static void test_open_shapes(void **state) {
    (void)state;
    ed_machine mach;
    ed_machine_probe(&mach);
    if (!mach.have_onednn) {
        printf("  no oneDNN in this build: nothing to test\n");
        return;
    }
    const int C = 24, OC = 40, MAXT = 97, HD = 16;
    size_t big = (size_t)MAXT * 64;
    float *X = malloc(big * sizeof *X), *W = malloc(big * sizeof *W), *O = malloc(big * sizeof *O);
    float *Xr = malloc(big * sizeof *Xr), *Wr = malloc(big * sizeof *Wr);
    for (size_t i = 0; i < big; i++) X[i] = sinf(0.37f * (float)i), W[i] = cosf(0.11f * (float)i) * 0.5f;
    for (int p = ED_PREC_FP32; p <= ED_PREC_BF16; p++) {
        /* the operands as the product sees them (bf16: rounded), for the reference */
        memcpy(Xr, X, big * sizeof *X), memcpy(Wr, W, big * sizeof *W);
        if (p == ED_PREC_BF16) ed_half_round(ED_HALF_BF16, Xr, X, big), ed_half_round(ED_HALF_BF16, Wr, W, big);
        for (int shapes = ED_GEMM_SHAPES_FIXED; shapes <= ED_GEMM_SHAPES_ANY; shapes++) {
            ed_gemm_ctx *g = ed_gemm_ctx_create(ED_GEMM_ONEDNN, (ed_precision)p, NULL, 0);
            assert_non_null(g);
            assert_int_equal(ed_gemm_ctx_set_shapes(g, (ed_gemm_shapes)shapes), ED_GEMM_SHAPES_FIXED);
            long after_first = 0;
            double worst = 0.0;
            for (int n = 1; n <= 30; n++) {
                int T = 3 * n + 7; /* token counts never repeated */
                for (int kind = 0; kind < 4; kind++) {
                    int ta = kind == 2, tb = kind == 0 || kind == 3, M, N, K, lda, ldb, ldc;
                    if (kind == 0) M = T, N = OC, K = C, lda = C, ldb = C, ldc = OC;       /* out = x w^T */
                    else if (kind == 1) M = T, N = C, K = OC, lda = OC, ldb = C, ldc = C;  /* dx = dy w */
                    else if (kind == 2) M = OC, N = C, K = T, lda = OC, ldb = C, ldc = C;  /* dw = dy^T x */
                    else M = 2, N = T, K = HD, lda = 64, ldb = HD, ldc = T;                /* decoder scores */
                    if (kind == 3 && shapes != ED_GEMM_SHAPES_ANY) continue;
                    ed_gemm(g, ta, tb, M, N, K, 1.0f, X, lda, W, ldb, 0.0f, O, ldc);
                    for (int i = 0; i < M; i++)
                        for (int j = 0; j < N; j++) {
                            double r = ref_dot(Xr, lda, ta, Wr, ldb, tb, i, j, K);
                            double e = fabs(O[(size_t)i * ldc + j] - r) / (1.0 + fabs(r));
                            worst = e > worst ? e : worst;
                        }
                }
                if (n == 1) after_first = ed_gemm_ctx_primitives(g);
            }
            long made = ed_gemm_ctx_primitives(g);
            char d[160];
            ed_gemm_ctx_describe(g, d, sizeof d);
            printf("  %s, shapes %s: %ld primitives for 30 token counts (%ld after the first), worst error %.2g\n", d,
                   shapes == 0 ? "fixed" : shapes == 1 ? "tokens" : "any", made, after_first, worst);
            assert_true(worst < 1e-5);
            if (shapes == ED_GEMM_SHAPES_FIXED) assert_true(made >= 30 * 3);
            else assert_true(made == after_first);
            ed_gemm_ctx_free(g);
        }
    }
    free(X), free(W), free(O), free(Xr), free(Wr);
}

/* Signals while oneDNN runs products on open shapes: the stop handlers must not write
 * into the interrupted code's stack (signals.c, SA_ONSTACK). Without it this loop aborted
 * in free() within a few hundred products ("corrupted size vs. prev_size"). A second
 * thread sends SIGUSR1 to the process every 20 us; the handler (graceful: a flag) runs
 * on the main thread, in the middle of the products. */
static volatile int storm_on;
static void *storm(void *arg) {
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* delivered to the main thread, not here */
    while (storm_on) {
        kill(getpid(), SIGUSR1);
        usleep(20);
    }
    return NULL;
}

static void test_open_shapes_signals(void **state) {
    (void)state;
    ed_machine mach;
    ed_machine_probe(&mach);
    if (!mach.have_onednn) {
        printf("  no oneDNN in this build: nothing to test\n");
        return;
    }
    ed_signals_install(0);
    ed_signals_graceful(1);
    const int C = 128, OC = 384, MAXT = 1016;
    float *X = malloc((size_t)MAXT * OC * sizeof *X), *W = malloc((size_t)OC * C * sizeof *W);
    float *O = malloc((size_t)MAXT * OC * sizeof *O);
    for (size_t i = 0; i < (size_t)MAXT * OC; i++) X[i] = 1.0f;
    for (size_t i = 0; i < (size_t)OC * C; i++) W[i] = 1.0f;
    ed_gemm_ctx *g = ed_gemm_ctx_create(ED_GEMM_ONEDNN, ED_PREC_FP32, NULL, 0);
    assert_non_null(g);
    ed_gemm_ctx_set_shapes(g, ED_GEMM_SHAPES_TOKENS);
    storm_on = 1;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, storm, NULL), 0);
    int bad = 0;
    for (int r = 0; r < 300; r++) {
        int T = MAXT - (r % 17) * 7;
        ed_gemm(g, 0, 1, T, OC, C, 1.0f, X, C, W, C, 0.0f, O, OC);        /* every entry C */
        ed_gemm(g, 1, 0, OC, C, T, 1.0f, X, OC, X, C, 0.0f, W, C);       /* every entry T */
        for (int i = 0; i < T * OC; i += 97) bad += O[i] != (float)C;
        for (int i = 0; i < OC * C; i += 31) bad += W[i] != (float)T;
        for (size_t i = 0; i < (size_t)OC * C; i++) W[i] = 1.0f;
        free(malloc(1000 + (size_t)r)); /* the heap checks that caught the damage */
    }
    storm_on = 0;
    pthread_join(th, NULL);
    printf("  300 open-shape product pairs under a SIGUSR1 storm: %d wrong entries, stop flag %d\n", bad,
           ed_signal_pending());
    assert_int_equal(bad, 0);
    assert_int_equal(ed_signal_pending(), SIGUSR1);
    ed_signals_graceful(0);
    ed_gemm_ctx_free(g);
    free(X), free(W), free(O);
}

/* A bf16 model multiplies a rounded copy of its weights made once per change: a write
 * through ed_gpt_params is seen by the next forward (the same loss as a model created
 * with those weights), and a forward without one reuses the copy (the same loss again). */
static void test_weights_form(void **state) {
    (void)state;
    ed_model_config cfg = {.vocab_size = 50, .d_model = 32, .n_layers = 2, .n_heads = 4, .d_ff = 64,
                           .max_seq_len = 16};
    char msg[256];
    ed_machine mach;
    ed_machine_probe(&mach);
    ed_gemm_backend be = mach.have_onednn ? ED_GEMM_ONEDNN : ED_GEMM_OPENBLAS;
    ed_gpt *m = ed_gpt_create(&cfg, 3, msg, sizeof msg), *fresh = ed_gpt_create(&cfg, 3, msg, sizeof msg);
    assert_non_null(m);
    assert_non_null(fresh);
    assert_int_equal(ed_gpt_set_compute(m, be, ED_PREC_BF16, msg, sizeof msg), 0);
    assert_int_equal(ed_gpt_set_compute(fresh, be, ED_PREC_BF16, msg, sizeof msg), 0);
    int32_t x[2 * 16], y[2 * 16];
    for (int i = 0; i < 32; i++) x[i] = (i * 7) % 50, y[i] = (i * 11 + 3) % 50;
    double l1, l1b, l2, lf;
    long c;
    ed_gpt_forward(m, x, y, 2, 16, 0.0f, 0, NULL, &l1, &c);
    ed_gpt_forward(m, x, y, 2, 16, 0.0f, 0, NULL, &l1b, &c);
    assert_true(l1 == l1b);
    size_t n = ed_gpt_num_params(m);
    float *p = ed_gpt_params(m);
    for (size_t i = 0; i < n; i++) p[i] *= 1.5f;
    ed_gpt_forward(m, x, y, 2, 16, 0.0f, 0, NULL, &l2, &c);
    memcpy(ed_gpt_params(fresh), p, n * sizeof *p);
    ed_gpt_forward(fresh, x, y, 2, 16, 0.0f, 0, NULL, &lf, &c);
    printf("  bf16 loss %.9f, after scaling the weights %.9f (a fresh model: %.9f)\n", l1, l2, lf);
    assert_true(l2 != l1);
    assert_true(l2 == lf);
    /* fp16 after bf16: another form, made anew */
    assert_int_equal(ed_gpt_set_compute(m, ED_GEMM_OPENBLAS, ED_PREC_FP16, msg, sizeof msg), 0);
    assert_int_equal(ed_gpt_set_compute(fresh, ED_GEMM_OPENBLAS, ED_PREC_FP16, msg, sizeof msg), 0);
    ed_gpt_forward(m, x, y, 2, 16, 0.0f, 0, NULL, &l2, &c);
    ed_gpt_forward(fresh, x, y, 2, 16, 0.0f, 0, NULL, &lf, &c);
    assert_true(l2 == lf);
    ed_gpt_free(m);
    ed_gpt_free(fresh);
}

/* The Linear backward's fused pass (the output gradient rounded while its bias sums are
 * taken, in column strips) and an input already in operand form give bit for bit the
 * unfused sequence: both products through ed_gemm rounding at the call, the bias as
 * column sums in row order. Several widths (one strip, several, a ragged last one) and
 * thread counts (the strips depend on them, the sums must not). */
static void test_fused_backward(void **state) {
    (void)state;
    ed_machine mach;
    ed_machine_probe(&mach);
    const int N = 53, C = 40, widths[] = {7, 96, 1100};
    const ed_gemm_backend be = mach.have_onednn ? ED_GEMM_ONEDNN : ED_GEMM_OPENBLAS;
    const int saved = omp_get_max_threads();
    for (int p = ED_PREC_BF16; p <= ED_PREC_FP16; p++)
        for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++) {
            const int OC = widths[wi];
            ed_gemm_ctx *g = ed_gemm_ctx_create(be, (ed_precision)p, NULL, 0);
            assert_non_null(g);
            size_t es = ed_gemm_operand_bytes(g);
            float *dout = malloc((size_t)N * OC * sizeof *dout), *inp = malloc((size_t)N * C * sizeof *inp);
            float *w = malloc((size_t)OC * C * sizeof *w);
            float *di[2], *dw[2], *db[2];
            for (int k = 0; k < 2; k++) {
                di[k] = calloc((size_t)N * C, sizeof(float));
                dw[k] = calloc((size_t)OC * C, sizeof(float));
                db[k] = calloc((size_t)OC, sizeof(float));
            }
            for (int i = 0; i < N * OC; i++) dout[i] = sinf(0.37f * (float)i) * 1e-3f * (float)(1 + i % 5);
            for (int i = 0; i < N * C; i++) inp[i] = cosf(0.21f * (float)i) * 2.3f;
            for (int i = 0; i < OC * C; i++) w[i] = sinf(0.013f * (float)i + 1.0f);
            /* unfused: ed_gemm rounds both operands at the call; sums in row order */
            ed_gemm(g, 0, 0, N, C, OC, 1.0f, dout, OC, w, C, 0.0f, di[0], C);
            ed_gemm(g, 1, 0, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dw[0], C);
            for (int j = 0; j < OC; j++) {
                float acc = 0.0f;
                for (int n = 0; n < N; n++) acc += dout[(size_t)n * OC + j];
                db[0][j] += acc;
            }
            char *inp_form = malloc((size_t)N * C * es);
            ed_gemm_prepare(g, inp_form, inp, N, C, C);
            for (int threads = 1; threads <= 3; threads++) {
                ed_set_threads(threads);
                memset(di[1], 0, (size_t)N * C * sizeof(float));
                memset(dw[1], 0, (size_t)OC * C * sizeof(float));
                memset(db[1], 0, (size_t)OC * sizeof(float));
                matmul_backward_in(g, di[1], dw[1], db[1], dout, inp_form, 1, w, N, C, OC);
                assert_memory_equal(di[0], di[1], (size_t)N * C * sizeof(float));
                assert_memory_equal(dw[0], dw[1], (size_t)OC * C * sizeof(float));
                assert_memory_equal(db[0], db[1], (size_t)OC * sizeof(float));
            }
            ed_set_threads(saved);
            printf("  %s OC %d: fused rounding + bias sums == unfused, 1-3 threads\n", ed_precision_names[p], OC);
            for (int k = 0; k < 2; k++) free(di[k]), free(dw[k]), free(db[k]);
            free(dout), free(inp), free(w), free(inp_form);
            ed_gemm_ctx_free(g);
        }
}

/* A bf16 model's gradients do not depend on where its activations' operand forms and its
 * head gradient's were made: with --recompute (the blocks and every head chunk computed
 * again inside the backward, the head's gradient rounded in place) and without, and on 1
 * or 2 threads, the gradients are bit-identical. V is large enough for several row
 * blocks of the head gradient per chunk. */
static void test_formed_activations(void **state) {
    (void)state;
    ed_model_config cfg = {.vocab_size = 3000, .d_model = 32, .n_layers = 2, .n_heads = 4, .d_ff = 64,
                           .max_seq_len = 160};
    ed_machine mach;
    ed_machine_probe(&mach);
    ed_gemm_backend be = mach.have_onednn ? ED_GEMM_ONEDNN : ED_GEMM_OPENBLAS;
    enum { B = 2, T = 160 };
    int32_t x[B * T], y[B * T];
    for (int i = 0; i < B * T; i++) x[i] = (i * 7) % 3000, y[i] = (i * 11 + 3) % 3000;
    float *ref = NULL;
    size_t n = 0;
    char msg[256];
    const int saved = omp_get_max_threads();
    for (int run = 0; run < 4; run++) {
        ed_set_threads(run < 2 ? 1 : 2);
        ed_gpt *m = ed_gpt_create(&cfg, 3, msg, sizeof msg);
        assert_non_null(m);
        assert_int_equal(ed_gpt_set_compute(m, be, ED_PREC_BF16, msg, sizeof msg), 0);
        ed_gpt_set_recompute(m, run & 1);
        double loss;
        long cnt;
        ed_gpt_zero_grad(m);
        ed_gpt_forward(m, x, y, B, T, 0.0f, 0, NULL, &loss, &cnt);
        ed_gpt_backward(m, 1.0f / (float)cnt, NULL, NULL);
        n = ed_gpt_num_params(m);
        if (!ref) {
            ref = malloc(n * sizeof *ref);
            memcpy(ref, ed_gpt_grads(m), n * sizeof *ref);
        } else {
            assert_memory_equal(ref, ed_gpt_grads(m), n * sizeof *ref);
        }
        ed_gpt_free(m);
    }
    ed_set_threads(saved);
    printf("  bf16 gradients: recompute on/off x 1/2 threads identical (%zu parameters)\n", n);
    free(ref);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bf16_rounding),
        cmocka_unit_test(test_fp16_rounding),
        cmocka_unit_test(test_emulation_switch),
        cmocka_unit_test(test_auto_rule),
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_switch),
        cmocka_unit_test(test_operand_forms),
        cmocka_unit_test(test_open_shapes),
        cmocka_unit_test(test_open_shapes_signals),
        cmocka_unit_test(test_weights_form),
        cmocka_unit_test(test_fused_backward),
        cmocka_unit_test(test_formed_activations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
