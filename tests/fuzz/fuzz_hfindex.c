/* fuzz_hfindex.c — the shard index of a Hugging Face model directory
 * (model.safetensors.index.json, src/hf/hf_weights.c) on arbitrary bytes.
 * Properties: no crash, no leak (LSan); an index that parses names at least one shard,
 * each a plain file name of the directory (no '/', not "." or ".."), each once; an error
 * names the file. */
#include "hf_internal.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char **files;
    int n;
    ed_error err = {{0}};
    if (hf_index_files((const char *)data, size, "fuzz.index.json", &files, &n, &err) != 0) {
        FUZZ_CHECK(strncmp(err.msg, "fuzz.index.json", 15) == 0, "message does not name the file: %s", err.msg);
        FUZZ_CHECK(files == NULL && n == 0, "a failed parse left files behind");
        return 0;
    }
    FUZZ_CHECK(n >= 1, "an index without shards parsed");
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(files[i][0] && !strchr(files[i], '/') && strcmp(files[i], ".") && strcmp(files[i], ".."),
                   "shard name %s is not a plain file name", files[i]);
        for (int j = 0; j < i; j++) FUZZ_CHECK(strcmp(files[i], files[j]) != 0, "shard %s listed twice", files[i]);
    }
    hf_index_files_free(files, n);
    return 0;
}
