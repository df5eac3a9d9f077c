/* test_instruct.c — instruction data (--format instruct): the plain template's rendering
 * and completion spans, every bad line as one error naming file:line and the field, the
 * tokens and loss flags of the dataset ([BOS] prompt completion [EOS]), the -100 labels of
 * the batches (n_targets = loss tokens), --loss-on all, and truncation from the left of
 * the prompt / refusal / --truncate error with their counts. */
#include "tmpfiles.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "expert/dataset.h"

static const ed_read_options INSTRUCT = {.format = ED_FORMAT_INSTRUCT};

static void read_ok_with(const char *path, const ed_read_options *opt, ed_docs *d) {
    ed_error err = {{0}};
    if (ed_docs_read(path, opt, d, &err) != 0) fail_msg("%s", err.msg);
}

static void read_ok(const char *path, ed_docs *d) { read_ok_with(path, &INSTRUCT, d); }

static void assert_spans(const ed_docs *d, size_t i, const char *text, const char *const *completions, size_t n) {
    assert_string_equal(d->text[i], text);
    assert_non_null(d->spans);
    assert_int_equal(d->n_spans[i], n);
    for (size_t k = 0; k < n; k++) {
        ed_span s = d->spans[i][k];
        assert_int_equal(s.end - s.start, strlen(completions[k]));
        assert_memory_equal(d->text[i] + s.start, completions[k], s.end - s.start);
    }
}

static void test_render(void **state) {
    (void)state;
    const char *p = tmp_write_str("ok.jsonl",
        "{\"prompt\": \"Q: two plus two?\\nA:\", \"completion\": \" four\", \"id\": 7}\n"
        "\n"
        "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
        " {\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello.\"},"
        " {\"role\": \"user\", \"content\": \"Bye\"}, {\"role\": \"assistant\", \"content\": \"Bye!\"}]}\n"
        "{\"prompt\": \"\", \"completion\": \"все\"}\n");
    ed_docs d;
    read_ok(p, &d);
    assert_int_equal(d.n, 3);
    assert_spans(&d, 0, "Q: two plus two?\nA: four", (const char *[]){" four"}, 1);
    assert_int_equal(d.line[0], 1);
    assert_spans(&d, 1,
                 "<|system|>\nBe brief.\n<|user|>\nHi\n<|assistant|>\nHello.<|user|>\nBye\n<|assistant|>\nBye!",
                 (const char *[]){"Hello.", "Bye!"}, 2);
    assert_int_equal(d.line[1], 3);
    assert_spans(&d, 2, "все", (const char *[]){"все"}, 1);
    ed_docs_free(&d);
}

static void expect_error(const char *name, const char *line, const char *want) {
    const char *p = tmp_write_str(name, line);
    ed_docs d;
    ed_error err = {{0}};
    if (ed_docs_read(p, &INSTRUCT, &d, &err) == 0) fail_msg("%s: read, expected an error with \"%s\"", name, want);
    char where[300];
    snprintf(where, sizeof where, "%s:2:", p); /* every bad line below is the second */
    if (!strstr(err.msg, where) || !strstr(err.msg, want))
        fail_msg("%s: error \"%s\" lacks \"%s\" or \"%s\"", name, err.msg, where, want);
    assert_null(strchr(err.msg, '\n'));
}

