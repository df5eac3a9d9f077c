/* fuzz_hfjson.c — a Hugging Face tokenizer.json loaded from any bytes (ed_tok_load, which
 * routes *.json files to the tokenizer.json reader when they have a "model"). Properties:
 * no crash, no hang, no leak; a refused file gets a message naming it; an accepted one
 * encodes a fixed multilingual text and the input itself to ids in range, decodes them to
 * valid UTF-8, and survives serialization (the checkpoint blob) with the same size, roles
 * and ids. */
#include "../../src/dataset/ds_lines.h"
#include "expert/tokenizer.h"
#include "fuzz_util.h"

static void encode_check(const ed_tokenizer *t, const ed_tokenizer *u, const char *text, size_t len) {
    int V = ed_tok_vocab_size(t);
    ed_ivec a = {0}, b = {0};
    ed_tok_encode(t, text, len, 1, &a);
    ed_tok_encode(u, text, len, 1, &b);
    FUZZ_CHECK(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len * sizeof *a.data) == 0),
               "ids change through serialization");
    for (size_t i = 0; i < a.len; i++) FUZZ_CHECK(a.data[i] >= 0 && a.data[i] < V, "id %d of %d", a.data[i], V);
    char *d = ed_tok_decode(t, a.data, a.len, 0);
    FUZZ_CHECK(ed_utf8_bad(d, strlen(d)) == strlen(d), "decode produced invalid UTF-8");
    free(d);
    ed_ivec_free(&a);
    ed_ivec_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_tmp("-tokenizer.json", data, size);
    ed_error err = {{0}};
    ed_tokenizer *t = ed_tok_load(path, &err);
    if (!t) {
        FUZZ_CHECK(strstr(err.msg, path), "the message does not name the file: %s", err.msg);
        return 0;
    }
    size_t n;
    char *s = ed_tok_serialize(t, &n);
    ed_tokenizer *u = ed_tok_deserialize(s, n, &err);
    FUZZ_CHECK(u, "re-loading the serialized tokenizer failed: %s", err.msg);
    int V = ed_tok_vocab_size(t);
    FUZZ_CHECK(V == ed_tok_vocab_size(u) && ed_tok_kind_of(t) == ed_tok_kind_of(u), "size or kind changed");
    for (int r = 0; r < ED_NUM_ROLES; r++) {
        int32_t id = ed_tok_role_id(t, (ed_tok_role)r);
        FUZZ_CHECK(id == ed_tok_role_id(u, (ed_tok_role)r) && id >= -1 && id < V, "role %d: id %d", r, id);
    }
    static const char text[] = "the cat sat on the mat. Кто-то don't 🙂 12345 <|endoftext|>\n\n  x";
    encode_check(t, u, text, sizeof text - 1);
    encode_check(t, u, (const char *)data, size < 512 ? size : 512);
    free(s);
    ed_tok_free(u);
    ed_tok_free(t);
    return 0;
}
