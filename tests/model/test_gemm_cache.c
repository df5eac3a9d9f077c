/* test_gemm_cache.c — the measurement cache file (expert/gemm_cache.h): where it lives,
 * records written and read back, replaced, missed on another key, damaged lines warned
 * about (file:line) and dropped, and the real measurements' contracts (the MFU peak;
 * `--gemm auto`'s probe of each workload). Nothing here depends on which backend is
 * faster. */
#include "tmpfiles.h" /* first: it asks for the X/Open functions */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "expert/gemm_cache.h"
#include "expert/gpt.h"
#include "expert/options.h"

static char *slurp(const char *path) {
    char *data;
    size_t len;
    ed_error err;
    if (ed_read_file(path, &data, &len, &err) != 0) return NULL;
    return data;
}

static void test_path(void **state) {
    (void)state;
    char buf[ED_PATH_MAX];
    setenv("XDG_CACHE_HOME", "/x/cache", 1);
    setenv("HOME", "/home/u", 1);
    assert_int_equal(ed_gemm_cache_path(buf, sizeof buf), 0);
    assert_string_equal(buf, "/x/cache/expert-dist/gemm.tsv");
    setenv("XDG_CACHE_HOME", "relative/dir", 1); /* not absolute: ignored, as the XDG spec says */
    assert_int_equal(ed_gemm_cache_path(buf, sizeof buf), 0);
    assert_string_equal(buf, "/home/u/.cache/expert-dist/gemm.tsv");
    unsetenv("XDG_CACHE_HOME");
    assert_int_equal(ed_gemm_cache_path(buf, sizeof buf), 0);
    assert_string_equal(buf, "/home/u/.cache/expert-dist/gemm.tsv");
    unsetenv("HOME");
    assert_int_equal(ed_gemm_cache_path(buf, sizeof buf), -1);
    assert_string_equal(buf, "");
}

static void test_machine_key(void **state) {
    (void)state;
    ed_machine m;
    ed_machine_probe(&m);
    char key[512];
    ed_gemm_cache_machine_key(&m, key, sizeof key);
    assert_non_null(strstr(key, m.cpu));
    assert_non_null(strstr(key, "OpenBLAS"));
    assert_non_null(strstr(key, m.blas_core)); /* another OPENBLAS_CORETYPE is another key */
    assert_null(strchr(key, '\t'));
    if (m.have_onednn) assert_non_null(strstr(key, m.onednn_version));
}

static void test_put_find(void **state) {
    (void)state;
    char path[256]; /* tmp_path's buffer is reused below */
    snprintf(path, sizeof path, "%s", tmp_path("deep/er/gemm.tsv")); /* directories are created */
    ed_gemm_cache_rec r;
    ed_error err;
    char warn[512];
    assert_int_equal(ed_gemm_cache_find(path, "gemm", "cpu A", "fp32 rows=8", &r, warn, sizeof warn), 0);
    assert_string_equal(warn, ""); /* no file: nothing to warn about */
    assert_int_equal(ed_gemm_cache_put(path, "gemm", "cpu A", "fp32 rows=8", "openblas=10.5 onednn=20", &err), 0);
    assert_int_equal(ed_gemm_cache_put(path, "peak", "cpu A", "backend=openblas", "gflops_per_thread=3", &err), 0);
    assert_int_equal(ed_gemm_cache_put(path, "gemm", "cpu B", "fp32 rows=8", "openblas=1 onednn=2", &err), 0);
    assert_int_equal(ed_gemm_cache_find(path, "gemm", "cpu A", "fp32 rows=8", &r, warn, sizeof warn), 1);
    assert_string_equal(warn, "");
    double v = 0;
    assert_int_equal(ed_gemm_cache_value(&r, "onednn", &v), 0);
    assert_true(v == 20.0);
    assert_int_equal(ed_gemm_cache_value(&r, "openblas", &v), 0);
    assert_true(v == 10.5);
    assert_int_equal(ed_gemm_cache_value(&r, "open", &v), -1); /* a prefix is not a name */
    assert_int_equal(r.line, 2);
    assert_true(strstr(r.date, "UTC") != NULL);
    /* a key that differs anywhere misses */
    assert_int_equal(ed_gemm_cache_find(path, "gemm", "cpu A ", "fp32 rows=8", &r, NULL, 0), 0);
    assert_int_equal(ed_gemm_cache_find(path, "gemm", "cpu A", "fp32 rows=9", &r, NULL, 0), 0);
    assert_int_equal(ed_gemm_cache_find(path, "peak", "cpu A", "fp32 rows=8", &r, NULL, 0), 0);
    /* replacing keeps one record per key, the others untouched */
    assert_int_equal(ed_gemm_cache_put(path, "gemm", "cpu A", "fp32 rows=8", "openblas=7 onednn=8", &err), 0);
    assert_int_equal(ed_gemm_cache_find(path, "gemm", "cpu A", "fp32 rows=8", &r, NULL, 0), 1);
    assert_int_equal(ed_gemm_cache_value(&r, "onednn", &v), 0);
    assert_true(v == 8.0);
    assert_int_equal(ed_gemm_cache_find(path, "gemm", "cpu B", "fp32 rows=8", &r, NULL, 0), 1);
    char *text = slurp(path);
    int lines = 0;
    for (char *p = text; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 4); /* header + 3 records */
    free(text);
    /* values that could not be read back are refused, the file unchanged */
    assert_int_equal(ed_gemm_cache_put(path, "gemm", "cpu C", "x", "openblas=nan", &err), -1);
    assert_int_equal(ed_gemm_cache_put(path, "gemm", "cpu C", "x", "", &err), -1);
    assert_int_equal(ed_gemm_cache_find(path, "gemm", "cpu C", "x", &r, NULL, 0), 0);
    /* nothing left beside the file (the per-process name and its .tmp were renamed) */
    DIR *dir = opendir(tmp_path("deep/er"));
    assert_non_null(dir);
    int entries = 0;
    for (struct dirent *e; (e = readdir(dir));) entries += e->d_name[0] != '.';
    closedir(dir);
    assert_int_equal(entries, 1);
    /* tabs in a key cannot split a line */
    assert_int_equal(ed_gemm_cache_put(path, "gemm", "cpu\tD", "x", "a=1", &err), 0);
    assert_int_equal(ed_gemm_cache_find(path, "gemm", "cpu D", "x", &r, NULL, 0), 1);
}

