/* test_atomic_file.c — the common atomic write (common.h): a new file appears whole, an
 * old one is replaced whole, and every failure leaves the old file and no .tmp. */
#include "tmpfiles.h" /* first: it sets _XOPEN_SOURCE for nftw */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "expert/common.h"

static char *slurp(const char *path) {
    char *d = NULL;
    size_t n;
    ed_error err;
    if (ed_read_file(path, &d, &n, &err) != 0) return NULL;
    return d;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_write_and_replace(void **st) {
    (void)st;
    char path[300], tmp[310];
    snprintf(path, sizeof path, "%s", tmp_path("a.txt"));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ed_error err;
    assert_int_equal(ed_write_file_atomic(path, "first", 5, "test file", &err), 0);
    char *s = slurp(path);
    assert_string_equal(s, "first");
    free(s);
    assert_false(exists(tmp));
    /* in pieces, replacing the old one */
    ed_atomic_file a;
    assert_int_equal(ed_atomic_open(&a, path, "test file", &err), 0);
    assert_int_equal(ed_atomic_write(&a, "sec", 3, &err), 0);
    s = slurp(path);
    assert_string_equal(s, "first"); /* not visible before the commit */
    free(s);
    assert_int_equal(ed_atomic_write(&a, "ond", 3, &err), 0);
    assert_int_equal(ed_atomic_commit(&a, &err), 0);
    s = slurp(path);
    assert_string_equal(s, "second");
    free(s);
    assert_false(exists(tmp));
    /* abandoned: the old file stays, the .tmp goes */
    assert_int_equal(ed_atomic_open(&a, path, "test file", &err), 0);
    assert_int_equal(ed_atomic_write(&a, "third", 5, &err), 0);
    ed_atomic_abort(&a);
    s = slurp(path);
    assert_string_equal(s, "second");
    free(s);
    assert_false(exists(tmp));
}

static void test_failures_name_the_file(void **st) {
    (void)st;
    char path[300];
    snprintf(path, sizeof path, "%s/no-such-dir/x.json", tmp_root);
    ed_error err;
    assert_int_equal(ed_write_file_atomic(path, "x", 1, "history", &err), -1);
    assert_non_null(strstr(err.msg, "x.json.tmp"));
    assert_non_null(strstr(err.msg, "No such file or directory"));
    /* the target is a directory: the rename fails, the .tmp is removed */
    char dir[300], tmp[310];
    snprintf(dir, sizeof dir, "%s/dir", tmp_root);
    assert_int_equal(mkdir(dir, 0755), 0);
    char inner[320];
    snprintf(inner, sizeof inner, "%s/keep", dir);
    assert_int_equal(ed_write_file_atomic(inner, "k", 1, "test file", &err), 0);
    assert_int_equal(ed_write_file_atomic(dir, "y", 1, "test file", &err), -1);
    assert_non_null(strstr(err.msg, "cannot rename"));
    snprintf(tmp, sizeof tmp, "%s.tmp", dir);
    assert_false(exists(tmp));
    assert_true(exists(inner));
    /* a file some other writer produced by name (HDF5) */
    snprintf(tmp, sizeof tmp, "%s", tmp_write_str("b.h5.tmp", "hdf5 bytes"));
    char b[300];
    snprintf(b, sizeof b, "%s", tmp_path("b.h5"));
    assert_int_equal(ed_commit_written_file(tmp, b, &err), 0);
    assert_false(exists(tmp));
    char *s = slurp(b);
    assert_string_equal(s, "hdf5 bytes");
    free(s);
    assert_int_equal(ed_commit_written_file(tmp, b, &err), -1); /* no .tmp any more */
    assert_non_null(strstr(err.msg, "b.h5.tmp"));
}

int main(void) {
    tmp_setup();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_and_replace),
        cmocka_unit_test(test_failures_name_the_file),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tmp_teardown();
    return rc;
}
