/* fuzz_vocab.c — the vocabulary loader ed_tok_deserialize (vocab files and the /tokenizer
 * blob of checkpoints), word and BPE. Properties: no crash on any bytes; an accepted file
 * serializes to text that loads again into the same vocabulary (same size, same tokens);
 * encoding a short text with it gives in-range ids. */
#include "../../src/dataset/ds_lines.h"
#include "expert/tokenizer.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ed_error err = {{0}};
    ed_tokenizer *t = ed_tok_deserialize((const char *)data, size, &err);
    if (!t) {
        FUZZ_CHECK(err.msg[0], "failure without a message");
        return 0;
    }
    size_t n;
    char *s = ed_tok_serialize(t, &n);
    ed_tokenizer *u = ed_tok_deserialize(s, n, &err);
    FUZZ_CHECK(u, "re-loading the serialized vocabulary failed: %s", err.msg);
    int V = ed_tok_vocab_size(t);
    FUZZ_CHECK(V == ed_tok_vocab_size(u), "vocab size %d became %d", V, ed_tok_vocab_size(u));
    FUZZ_CHECK(ed_tok_kind_of(t) == ed_tok_kind_of(u), "kind changed");
    for (int id = 0; id < V; id++) FUZZ_CHECK(strcmp(ed_tok_token(t, id), ed_tok_token(u, id)) == 0, "token %d", id);
    static const char text[] = "the cat sat on the mat. Кто-то don't 🙂";
    ed_ivec ids = {0};
    ed_tok_encode(t, text, sizeof text - 1, 1, &ids);
    for (size_t i = 0; i < ids.len; i++) FUZZ_CHECK(ids.data[i] >= 0 && ids.data[i] < V, "id %d", ids.data[i]);
    char *d = ed_tok_decode(t, ids.data, ids.len, 1);
    FUZZ_CHECK(ed_utf8_bad(d, strlen(d)) == strlen(d), "decode produced invalid UTF-8");
    free(d);
    ed_ivec_free(&ids);
    free(s);
    ed_tok_free(u);
    ed_tok_free(t);
    return 0;
}