#define HEADER "# expert-dist measurements v1 (docs/design.md, \"GEMM backend\"); delete to measure again\n"

static void test_damaged(void **state) {
    (void)state;
    ed_gemm_cache_rec r;
    ed_error err;
    char warn[512];
    /* line 3 damaged (a number cut short), line 2 and 4 fine */
    const char *path = tmp_write_str("damaged.tsv", HEADER "gemm\tcpu A\tw1\t2026-01-01 00:00 UTC\topenblas=1 onednn=2\n"
                                                           "gemm\tcpu A\tw2\t2026-01-01 00:00 UTC\topenblas=1 onednn=\n"
                                                           "peak\tcpu A\tw3\t2026-01-01 00:00 UTC\tgflops_per_thread=4\n");
    assert_int_equal(ed_gemm_cache_find(path, "gemm", "cpu A", "w2", &r, warn, sizeof warn), 0);
    char want[600];
    snprintf(want, sizeof want, "%s:3: damaged line: ignored, measuring again", path);
    assert_string_equal(warn, want);
    assert_int_equal(ed_gemm_cache_find(path, "peak", "cpu A", "w3", &r, warn, sizeof warn), 1);
    assert_int_equal(r.line, 4);
    assert_int_equal(ed_gemm_cache_find(path, "gemm", "cpu A", "w1", &r, NULL, 0), 1);
    /* storing the re-measured record drops the damaged line: no warning afterwards */
    assert_int_equal(ed_gemm_cache_put(path, "gemm", "cpu A", "w2", "openblas=3 onednn=4", &err), 0);
    assert_int_equal(ed_gemm_cache_find(path, "gemm", "cpu A", "w2", &r, warn, sizeof warn), 1);
    assert_string_equal(warn, "");
    assert_int_equal(ed_gemm_cache_find(path, "peak", "cpu A", "w3", &r, NULL, 0), 1);

    /* other damage: too few fields, an unknown kind, binary junk, a truncated last line */
    const char *bad[] = {"gemm\tcpu A\tw1\topenblas=1\n", "size\tcpu A\tw1\td\ta=1\n", "\x01\x02\xff\n",
                         "gemm\tcpu A\tw1\t2026-01-01 00:00 UTC\topenblas=1 onednn"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[512];
        snprintf(text, sizeof text, HEADER "%s", bad[i]);
        path = tmp_write_str("bad.tsv", text);
        assert_int_equal(ed_gemm_cache_find(path, "gemm", "cpu A", "w1", &r, warn, sizeof warn), 0);
        snprintf(want, sizeof want, "%s:2: damaged line", path);
        assert_non_null(strstr(warn, want));
    }
    /* a NUL byte (a file cut by a crash on some file systems) is damage, not the end */
    static const char nul[] = HEADER "peak\tcpu A\tw3\t2026-01-01 00:00 UTC\tg=4\n\0\0junk\n"
                                     "gemm\tcpu A\tw1\t2026-01-01 00:00 UTC\topenblas=1\n";
    path = tmp_write("nul.tsv", nul, sizeof nul - 1);
    assert_int_equal(ed_gemm_cache_find(path, "gemm", "cpu A", "w1", &r, warn, sizeof warn), 1);
    snprintf(want, sizeof want, "%s:3: damaged line", path);
    assert_non_null(strstr(warn, want));
    /* not our file (or another version): line 1, nothing in it is used */
    path = tmp_write_str("other.tsv", "# something else\ngemm\tcpu A\tw1\t2026-01-01 00:00 UTC\topenblas=1\n");
    assert_int_equal(ed_gemm_cache_find(path, "gemm", "cpu A", "w1", &r, warn, sizeof warn), 0);
    snprintf(want, sizeof want, "%s:1: not an expert-dist measurement file (v1)", path);
    assert_non_null(strstr(warn, want));
    /* a directory where the file should be: a warning, never a failure */
    path = tmp_path("adir");
    mkdir(path, 0755);
    assert_int_equal(ed_gemm_cache_find(path, "gemm", "cpu A", "w1", &r, warn, sizeof warn), 0);
    assert_non_null(strstr(warn, "ignored"));
    assert_int_equal(ed_gemm_cache_put(path, "gemm", "cpu A", "w1", "a=1", &err), -1); /* the caller warns */
}

