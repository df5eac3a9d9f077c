/* test_history.c — the history files: JSON keys of the seed pipeline plus ours, NaN as
 * null, the config object, the CSV next to it, atomic replacement, and the error path. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "expert/train_state.h"

static void fill(ed_history *h, int epochs) {
    for (int e = 0; e < epochs; e++) {
        ed_dcol_push(&h->epoch, e + 1);
        ed_dcol_push(&h->train_loss, 5.0 - e);
        ed_dcol_push(&h->val_loss, e == 0 ? NAN : 4.5 - e);
        ed_dcol_push(&h->perplexity, exp(4.5 - e));
        ed_dcol_push(&h->val_accuracy, 0.1 * e);
        ed_dcol_push(&h->lr, 5e-4);
        ed_dcol_push(&h->epoch_seconds, 1.5);
    }
    for (int s = 1; s <= 3; s++) {
        ed_dcol_push(&h->log_step, 10 * s);
        ed_dcol_push(&h->log_epoch, 1);
        ed_dcol_push(&h->log_loss, 6.0 - s);
        ed_dcol_push(&h->log_lr, 5e-4);
        ed_dcol_push(&h->log_grad_norm, 0.5);
        ed_dcol_push(&h->log_tokens_per_s, 1000.0 * s);
        ed_dcol_push(&h->log_elapsed, s);
    }
}

static void test_json_and_csv(void **state) {
    (void)state;
    char dir[] = "/tmp/ed-history-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], csv[256], tmp[256];
    snprintf(path, sizeof path, "%s/history.json", dir);
    snprintf(csv, sizeof csv, "%s/history.csv", dir);
    snprintf(tmp, sizeof tmp, "%s/history.json.tmp", dir);
    ed_history h = {0};
    fill(&h, 3);
    ed_error err;
    assert_int_equal(ed_history_write(&h, path, "{\"lr\": 0.0005, \"preset\": \"tiny\"}", &err), 0);
    assert_int_equal(access(tmp, F_OK), -1); /* renamed into place */

    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    assert_non_null(root);
    json_t *tl = json_object_get(root, "train_loss"), *vl = json_object_get(root, "val_loss");
    assert_int_equal(json_array_size(tl), 3);
    assert_true(json_real_value(json_array_get(tl, 2)) == 3.0);
    assert_true(json_is_null(json_array_get(vl, 0))); /* NaN -> null */
    assert_true(json_real_value(json_array_get(vl, 1)) == 3.5);
    assert_int_equal(json_array_size(json_object_get(root, "perplexity")), 3);
    json_t *steps = json_object_get(root, "steps");
    assert_int_equal(json_array_size(json_object_get(steps, "loss")), 3);
    assert_true(json_real_value(json_array_get(json_object_get(steps, "tokens_per_s"), 2)) == 3000.0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(root, "config"), "preset")), "tiny");
    json_decref(root);

    char *text = NULL;
    size_t len = 0;
    assert_int_equal(ed_read_file(csv, &text, &len, &err), 0);
    assert_string_equal(text,
                        "epoch,train_loss,val_loss,perplexity,val_accuracy,lr,epoch_seconds\n"
                        "1,5,,90.0171313,0,0.0005,1.5\n"
                        "2,4,3.5,33.115452,0.1,0.0005,1.5\n"
                        "3,3,2.5,12.182494,0.2,0.0005,1.5\n");
    free(text);

    /* rewriting replaces the whole file */
    ed_dcol_push(&h.epoch, 4);
    ed_dcol_push(&h.train_loss, 1.0);
    assert_int_equal(ed_history_write(&h, path, NULL, &err), 0);
    root = json_load_file(path, 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_array_size(json_object_get(root, "train_loss")), 4);
    assert_null(json_object_get(root, "config"));
    json_decref(root);

    /* bad config JSON and an unwritable place fail with the path in the message */
    assert_int_equal(ed_history_write(&h, path, "{not json", &err), -1);
    assert_non_null(strstr(err.msg, "history.json"));
    assert_int_equal(ed_history_write(&h, "/nonexistent-dir/h.json", NULL, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/h.json"));

    ed_history_free(&h);
    assert_null(h.train_loss.v);
    unlink(path);
    unlink(csv);
    rmdir(dir);
}

static void test_other_name_gets_csv_suffix(void **state) {
    (void)state;
    char dir[] = "/tmp/ed-history-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], csv[256];
    snprintf(path, sizeof path, "%s/run1.hist", dir);
    snprintf(csv, sizeof csv, "%s/run1.hist.csv", dir);
    ed_history h = {0};
    fill(&h, 1);
    ed_error err;
    assert_int_equal(ed_history_write(&h, path, NULL, &err), 0);
    assert_int_equal(access(csv, R_OK), 0);
    ed_history_free(&h);
    unlink(path);
    unlink(csv);
    rmdir(dir);
}

static void test_dcol_grows(void **state) {
    (void)state;
    ed_dcol c = {0};
    for (int i = 0; i < 1000; i++) ed_dcol_push(&c, i);
    assert_int_equal(c.n, 1000);
    assert_true(c.v[999] == 999.0);
    free(c.v);
}

static void test_train_state_init(void **state) {
    (void)state;
    ed_train_state s;
    ed_train_state_init(&s, 42, 4);
    assert_true(isinf(s.best_val_loss) && s.best_val_loss > 0);
    assert_int_equal(s.world_size, 4);
    assert_int_equal(s.epoch, 0);
    assert_int_equal(s.global_step, 0);
    assert_true(s.seed == 42);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_and_csv),
        cmocka_unit_test(test_other_name_gets_csv_suffix),
        cmocka_unit_test(test_dcol_grows),
        cmocka_unit_test(test_train_state_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