static void test_bad_lines(void **state) {
    (void)state;
#define GOOD "{\"prompt\": \"a\", \"completion\": \"b\"}\n"
    expect_error("role.jsonl", GOOD "{\"messages\": [{\"role\": \"bot\", \"content\": \"x\"}]}\n",
                 "messages[0].role \"bot\" is not one of system, user, assistant");
    expect_error("content.jsonl",
                 GOOD "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\", \"content\": 5}]}\n",
                 "messages[1].content is a number, expected a string");
    expect_error("neither.jsonl", GOOD "{\"text\": \"plain\"}\n", "neither \"prompt\"/\"completion\" nor \"messages\"");
    expect_error("empty.jsonl", GOOD "{\"prompt\": \"a\", \"completion\": \"\"}\n", "field \"completion\" is empty");
    expect_error("blank.jsonl", GOOD "{\"prompt\": \"a\", \"completion\": \" \\n\"}\n", "field \"completion\" is empty");
    expect_error("nocomp.jsonl", GOOD "{\"prompt\": \"a\"}\n", "no \"completion\" field");
    expect_error("prompt.jsonl", GOOD "{\"prompt\": [1], \"completion\": \"b\"}\n", "field \"prompt\" is an array");
    expect_error("both.jsonl", GOOD "{\"prompt\": \"a\", \"completion\": \"b\", \"messages\": []}\n", "both");
    expect_error("list.jsonl", GOOD "{\"messages\": {\"role\": \"user\"}}\n", "field \"messages\" is an object");
    expect_error("noasst.jsonl", GOOD "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}\n", "no assistant turn");
    expect_error("emptyasst.jsonl",
                 GOOD "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\", \"content\": \"\"}]}\n",
                 "messages[1].content is empty");
    expect_error("norole.jsonl", GOOD "{\"messages\": [{\"content\": \"x\"}]}\n", "messages[0] has no \"role\"");
    expect_error("turn.jsonl", GOOD "{\"messages\": [\"hi\"]}\n", "messages[0] is a string");
    /* plain .jsonl that looks like instruction data says which flag reads it */
    const char *p = tmp_write_str("hint.jsonl", "{\"prompt\": \"a\", \"completion\": \"b\"}\n");
    ed_docs d;
    ed_error err = {{0}};
    assert_int_equal(ed_docs_read(p, NULL, &d, &err), -1);
    assert_non_null(strstr(err.msg, "--format instruct"));
    /* --skip-bad-lines: bad examples are counted and left out */
    p = tmp_write_str("skip.jsonl", GOOD "{\"messages\": [{\"role\": \"bot\", \"content\": \"x\"}]}\n" GOOD);
    ed_read_options skip = INSTRUCT;
    skip.skip_bad_lines = 1;
    read_ok_with(p, &skip, &d);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.skipped, 1);
    assert_int_equal(d.line[1], 3);
    ed_docs_free(&d);
    assert_int_equal(ed_docs_read(tmp_path("missing.jsonl"), &INSTRUCT, &d, &err), -1);
    assert_non_null(strstr(err.msg, "cannot open"));
}

/* A word tokenizer over the words of the texts: each word one token, no <UNK>. */
static ed_tokenizer *words(const ed_docs *d) {
    ed_tok_options o = {.kind = ED_TOK_WORD, .vocab_size = 1000, .min_freq = 1};
    ed_error err;
    ed_tokenizer *t = ed_tok_train(&o, (const char *const *)d->text, d->len, d->n, &err);
    assert_non_null(t);
    return t;
}

static int build(ed_dataset *ds, const ed_docs *d, const ed_tokenizer *t, int max_length, ed_loss_on on,
                 ed_truncate tr, ed_error *err) {
    ed_window_options o = {.max_length = max_length, .stride = 1, .pack = 1, .loss_on = on, .truncate = tr};
    return ed_dataset_build(ds, d, t, &o, err);
}

/* The window's tokens as words ("<BOS>" for the specials) joined by spaces. */
static void window_words(const ed_dataset *ds, const ed_tokenizer *t, size_t w, char *out, size_t cap) {
    uint64_t s;
    uint32_t len;
    ed_dataset_window(ds, w, &s, &len);
    out[0] = '\0';
    for (uint32_t i = 0; i < len; i++) {
        int32_t id = ed_dataset_id(ds, s + i);
        const char *tok = id == ed_tok_role_id(t, ED_ROLE_BOS) ? "<BOS>"
                          : id == ed_tok_role_id(t, ED_ROLE_EOS) ? "<EOS>" : ed_tok_token(t, id);
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s%s", i ? " " : "", tok);
    }
}

