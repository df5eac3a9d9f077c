/* fuzz_safetensors.c — the safetensors parser (src/hf/safetensors.c) on arbitrary bytes.
 * Properties: no crash and no read outside the input (ASan); a file that parses has
 * tensors whose byte ranges lie inside the data buffer, tile it without overlap or gap,
 * and hold numel x dtype-size bytes; reading every float tensor stays in bounds; errors
 * name the file. */
#include "expert/safetensors.h"
#include "fuzz_util.h"

static size_t dsize(ed_st_dtype d) {
    switch (d) {
    case ED_ST_F64: case ED_ST_I64: return 8;
    case ED_ST_F32: case ED_ST_I32: return 4;
    case ED_ST_F16: case ED_ST_BF16: case ED_ST_I16: return 2;
    default: return 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ed_safetensors st;
    ed_error err = {{0}};
    if (ed_st_parse(&st, data, size, "fuzz.safetensors", &err) != 0) {
        FUZZ_CHECK(strncmp(err.msg, "fuzz.safetensors", 16) == 0, "message does not name the file: %s", err.msg);
        return 0;
    }
    FUZZ_CHECK(st.data >= data && st.data + st.data_len == data + size, "data buffer outside the input");
    size_t total = 0;
    for (int i = 0; i < st.n; i++) {
        const ed_st_tensor *t = &st.t[i];
        FUZZ_CHECK(t->begin <= t->end && t->end <= st.data_len, "tensor %s outside the buffer", t->name);
        FUZZ_CHECK(t->end - t->begin == t->numel * dsize(t->dtype), "tensor %s size mismatch", t->name);
        total += t->end - t->begin;
        if (t->numel <= (1u << 20)) {
            float *out = malloc((t->numel + 1) * sizeof(float));
            ed_error e2 = {{0}};
            ed_st_read_f32(&st, t, out, "fuzz.safetensors", &e2);
            free(out);
        }
    }
    FUZZ_CHECK(total == st.data_len, "tensors do not tile the buffer");
    ed_st_free(&st);
    return 0;
}
