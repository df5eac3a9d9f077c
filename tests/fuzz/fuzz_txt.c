/* fuzz_txt.c — the .txt document reader (src/dataset/docs_txt.c) on arbitrary bytes.
 * Properties: it never crashes; on success every document is non-empty valid UTF-8 with
 * a NUL at [len] and a line number inside the file; on failure the message names the
 * file. */
#include "../../src/dataset/ds_lines.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ed_docs docs = {0};
    ed_error err = {{0}};
    long lines = 1;
    for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
    int rc = ds_read_txt("fuzz.txt", (const char *)data, size, 0, &docs, &err);
    if (rc == 0) {
        for (size_t i = 0; i < docs.n; i++) {
            FUZZ_CHECK(docs.len[i] > 0 && docs.text[i][docs.len[i]] == '\0', "document %zu", i);
            FUZZ_CHECK(ed_utf8_bad(docs.text[i], docs.len[i]) == docs.len[i], "document %zu is not UTF-8", i);
            FUZZ_CHECK(docs.line[i] >= 1 && docs.line[i] <= lines, "document %zu line %ld", i, docs.line[i]);
        }
    } else {
        FUZZ_CHECK(strncmp(err.msg, "fuzz.txt", 8) == 0, "message does not name the file: %s", err.msg);
    }
    ed_docs_free(&docs);
    return 0;
}
