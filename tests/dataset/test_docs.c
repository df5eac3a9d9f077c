/* test_docs.c — reading .txt and .jsonl datasets: paragraphs, CRLF, BOM, start lines,
 * the text field, skipped empty documents, and every kind of bad input (written into a
 * temp dir here), each of which must give -1 and one line naming file:line. */
#include "tmpfiles.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>

#include "expert/dataset.h"

static void read_ok(const char *path, const ed_read_options *opt, ed_docs *d) {
    ed_error err = {{0}};
    if (ed_docs_read(path, opt, d, &err) != 0) fail_msg("%s", err.msg);
}

static void assert_doc(const ed_docs *d, size_t i, const char *text, long line) {
    assert_true(i < d->n);
    assert_string_equal(d->text[i], text);
    assert_int_equal(d->len[i], strlen(text));
    assert_int_equal(d->line[i], line);
}

static void test_txt_paragraphs(void **state) {
    (void)state;
    const char *p = tmp_write_str("para.txt",
                                  "\xEF\xBB\xBF" "First para line1\r\n"  /* 1 */
                                  "line2\r\n"                            /* 2 */
                                  "\r\n"                                 /* 3 */
                                  "  \t \r\n"                            /* 4 */
                                  "\n"                                   /* 5 */
                                  "\xC2\xA0\xE3\x80\x80\n"               /* 6: NBSP, ideographic space */
                                  "Второй абзац\n"                       /* 7 */
                                  " \n"                                  /* 8 */
                                  "\tThird  \n"                          /* 9 */
                                  "last line, no newline");              /* 10 */
    ed_docs d;
    read_ok(p, NULL, &d);
    assert_int_equal(d.n, 3);
    assert_doc(&d, 0, "First para line1\nline2", 1);
    assert_doc(&d, 1, "Второй абзац", 7);
    assert_doc(&d, 2, "\tThird  \nlast line, no newline", 9);
    assert_string_equal(d.path, p);
    assert_int_equal(d.skipped, 0);
    ed_docs_free(&d);
    /* upper-case extension is fine too */
    p = tmp_write_str("UPPER.TXT", "one\n\ntwo");
    read_ok(p, NULL, &d);
    assert_int_equal(d.n, 2);
    ed_docs_free(&d);
}

static void test_jsonl(void **state) {
    (void)state;
    const char *p = tmp_write_str("docs.jsonl",
                                  "{\"text\": \"a b\"}\r\n"                              /* 1 */
                                  "\n"                                                  /* 2 */
                                  "   \n"                                               /* 3 */
                                  "{\"text\": \"\"}\n"                                  /* 4: empty, skipped */
                                  "{\"text\": \" \\n\\t \"}\n"                          /* 5: blank, skipped */
                                  "{\"id\": 7, \"text\": \"Привет\\n\\nмир\", \"x\": [1]}\n" /* 6 */
                                  "{\"content\": \"c\", \"text\": \"last\"}");           /* 7 */
    ed_docs d;
    read_ok(p, NULL, &d);
    assert_int_equal(d.n, 3);
    assert_doc(&d, 0, "a b", 1);
    assert_doc(&d, 1, "Привет\n\nмир", 6);
    assert_doc(&d, 2, "last", 7);
    ed_docs_free(&d);
    /* another field name */
    p = tmp_write_str("field.jsonl", "{\"content\": \"one\"}\n{\"content\": \"two\", \"text\": 5}\n");
    ed_read_options o = {.text_field = "content"};
    read_ok(p, &o, &d);
    assert_int_equal(d.n, 2);
    assert_doc(&d, 1, "two", 2);
    ed_docs_free(&d);
}

/* Expects failure with a message holding the path, and each of the needles. */
static void expect_error(const char *path, const ed_read_options *opt, const char *n1, const char *n2) {
    ed_docs d;
    ed_error err = {{0}};
    int rc = ed_docs_read(path, opt, &d, &err);
    if (rc != -1) fail_msg("%s: read succeeded but should fail", path);
    if (!strstr(err.msg, path)) fail_msg("message \"%s\" does not name %s", err.msg, path);
    if (n1 && !strstr(err.msg, n1)) fail_msg("message \"%s\" lacks \"%s\"", err.msg, n1);
    if (n2 && !strstr(err.msg, n2)) fail_msg("message \"%s\" lacks \"%s\"", err.msg, n2);
    if (strchr(err.msg, '\n')) fail_msg("message \"%s\" is more than one line", err.msg);
    assert_int_equal(d.n, 0);
    assert_null(d.text);
}

static void test_bad_files(void **state) {
    (void)state;
    expect_error(tmp_path("missing.txt"), NULL, "cannot open", NULL);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/adir.txt", tmp_root);
    assert_int_equal(mkdir(dir, 0755), 0);
    expect_error(dir, NULL, "directory", NULL);
    expect_error(tmp_write_str("empty.txt", ""), NULL, "empty", NULL);
    expect_error(tmp_write_str("empty.jsonl", ""), NULL, "empty", NULL);
    expect_error(tmp_write_str("blank.txt", "\n  \n\t\r\n"), NULL, "no usable text", NULL);
    expect_error(tmp_write_str("bom.txt", "\xEF\xBB\xBF"), NULL, "no usable text", NULL);
    expect_error(tmp_write_str("blank.jsonl", "{\"text\": \"\"}\n\n{\"text\": \"  \"}\n"), NULL, "no usable text", NULL);
    expect_error(tmp_write_str("data.csv", "a,b\n"), NULL, ".csv", "supported: .txt, .jsonl");
    expect_error(tmp_write_str("noext", "text\n"), NULL, "(none)", ".txt, .jsonl");
}

