/* test_optim.c — optimizer, clipping and schedule checks against closed forms, and the
 * property ZeRO-1 relies on: updating [0,k) and [k,n) separately equals one update. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "expert/gpt.h"
#include "expert/optim.h"
#include "expert/rng.h"

static void test_schedules(void **state) {
    (void)state;
    const float base = 1.0f, lo = 0.1f;
    const long warm = 10, total = 110;
    for (long s = 0; s < 130; s++) {
        double want_warm = base * (double)(s + 1) / warm;
        double prog = s < warm ? 0.0 : fmin(1.0, (double)(s - warm) / (double)(total - warm));
        double lin = base + (lo - base) * prog;
        double cosv = lo + 0.5 * (base - lo) * (1.0 + cos(M_PI * prog));
        float c = ed_lr_at(ED_SCHED_CONSTANT, base, lo, warm, total, s);
        float l = ed_lr_at(ED_SCHED_LINEAR, base, lo, warm, total, s);
        float k = ed_lr_at(ED_SCHED_COSINE, base, lo, warm, total, s);
        if (s < warm) {
            assert_true(fabs(c - want_warm) < 1e-6 && fabs(l - want_warm) < 1e-6 && fabs(k - want_warm) < 1e-6);
        } else {
            assert_true(fabs(c - base) < 1e-6);
            assert_true(fabs(l - lin) < 1e-6);
            assert_true(fabs(k - cosv) < 1e-6);
        }
    }
    /* the end points: warmup reaches base, decay ends at min_lr */
    assert_true(fabsf(ed_lr_at(ED_SCHED_COSINE, base, lo, warm, total, warm - 1) - base) < 1e-6f);
    assert_true(fabsf(ed_lr_at(ED_SCHED_COSINE, base, lo, warm, total, total) - lo) < 1e-6f);
    assert_true(fabsf(ed_lr_at(ED_SCHED_LINEAR, base, lo, 0, total, 0) - base) < 1e-6f);
}

static void test_clip(void **state) {
    (void)state;
    assert_true(ed_clip_factor(0.5, 1.0f) == 1.0f);
    assert_true(fabsf(ed_clip_factor(4.0, 1.0f) - (float)(1.0 / (4.0 + 1e-6))) < 1e-9f);
    assert_true(ed_clip_factor(1.0, 1.0f) < 1.0f); /* coef = 1/(1+1e-6) < 1 applies, as in torch */
    size_t n = 100003;
    float *g = malloc(n * sizeof(float));
    ed_rng r;
    ed_rng_seed(&r, 3, 0);
    double ref = 0.0;
    for (size_t i = 0; i < n; i++) {
        g[i] = (float)ed_rng_normal(&r);
        ref += (double)g[i] * g[i];
    }
    assert_true(fabs(ed_sumsq(g, n) - ref) <= 1e-9 * ref);
    ed_scale(g, n, 0.5f);
    assert_true(fabs(ed_sumsq(g, n) - ref / 4) <= 1e-9 * ref);
    free(g);
}

/* Two tensors: "w" [3,4] (decayed) then "b" [5] (not). */
static void make_table(ed_tensor t[2]) {
    memset(t, 0, 2 * sizeof *t);
    strcpy(t[0].name, "w");
    t[0].ndim = 2, t[0].shape[0] = 3, t[0].shape[1] = 4, t[0].offset = 0, t[0].numel = 12;
    t[0].weight_decay = 1;
    strcpy(t[1].name, "b");
    t[1].ndim = 1, t[1].shape[0] = 5, t[1].shape[1] = 1, t[1].offset = 12, t[1].numel = 5;
}

