/* test_packed.c — packed rows compute what padded rows compute (issue 24).
 *
 * Windows of different lengths, once each in a row of its own (right-padded, targets
 * -100 at the padding: the original pipeline's batches) and once packed into shared
 * rows with segment starts and positions (ed_gpt_forward_rows). Every logit of a real
 * token, the loss sum, the target count and every gradient must agree to fp32
 * reduction-order tolerance, for a GPT-2 (learned positions: the wpe gradient lands on
 * the window's own positions) and a llama (RoPE angles from the per-token positions,
 * grouped-query attention, untied head), with and without activation recomputation.
 * A packed row with seg = pos = NULL would attend across windows and read positions
 * past the window's start: the last check shows the test can tell the difference. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "expert/gpt.h"
#include "expert/rng.h"

enum { V = 50, NW = 5, TMAX = 12 };
/* window lengths (inputs) and the packed layout: row 0 = w0 | w3, row 1 = w1 | w2 | w4 */
static const int LEN[NW] = {7, 6, 3, 4, 2};
static const int ROW[NW] = {0, 1, 1, 0, 1};
static const int OFF[NW] = {0, 0, 6, 7, 9};
enum { PB = 2, PT = 11 }; /* packed: 2 rows of 11 */

static ed_model_config config(int llama, int max_seq_len) {
    ed_model_config c = {.vocab_size = V, .d_model = 24, .n_layers = 2, .n_heads = 4, .d_ff = 40,
                         .max_seq_len = max_seq_len};
    if (llama) {
        c.arch = ED_ARCH_LLAMA;
        c.n_kv_heads = 2;
        c.rope_theta = 10000.0f;
        c.rms_eps = 1e-6f;
    }
    return c;
}

typedef struct {
    double loss;
    long count;
    float *logits; /* [NW][TMAX][V]: each window's token logits */
    float *grads;
} result;

static void run(ed_gpt *m, const int32_t *in, const int32_t *tg, const int *seg, const int *pos, int B, int T,
                int packed, result *r) {
    size_t np = ed_gpt_num_params(m);
    ed_gpt_zero_grad(m);
    ed_gpt_forward_rows(m, in, tg, seg, pos, B, T, 0.0f, 0, NULL, &r->loss, &r->count);
    const float *z = ed_gpt_logits(m); /* NULL under recomputation: loss and gradients only */
    r->logits = calloc((size_t)NW * TMAX * V, sizeof(float));
    for (int w = 0; z && w < NW; w++)
        for (int t = 0; t < LEN[w]; t++) {
            size_t row = packed ? (size_t)ROW[w] * T + (size_t)(OFF[w] + t) : (size_t)w * T + (size_t)t;
            memcpy(r->logits + ((size_t)w * TMAX + t) * V, z + row * V, V * sizeof(float));
        }
    ed_gpt_backward(m, 1.0f, NULL, NULL);
    r->grads = malloc(np * sizeof(float));
    memcpy(r->grads, ed_gpt_grads(m), np * sizeof(float));
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
    return worst;
}

static void compare(int llama, int recompute) {
    ed_model_config cfg = config(llama, TMAX);
    char msg[128];
    ed_gpt *m = ed_gpt_create(&cfg, 11, msg, sizeof msg);
    assert_non_null(m);
    ed_gpt_set_recompute(m, recompute);
    size_t np = ed_gpt_num_params(m);
    ed_rng r;
    ed_rng_seed(&r, 3, 9);
    int32_t tok[NW][TMAX + 1];
    for (int w = 0; w < NW; w++)
        for (int t = 0; t <= LEN[w]; t++) tok[w][t] = (int32_t)(ed_rng_u64(&r) % V);

    /* padded: one window a row */
    int32_t pin[NW * TMAX], ptg[NW * TMAX];
    for (int w = 0; w < NW; w++)
        for (int t = 0; t < TMAX; t++) {
            pin[w * TMAX + t] = t < LEN[w] ? tok[w][t] : 0;
            ptg[w * TMAX + t] = t < LEN[w] ? tok[w][t + 1] : ED_IGNORE_INDEX;
        }
    /* packed: the layout above; padding continues the row's last segment */
    int32_t kin[PB * PT], ktg[PB * PT];
    int seg[PB * PT], pos[PB * PT];
    for (int i = 0; i < PB * PT; i++) kin[i] = 0, ktg[i] = ED_IGNORE_INDEX, seg[i] = -1;
    for (int w = 0; w < NW; w++)
        for (int t = 0; t < LEN[w]; t++) {
            int at = ROW[w] * PT + OFF[w] + t;
            kin[at] = tok[w][t];
            ktg[at] = tok[w][t + 1];
            seg[at] = OFF[w];
            pos[at] = t;
        }
    for (int b = 0; b < PB; b++)
        for (int t = 0; t < PT; t++)
            if (seg[b * PT + t] < 0) {
                seg[b * PT + t] = t ? seg[b * PT + t - 1] : 0;
                pos[b * PT + t] = t - seg[b * PT + t];
            }

    result pad, pk, plain;
    run(m, pin, ptg, NULL, NULL, NW, TMAX, 0, &pad);
    run(m, kin, ktg, seg, pos, PB, PT, 1, &pk);
    assert_int_equal(pad.count, pk.count);
    assert_true(fabs(pad.loss - pk.loss) <= 1e-5 * fabs(pad.loss));
    double dz = max_abs_diff(pad.logits, pk.logits, (size_t)NW * TMAX * V);
    double dg = max_abs_diff(pad.grads, pk.grads, np);
    printf("%s%s: loss %.7f vs %.7f, max logit diff %.2e, max grad diff %.2e\n", llama ? "llama" : "gpt2",
           recompute ? " (recompute)" : "", pad.loss, pk.loss, dz, dg);
    assert_true(dz < 2e-5);
    assert_true(dg < 2e-5);

    /* the same packed rows as plain causal sequences differ: the check has teeth */
    run(m, kin, ktg, NULL, NULL, PB, PT, 1, &plain);
    assert_true(fabs(pad.loss - plain.loss) > 1e-4 * fabs(pad.loss));
    assert_true(max_abs_diff(pad.grads, plain.grads, np) > 1e-4);
    free(pad.logits), free(pad.grads), free(pk.logits), free(pk.grads), free(plain.logits), free(plain.grads);
    ed_gpt_free(m);
}

static void test_gpt2(void **state) {
    (void)state;
    compare(0, 0);
    compare(0, 1);
}

static void test_llama(void **state) {
    (void)state;
    compare(1, 0);
    compare(1, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_gpt2), cmocka_unit_test(test_llama)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
