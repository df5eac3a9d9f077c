/* fuzz_bpe.c — byte-level BPE: a tokenizer trained once on a fixed text, then every input
 * encoded and decoded. Properties (tokenizer.h): ids are in range; for valid UTF-8 input
 * decode(encode(x)) == x byte for byte; decoding any in-range ids gives valid UTF-8.
 * Every 16th input (by its first byte) also trains a small BPE on the input itself, and
 * checks that its lines counted in two counters and merged train the same BPE (any bytes). */
#include "../../src/dataset/ds_lines.h"
#include "expert/tokenizer.h"
#include "fuzz_util.h"

static ed_tokenizer *shared;

static const char *TRAIN =
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away!\n"
    "Съешь же ещё этих мягких французских булок, да выпей чаю. 1234567890 don't won't\n"
    "  multiple   spaces\tand\ttabs\n\n'quoted' \"double\" (paren) [bracket] {brace} ü é ñ 日本語 🙂\n";

static void init(void) {
    size_t len = strlen(TRAIN);
    ed_tok_options o = {.kind = ED_TOK_BPE, .vocab_size = 400, .min_freq = 1};
    ed_error err = {{0}};
    shared = ed_tok_train(&o, &TRAIN, &len, 1, &err);
    FUZZ_CHECK(shared, "training the shared BPE failed: %s", err.msg);
}

static void free_shared(void) { ed_tok_free(shared); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    init();
    atexit(free_shared);
    return 0;
}

static void round_trip(const ed_tokenizer *t, const char *text, size_t len) {
    int V = ed_tok_vocab_size(t);
    ed_ivec a = {0};
    ed_tok_encode(t, text, len, 0, &a);
    for (size_t i = 0; i < a.len; i++) FUZZ_CHECK(a.data[i] >= ED_NUM_SPECIAL && a.data[i] < V, "id %d", a.data[i]);
    char *s = ed_tok_decode(t, a.data, a.len, 0);
    FUZZ_CHECK(strlen(s) == len && memcmp(s, text, len) == 0, "decode(encode(x)) != x (%zu vs %zu bytes)", strlen(s), len);
    free(s);
    ed_ivec_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!shared) init();
    if (size < 1) return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int V = ed_tok_vocab_size(shared);
    if (ed_utf8_bad(text, len) == len) round_trip(shared, text, len);

    ed_ivec ids = {0};
    for (size_t i = 0; i + 1 < len && ids.len < 128; i += 2)
        ed_ivec_push(&ids, (int32_t)((((unsigned char)text[i] << 8) | (unsigned char)text[i + 1]) % V));
    for (int skip = 0; skip < 2; skip++) {
        char *d = ed_tok_decode(shared, ids.data, ids.len, skip);
        FUZZ_CHECK(ed_utf8_bad(d, strlen(d)) == strlen(d), "decode of ids produced invalid UTF-8");
        free(d);
    }
    ed_ivec_free(&ids);

    if ((data[0] & 15) == 0 && ed_utf8_bad(text, len) == len && len > 0) {
        ed_tok_options o = {.kind = ED_TOK_BPE, .vocab_size = 300, .min_freq = 1};
        ed_error err = {{0}};
        ed_tokenizer *t = ed_tok_train(&o, &text, &len, 1, &err);
        FUZZ_CHECK(t, "BPE training on the input failed: %s", err.msg);
        round_trip(t, text, len);
        ed_tok_free(t);
    }
    if ((data[0] & 15) == 0) {
        ed_tok_options o = {.kind = ED_TOK_BPE, .vocab_size = 290, .min_freq = 1};
        fuzz_check_counts(&o, text, len);
    }
    return 0;
}
