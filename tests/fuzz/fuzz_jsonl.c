/* fuzz_jsonl.c — the .jsonl document reader (src/dataset/docs_jsonl.c) on arbitrary
 * bytes, with and without --skip-bad-lines (chosen by the first byte). Properties: no
 * crash; documents are valid UTF-8 without NUL; errors name the file. */
#include "../../src/dataset/ds_lines.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    ed_read_options opt = {.text_field = "text", .skip_bad_lines = data[0] & 1};
    ed_docs docs = {0};
    ed_error err = {{0}};
    int rc = ds_read_jsonl("fuzz.jsonl", (const char *)data + 1, size - 1, 1, &opt, &docs, &err);
    if (rc == 0) {
        for (size_t i = 0; i < docs.n; i++) {
            FUZZ_CHECK(docs.text[i][docs.len[i]] == '\0', "document %zu not terminated", i);
            FUZZ_CHECK(ed_utf8_bad(docs.text[i], docs.len[i]) == docs.len[i], "document %zu is not UTF-8", i);
        }
    } else {
        FUZZ_CHECK(strncmp(err.msg, "fuzz.jsonl", 10) == 0, "message does not name the file: %s", err.msg);
    }
    ed_docs_free(&docs);
    return 0;
}