static void test_adamw_closed_form(void **state) {
    (void)state;
    ed_tensor t[2];
    make_table(t);
    float p[17], g[17];
    double pd[17], m[17] = {0}, v[17] = {0};
    for (int i = 0; i < 17; i++) pd[i] = p[i] = 0.1f * (float)(i - 8);
    ed_optim o;
    const float lr = 0.01f, b1 = 0.9f, b2 = 0.99f, eps = 1e-8f, wd = 0.5f;
    ed_optim_init(&o, ED_OPT_ADAMW, 0, 17, b1, b2, eps, wd, 0.0f);
    for (int s = 1; s <= 3; s++) {
        for (int i = 0; i < 17; i++) g[i] = 0.3f * (float)((i * 7 + s * 3) % 11) - 1.2f;
        ed_optim_step(&o, p, g, t, 2, lr);
        for (int i = 0; i < 17; i++) {
            double w = i < 12 ? wd : 0.0;
            pd[i] *= 1.0 - lr * w;
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * (double)g[i] * g[i];
            double mh = m[i] / (1 - pow(b1, s)), vh = v[i] / (1 - pow(b2, s));
            pd[i] -= lr * mh / (sqrt(vh) + eps);
        }
    }
    assert_int_equal(o.step, 3);
    for (int i = 0; i < 17; i++) assert_true(fabs(p[i] - pd[i]) < 1e-6);
    ed_optim_free(&o);
}

static void test_sgd_closed_form(void **state) {
    (void)state;
    ed_tensor t[2];
    make_table(t);
    float p[17], g[17];
    double pd[17], buf[17] = {0};
    for (int i = 0; i < 17; i++) pd[i] = p[i] = 0.05f * (float)i;
    ed_optim o;
    ed_optim_init(&o, ED_OPT_SGD, 0, 17, 0, 0, 0, 0.1f, 0.9f);
    assert_null(o.v);
    for (int s = 1; s <= 3; s++) {
        for (int i = 0; i < 17; i++) g[i] = (float)((i + s) % 5) - 2.0f;
        ed_optim_step(&o, p, g, t, 2, 0.2f);
        for (int i = 0; i < 17; i++) {
            double gi = g[i] + (i < 12 ? 0.1 * pd[i] : 0.0);
            buf[i] = s == 1 ? gi : 0.9 * buf[i] + gi; /* torch: buf = g on the first step */
            pd[i] -= 0.2 * buf[i];
        }
    }
    for (int i = 0; i < 17; i++) assert_true(fabs(p[i] - pd[i]) < 1e-5);
    ed_optim_free(&o);
}

/* ZeRO-1 shards: [0,k) and [k,n) updated by separate optimizers == one optimizer. */
static void test_ranges(void **state) {
    (void)state;
    ed_tensor t[2];
    make_table(t);
    for (int kind = 0; kind <= 1; kind++)
        for (size_t k = 0; k <= 17; k++) {
            float p1[17], p2[17], g[17];
            for (int i = 0; i < 17; i++) p1[i] = p2[i] = 0.01f * (float)(i * i % 13);
            ed_optim whole, a, b;
            ed_optim_init(&whole, (ed_opt_kind)kind, 0, 17, 0.9f, 0.999f, 1e-8f, 0.1f, 0.9f);
            ed_optim_init(&a, (ed_opt_kind)kind, 0, k, 0.9f, 0.999f, 1e-8f, 0.1f, 0.9f);
            ed_optim_init(&b, (ed_opt_kind)kind, k, 17, 0.9f, 0.999f, 1e-8f, 0.1f, 0.9f);
            for (int s = 0; s < 3; s++) {
                for (int i = 0; i < 17; i++) g[i] = (float)((i * 5 + s) % 7) - 3.0f;
                ed_optim_step(&whole, p1, g, t, 2, 0.01f);
                ed_optim_step(&a, p2, g, t, 2, 0.01f);
                ed_optim_step(&b, p2, g, t, 2, 0.01f);
            }
            assert_memory_equal(p1, p2, sizeof p1);
            ed_optim_free(&whole), ed_optim_free(&a), ed_optim_free(&b);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedules),         cmocka_unit_test(test_clip),
        cmocka_unit_test(test_adamw_closed_form), cmocka_unit_test(test_sgd_closed_form),
        cmocka_unit_test(test_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
