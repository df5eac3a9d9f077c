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
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "expert/tensorboard.h"
#include "expert/train_state.h"

/* Rows as the trainer logs them, through the one log call (no live files). */
static void fill(ed_history *h, int epochs) {
    for (int e = 0; e < epochs; e++) {
        ed_row r = {.kind = ED_ROW_EPOCH, .step = 10 * (e + 1), .epoch = e + 1, .train_loss = 5.0 - e,
                    .val_loss = e == 0 ? NAN : 4.5 - e, .perplexity = exp(4.5 - e), .accuracy = 0.1 * e,
                    .lr = 5e-4, .seconds = 1.5};
        ed_log_row(h, NULL, &r);
    }
    for (int s = 1; s <= 3; s++) {
        ed_row r = {.kind = ED_ROW_LOG, .step = 10 * s, .epoch = 1, .loss = 6.0 - s, .lr = 5e-4, .grad_norm = 0.5,
                    .tokens_per_s = 1000.0 * s, .elapsed = s};
        ed_log_row(h, NULL, &r);
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
    ed_row r = {.kind = ED_ROW_EPOCH, .epoch = 4, .train_loss = 1.0, .val_loss = NAN};
    ed_log_row(&h, NULL, &r);
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
    assert_null(ed_history_col(&h, "train_loss")->v);
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

/* metrics.jsonl lines come from the same column table: one line per row, its kind's
 * columns in order, integers as integers, NaN as null, "best" as a boolean. */
static void test_metrics_lines(void **state) {
    (void)state;
    char dir[] = "/tmp/ed-metrics-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    ed_metrics m;
    ed_error err;
    assert_int_equal(ed_metrics_open(&m, path, -1, &err), 0);
    ed_history h = {0};
    ed_row rows[] = {
        {.kind = ED_ROW_LOG, .step = 40, .epoch = 1, .loss = 7.25, .lr = 5e-4, .grad_norm = 1.5, .tokens_per_s = 3980.5,
         .elapsed = 53.125, .mfu = 0.25, .loss_scale = 32768, .scale_skipped = 2, .mem_private = 116.25, .mem_file = NAN},
        {.kind = ED_ROW_VAL, .step = 50, .epoch = 1, .val_loss = 5.5, .perplexity = 244.691932, .accuracy = 0.25, .best = 1,
         .bleu = NAN, .rouge1 = NAN, .rouge2 = NAN, .rougeL = NAN},
        {.kind = ED_ROW_EPOCH, .step = 60, .epoch = 1, .train_loss = 5.75, .val_loss = NAN, .perplexity = NAN,
         .accuracy = NAN, .lr = 5e-4, .seconds = 812.5},
    };
    for (size_t i = 0; i < 3; i++) ed_log_row(&h, &m, &rows[i]);
    ed_metrics_close(&m);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(ed_read_file(path, &text, &len, &err), 0);
    assert_string_equal(text,
                        "{\"type\": \"log\", \"step\": 40, \"epoch\": 1, \"loss\": 7.25, \"lr\": 0.0005, \"grad_norm\": 1.5, "
                        "\"tokens_per_s\": 3980.5, \"elapsed\": 53.125, \"mfu\": 0.25, \"loss_scale\": 32768, "
                        "\"scale_skipped\": 2, \"mem_private_mb\": 116.25, \"mem_file_mb\": null}\n"
                        "{\"type\": \"val\", \"step\": 50, \"epoch\": 1, \"val_loss\": 5.5, \"perplexity\": 244.691932, "
                        "\"val_accuracy\": 0.25, \"best\": true, \"bleu\": null, \"rouge1\": null, \"rouge2\": null, "
                        "\"rougeL\": null}\n"
                        "{\"type\": \"epoch\", \"step\": 60, \"epoch\": 1, \"train_loss\": 5.75, \"val_loss\": null, "
                        "\"perplexity\": null, \"val_accuracy\": null, \"lr\": 0.0005, \"seconds\": 812.5}\n");
    free(text);
    /* and the history kept each row's kept columns: "best" and the epoch row's step are not */
    assert_int_equal(ed_history_col(&h, "log_step")->n, 1);
    assert_true(ed_history_col(&h, "eval_accuracy")->v[0] == 0.25);
    assert_true(ed_history_col(&h, "epoch_seconds")->v[0] == 812.5);
    assert_null(ed_history_col(&h, "best"));
    ed_history_free(&h);
    unlink(path);
    rmdir(dir);
}

/* CRC-32C (the TFRecord framing of TensorBoard files): the standard check value, a
 * split computation, and the empty input. tensorboard_events.py checks every record with
 * python3-crcmod's. */
static void test_crc32c(void **state) {
    (void)state;
    assert_int_equal(ed_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(ed_crc32c(ed_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
    assert_int_equal(ed_crc32c(0, "", 0), 0);
    unsigned char zeros[32] = {0};
    assert_int_equal(ed_crc32c(0, zeros, 32), 0x8A9136AAu); /* RFC 3720 B.4: 32 bytes of zeros */
}

static int count_events(const char *dir, long *bytes) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    *bytes = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strncmp(e->d_name, "events.out.tfevents.", 20) != 0) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        assert_int_equal(stat(path, &sb), 0);
        *bytes += sb.st_size;
        n++;
    }
    closedir(d);
    return n;
}

static void remove_events(const char *dir) {
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.') unlink(path);
    }
    if (d) closedir(d);
    rmdir(dir);
}

/* The TensorBoard writer's life cycle in one process (tensorboard_events.py reads the
 * records themselves): a resume cuts the earlier file and adds one, keeping the texts
 * up to the step; a fresh open removes earlier files; an impossible directory gives NULL
 * (after its one warning) and every call on NULL is a no-op. */
static void test_tensorboard_writer(void **state) {
    (void)state;
    char dir[] = "/tmp/ed-tb-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char tbdir[256], file_as_dir[320];
    snprintf(tbdir, sizeof tbdir, "%s/a/tb", dir); /* made with its parent */
    ed_tb *tb = ed_tb_open(tbdir, -1);
    assert_non_null(tb);
    ed_tb_text(tb, "config", 0, "# comment\nlr = 0.1\n");
    for (int s = 1; s <= 6; s++) {
        ed_row r = {.kind = ED_ROW_LOG, .step = s, .epoch = 1, .loss = 7.0 - s, .lr = 1e-3, .grad_norm = NAN};
        ed_tb_scalars(tb, &r);
    }
    ed_tb_close(tb);
    long full, cut;
    assert_int_equal(count_events(tbdir, &full), 1);

    tb = ed_tb_open(tbdir, 3); /* resumed at step 3 */
    assert_non_null(tb);
    assert_true(ed_tb_has_text(tb, "config", 0));
    assert_false(ed_tb_has_text(tb, "config", 3));
    ed_tb_close(tb);
    assert_int_equal(count_events(tbdir, &cut), 2);
    assert_true(cut < full);

    tb = ed_tb_open(tbdir, -1); /* a fresh run */
    assert_non_null(tb);
    assert_false(ed_tb_has_text(tb, "config", 0));
    ed_tb_close(tb);
    assert_int_equal(count_events(tbdir, &cut), 1);

    snprintf(file_as_dir, sizeof file_as_dir, "%s/events.out.tfevents.0.x", tbdir); /* a file, not a directory */
    FILE *f = fopen(file_as_dir, "w");
    fclose(f);
    assert_null(ed_tb_open(file_as_dir, -1));
    ed_tb_text(NULL, "x", 0, "y");
    ed_tb_close(NULL);

    remove_events(tbdir);
    snprintf(tbdir, sizeof tbdir, "%s/a", dir);
    rmdir(tbdir);
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
        cmocka_unit_test(test_metrics_lines),
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_tensorboard_writer),
        cmocka_unit_test(test_dcol_grows),
        cmocka_unit_test(test_train_state_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