static void test_masks(void **state) {
    (void)state;
    const char *p = tmp_write_str("mask.jsonl",
        "{\"prompt\": \"p1 p2 p3\", \"completion\": \" c1 c2\"}\n"
        "{\"messages\": [{\"role\": \"user\", \"content\": \"u1\"}, {\"role\": \"assistant\", \"content\": \"a1\"},"
        " {\"role\": \"user\", \"content\": \"u2\"}, {\"role\": \"assistant\", \"content\": \"a2 a3\"}]}\n");
    ed_docs d;
    read_ok(p, &d);
    ed_tokenizer *t = words(&d);
    ed_dataset ds;
    ed_error err = {{0}};
    /* the preset's --pack 1 does not apply: one window per example */
    if (build(&ds, &d, t, 64, ED_LOSS_COMPLETION, ED_TRUNCATE_LEFT, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(ds.n_windows, 2);
    char buf[512];
    window_words(&ds, t, 0, buf, sizeof buf);
    assert_string_equal(buf, "<BOS> p1 p2 p3 c1 c2 <EOS>");
    /* targets p2 p3 c1 c2 EOS: only c1 c2 EOS are graded */
    ed_batch b;
    ed_batch_init(&b, 2, 63);
    uint32_t ids[2] = {0, 1};
    if (ed_batch_fill(&b, &ds, ids, 1, 0, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(b.T, 6);
    int32_t want[6] = {-100, -100, -100, 0, 0, ed_tok_role_id(t, ED_ROLE_EOS)};
    ed_ivec c = {0};
    ed_tok_encode(t, "c1 c2", 5, 0, &c);
    want[3] = c.data[0], want[4] = c.data[1];
    ed_ivec_free(&c);
    assert_memory_equal(b.targets, want, sizeof want);
    assert_int_equal(b.n_targets, 3);
    /* the conversation: EOS after each assistant turn, graded with it; headers are prompt */
    window_words(&ds, t, 1, buf, sizeof buf);
    assert_non_null(strstr(buf, "a1 <EOS>"));
    assert_true(strlen(buf) > 10 && strcmp(buf + strlen(buf) - 11, "a2 a3 <EOS>") == 0);
    if (ed_batch_fill(&b, &ds, ids, 2, 0, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(b.n_targets, 3 + 2 + 3); /* c1 c2 EOS, a1 EOS, a2 a3 EOS */
    assert_int_equal(ds.counts.examples, 2);
    assert_int_equal(ds.counts.loss_tokens, 8);
    assert_int_equal(ds.counts.truncated + ds.counts.refused, 0);
    ed_dataset_free(&ds);
    /* --loss-on all: every target of the windows */
    if (build(&ds, &d, t, 64, ED_LOSS_ALL, ED_TRUNCATE_LEFT, &err) != 0) fail_msg("%s", err.msg);
    assert_true(ds.loss_all);
    if (ed_batch_fill(&b, &ds, ids, 2, 0, &err) != 0) fail_msg("%s", err.msg);
    uint64_t s0, s1;
    uint32_t l0, l1;
    ed_dataset_window(&ds, 0, &s0, &l0);
    ed_dataset_window(&ds, 1, &s1, &l1);
    assert_int_equal(b.n_targets, (long)(l0 - 1 + l1 - 1));
    assert_int_equal(ds.counts.loss_tokens, l0 - 1 + l1 - 1);
    ed_dataset_free(&ds);
    ed_batch_free(&b);
    ed_tok_free(t);
    ed_docs_free(&d);
}

static void test_truncate(void **state) {
    (void)state;
    const char *p = tmp_write_str("long.jsonl",
        "{\"prompt\": \"p1 p2 p3 p4 p5 p6\", \"completion\": \" c1 c2\"}\n"  /* 10 tokens */
        "{\"prompt\": \"p1\", \"completion\": \" c1 c2 c3 c4 c5 c6\"}\n"     /* 9, completion + EOS 7 */
        "{\"prompt\": \"p1\", \"completion\": \" c1\"}\n");                  /* 4 */
    ed_docs d;
    read_ok(p, &d);
    ed_tokenizer *t = words(&d);
    ed_dataset ds;
    ed_error err = {{0}};
    /* 6 tokens: the first loses BOS p1..p3 (truncated), the second would lose c1 (refused) */
    if (build(&ds, &d, t, 6, ED_LOSS_COMPLETION, ED_TRUNCATE_LEFT, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(ds.counts.examples, 3);
    assert_int_equal(ds.counts.truncated, 1);
    assert_int_equal(ds.counts.refused, 1);
    assert_int_equal(ds.counts.first_refused, 2);
    assert_int_equal(ds.n_windows, 2);
    char buf[256];
    window_words(&ds, t, 0, buf, sizeof buf);
    assert_string_equal(buf, "p4 p5 p6 c1 c2 <EOS>");
    ed_dataset_free(&ds);
    /* 8 tokens: the second loses only BOS, keeping p1 before c1 */
    if (build(&ds, &d, t, 8, ED_LOSS_COMPLETION, ED_TRUNCATE_LEFT, &err) != 0) fail_msg("%s", err.msg);
    assert_int_equal(ds.counts.truncated, 2);
    assert_int_equal(ds.counts.refused, 0);
    window_words(&ds, t, 0, buf, sizeof buf);
    assert_string_equal(buf, "p2 p3 p4 p5 p6 c1 c2 <EOS>");
    window_words(&ds, t, 1, buf, sizeof buf);
    assert_string_equal(buf, "p1 c1 c2 c3 c4 c5 c6 <EOS>");
    ed_dataset_free(&ds);
    /* --truncate error: the first too-long example, by line */
    assert_int_equal(build(&ds, &d, t, 8, ED_LOSS_COMPLETION, ED_TRUNCATE_ERROR, &err), -1);
    char where[300];
    snprintf(where, sizeof where, "%s:1: the example is 10 tokens, longer than --max-length 8", p);
    if (!strstr(err.msg, where)) fail_msg("error \"%s\" lacks \"%s\"", err.msg, where);
    /* nothing fits */
    assert_int_equal(build(&ds, &d, t, 2, ED_LOSS_COMPLETION, ED_TRUNCATE_LEFT, &err), -1);
    assert_non_null(strstr(err.msg, "all 3 examples are refused"));
    ed_tok_free(t);
    ed_docs_free(&d);
}

int main(void) {
    tmp_setup();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_masks),
        cmocka_unit_test(test_truncate),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tmp_teardown();
    return rc;
}