static void test_bad_utf8(void **state) {
    (void)state;
    /* bad byte 0xC3 0x28 at offset 12 of line 2 */
    expect_error(tmp_write_str("u1.txt", "ok line\nbad \xC3\x28 here\n"), NULL, ":2:", "byte offset 12");
    /* a BOM is part of the file: offsets still count from its first byte */
    expect_error(tmp_write_str("u2.txt", "\xEF\xBB\xBFok\n\xFF\n"), NULL, ":2:", "byte offset 6");
    expect_error(tmp_write_str("u3.txt", "overlong \xC0\xAF\n"), NULL, ":1:", "byte offset 9");
    expect_error(tmp_write_str("u4.txt", "a\n\nsurrogate \xED\xA0\x80\n"), NULL, ":3:", "byte offset 13");
    expect_error(tmp_write_str("u5.txt", "cut at the end \xE2\x82"), NULL, ":1:", "byte offset 15");
    expect_error(tmp_write("u6.txt", "nul\0byte\n", 9), NULL, ":1:", "byte offset 3");
    expect_error(tmp_write_str("u7.jsonl", "{\"text\": \"ok\"}\n{\"text\": \"\xFF\"}\n"), NULL, ":2:", "byte offset 25");
}

static void test_bad_jsonl(void **state) {
    (void)state;
    const char *good = "{\"text\": \"fine\"}\n";
    char buf[256];
    snprintf(buf, sizeof buf, "%s{\"text\": oops}\n", good);
    expect_error(tmp_write_str("j1.jsonl", buf), NULL, ":2:", "not valid JSON");
    snprintf(buf, sizeof buf, "%s%s[\"text\"]\n", good, good);
    expect_error(tmp_write_str("j2.jsonl", buf), NULL, ":3:", "expected a JSON object, got an array");
    snprintf(buf, sizeof buf, "%s\"just a string\"\n", good);
    expect_error(tmp_write_str("j3.jsonl", buf), NULL, ":2:", "got a string");
    snprintf(buf, sizeof buf, "%s{\"body\": \"x\"}\n", good);
    expect_error(tmp_write_str("j4.jsonl", buf), NULL, ":2:", "no \"text\" field");
    snprintf(buf, sizeof buf, "{\"text\": 42}\n%s", good);
    expect_error(tmp_write_str("j5.jsonl", buf), NULL, ":1:", "\"text\" is a number");
    snprintf(buf, sizeof buf, "%s{\"text\": null}\n", good);
    expect_error(tmp_write_str("j6.jsonl", buf), NULL, ":2:", "is null");
    snprintf(buf, sizeof buf, "%s{\"text\": \"a\"} trailing\n", good);
    expect_error(tmp_write_str("j7.jsonl", buf), NULL, ":2:", "not valid JSON");
    snprintf(buf, sizeof buf, "%s{\"text\": \"a\\u0000b\"}\n", good);
    expect_error(tmp_write_str("j8.jsonl", buf), NULL, ":2:", "not valid JSON");
    ed_read_options o = {.text_field = "body"};
    expect_error(tmp_write_str("j9.jsonl", good), &o, ":1:", "no \"body\" field");
}

static void test_skip_bad_lines(void **state) {
    (void)state;
    const char *p = tmp_write_str("skip.jsonl",
                                  "{\"text\": \"one\"}\n"
                                  "not json\n"
                                  "{\"other\": 1}\n"
                                  "\n"
                                  "{\"text\": \"\xFF\"}\n"
                                  "[1]\n"
                                  "{\"text\": 3}\n"
                                  "{\"text\": \"two\"}\n");
    ed_read_options o = {.skip_bad_lines = 1};
    ed_docs d;
    read_ok(p, &o, &d);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.skipped, 5);
    assert_doc(&d, 1, "two", 8);
    ed_docs_free(&d);
    /* the same file fails at its first bad line without the option */
    expect_error(p, NULL, ":2:", "not valid JSON");
    /* a file of nothing but bad lines is still an error */
    expect_error(tmp_write_str("allbad.jsonl", "x\ny\n"), &o, "no usable text", "2 non-blank lines");
    /* .txt has no lines to skip: invalid UTF-8 stays fatal there */
    expect_error(tmp_write_str("skip.txt", "ok\n\xFF\n"), &o, ":2:", "UTF-8");
}

int main(void) {
    tmp_setup();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_txt_paragraphs), cmocka_unit_test(test_jsonl),      cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_bad_utf8),       cmocka_unit_test(test_bad_jsonl),  cmocka_unit_test(test_skip_bad_lines),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tmp_teardown();
    return rc;
}