/* The MFU reference measurement: positive, per thread, and the backend must exist. */
static void test_peak(void **state) {
    (void)state;
    char msg[256] = "";
    double gf = ed_gemm_peak_gflops(ED_GEMM_OPENBLAS, ED_PREC_FP32, 1, 0.01, msg, sizeof msg);
    assert_true(gf > 0.0);
    ed_machine m;
    ed_machine_probe(&m);
    gf = ed_gemm_peak_gflops(ED_GEMM_ONEDNN, ED_PREC_BF16, 2, 0.01, msg, sizeof msg);
    if (m.have_onednn)
        assert_true(gf > 0.0);
    else
        assert_true(gf < 0.0 && msg[0]);
}

/* --gemm auto's probe (ed_gpt_gemm_compare): for each workload a figure for every backend
 * of this build and none for the others; the distinct products it timed (train: forward
 * and both backward products, so more than forward; decode: one row and a prompt chunk);
 * the probe rows, capped; the model's own GEMM setting untouched. */
static void test_compare(void **state) {
    (void)state;
    ed_model_config c = {.vocab_size = 3000, .d_model = 64, .n_layers = 2, .n_heads = 4, .d_ff = 256,
                         .max_seq_len = 64};
    char msg[256] = "";
    ed_gpt *m = ed_gpt_create(&c, 1, msg, sizeof msg);
    assert_non_null(m);
    ed_machine mach;
    ed_machine_probe(&mach);
    int products[3];
    for (int w = ED_GEMM_WORK_TRAIN; w <= ED_GEMM_WORK_DECODE; w++) {
        ed_gemm_comparison r;
        ed_gpt_gemm_compare(m, (ed_gemm_work)w, 8 * 63, ED_PREC_FP32, &r);
        assert_true(r.gflops[ED_GEMM_AUTO] == 0.0);
        assert_true(r.gflops[ED_GEMM_OPENBLAS] > 0.0);
        assert_true(mach.have_onednn ? r.gflops[ED_GEMM_ONEDNN] > 0.0 : r.gflops[ED_GEMM_ONEDNN] == 0.0);
        assert_true(r.seconds > 0.0 && r.products > 0 && r.calls >= 2 * r.products);
        products[w] = r.products;
    }
    assert_int_equal(products[ED_GEMM_WORK_FORWARD], 5);  /* 4 Linear layers + the head */
    assert_int_equal(products[ED_GEMM_WORK_TRAIN], 15);   /* x 3 */
    assert_int_equal(products[ED_GEMM_WORK_DECODE], 9);   /* Linear at 1 and 64 rows, the head at 1 */
    assert_int_equal(ed_gpt_gemm_compare_rows(ED_GEMM_WORK_TRAIN, 8 * 63), 128);
    assert_int_equal(ed_gpt_gemm_compare_rows(ED_GEMM_WORK_FORWARD, 40), 40);
    assert_int_equal(ed_gpt_gemm_compare_rows(ED_GEMM_WORK_DECODE, 500), 64);
    assert_int_equal(ed_gpt_backend(m), ED_GEMM_OPENBLAS);
    ed_gpt_free(m);
}

int main(void) {
    tmp_setup();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path),
        cmocka_unit_test(test_machine_key),
        cmocka_unit_test(test_put_find),
        cmocka_unit_test(test_damaged),
        cmocka_unit_test(test_peak),
        cmocka_unit_test(test_compare),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tmp_teardown();
    return rc;
}
