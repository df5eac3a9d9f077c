/* fuzz_jsonl.c — the .jsonl document reader (src/dataset/ds_parse.c) on arbitrary
 * bytes, with and without --skip-bad-lines (bit 0 of the first byte), as plain documents
 * or as instruction data (bit 1: --format instruct, ds_instruct.c). Properties: no
 * crash; documents are valid UTF-8 without NUL; an example's completion spans are
 * non-empty, in order and inside its text; errors name the file. */
#include "../../src/dataset/ds_lines.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    ed_read_options opt = {.text_field = "text", .skip_bad_lines = data[0] & 1,
                           .format = data[0] & 2 ? ED_FORMAT_INSTRUCT : ED_FORMAT_AUTO};
    ed_docs docs = {0};
    ed_error err = {{0}};
    int rc = ds_read_jsonl("fuzz.jsonl", (const char *)data + 1, size - 1, 1, &opt, &docs, &err);
    if (rc == 0) {
        for (size_t i = 0; i < docs.n; i++) {
            FUZZ_CHECK(docs.text[i][docs.len[i]] == '\0', "document %zu not terminated", i);
            FUZZ_CHECK(ed_utf8_bad(docs.text[i], docs.len[i]) == docs.len[i], "document %zu is not UTF-8", i);
            FUZZ_CHECK(!docs.spans == !(data[0] & 2), "document %zu: spans do not match the format", i);
            size_t at = 0;
            for (size_t k = 0; docs.spans && k < docs.n_spans[i]; k++) {
                ed_span sp = docs.spans[i][k];
                FUZZ_CHECK(at <= sp.start && sp.start < sp.end && sp.end <= docs.len[i], "document %zu: span %zu", i, k);
                at = sp.end;
            }
            FUZZ_CHECK(!docs.spans || docs.n_spans[i] > 0, "example %zu has no completion", i);
        }
    } else {
        FUZZ_CHECK(strncmp(err.msg, "fuzz.jsonl", 10) == 0, "message does not name the file: %s", err.msg);
    }
    ed_docs_free(&docs);
    return 0;
}
