/* fuzz_word.c — the word tokenizer: train on the input, encode it, decode, encode again.
 * The vocabulary comes from the input itself, so no word is unknown, and the contract
 * (tokenizer.h, docs/formats.md) promises that decoding then encoding gives the same ids.
 * Also decodes arbitrary in-range ids (what `generate` does) and checks the result is
 * valid UTF-8. Only valid UTF-8 is fed to encode: datasets validate before tokenizing.
 * The input's lines counted in two counters and merged train the same tokenizer (small
 * vocabulary, min_freq 2, so the cut-off and the ties matter). */
#include "../../src/dataset/ds_lines.h"
#include "expert/tokenizer.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int lowercase = data[0] & 1;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    if (ed_utf8_bad(text, len) != len) return 0;
    ed_tok_options o = {.kind = ED_TOK_WORD, .vocab_size = 1 << 20, .min_freq = 1, .lowercase = lowercase};
    ed_error err = {{0}};
    const char *texts[1] = {text};
    ed_tokenizer *t = ed_tok_train(&o, texts, &len, 1, &err);
    FUZZ_CHECK(t, "training failed: %s", err.msg);
    int V = ed_tok_vocab_size(t);

    ed_ivec a = {0}, b = {0};
    ed_tok_encode(t, text, len, 0, &a);
    for (size_t i = 0; i < a.len; i++) FUZZ_CHECK(a.data[i] >= 0 && a.data[i] < V, "id %d out of range", a.data[i]);
    char *s = ed_tok_decode(t, a.data, a.len, 0);
    FUZZ_CHECK(ed_utf8_bad(s, strlen(s)) == strlen(s), "decode produced invalid UTF-8");
    int has_unk = 0;
    for (size_t i = 0; i < a.len; i++) has_unk |= a.data[i] == ED_UNK;
    ed_tok_encode(t, s, strlen(s), 0, &b);
    if (!has_unk) {
        FUZZ_CHECK(a.len == b.len, "re-encoding the decoded text gives %zu ids, not %zu", b.len, a.len);
        for (size_t i = 0; i < a.len; i++) FUZZ_CHECK(a.data[i] == b.data[i], "id %zu differs after decode", i);
    }
    free(s);

    /* Arbitrary in-range ids, specials included. */
    ed_ivec ids = {0};
    for (size_t i = 0; i < len && i < 64; i++) ed_ivec_push(&ids, (int32_t)((unsigned char)text[i] % (unsigned)V));
    for (int skip = 0; skip < 2; skip++) {
        char *d = ed_tok_decode(t, ids.data, ids.len, skip);
        FUZZ_CHECK(ed_utf8_bad(d, strlen(d)) == strlen(d), "decode of ids produced invalid UTF-8");
        free(d);
    }
    ed_ivec_free(&ids);
    ed_tok_options small = {.kind = ED_TOK_WORD, .vocab_size = 12, .min_freq = 2, .lowercase = lowercase};
    fuzz_check_counts(&small, text, len);
    ed_ivec_free(&a);
    ed_ivec_free(&b);
    ed_tok_free(t);
    return 0;
}
