/* ckpt_dump.c — what tests/hf/test_hf.py needs from a checkpoint without h5py:
 *   ckpt_dump CKPT params OUT.f32            the flat parameters (state_dict order)
 *   ckpt_dump CKPT logits IDS.i32 OUT.f32    logits [T][V] of one sequence of our ids
 * Exit 1 with the reader's error on a bad checkpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expert/checkpoint.h"


static void write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "%s: cannot write\n", path);
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc < 4 || (strcmp(argv[2], "logits") == 0 && argc != 5)) {
        fprintf(stderr, "usage: ckpt_dump CKPT params OUT | CKPT logits IDS.i32 OUT\n");
        return 2;
    }
    ed_error err = {{0}};
    ed_options o;
    ed_options_defaults(&o);
    ed_tokenizer *tok = NULL;
    ed_gpt *m = NULL;
    if (ed_ckpt_load_file(argv[1], ED_CKPT_USES_MODEL, &o, NULL, &tok, &m, NULL, &err) != 0) {
        fprintf(stderr, "ckpt_dump: %s\n", err.msg);
        return 1;
    }
    if (strcmp(argv[2], "params") == 0) {
        write_file(argv[3], ed_gpt_params(m), ed_gpt_num_params(m) * sizeof(float));
    } else {
        FILE *f = fopen(argv[3], "rb");
        int32_t ids[4096];
        size_t T = f ? fread(ids, sizeof(int32_t), 4096, f) : 0;
        if (f) fclose(f);
        if (T < 1) {
            fprintf(stderr, "%s: no ids\n", argv[3]);
            return 1;
        }
        ed_gpt_forward(m, ids, NULL, 1, (int)T, 0.0f, 0, NULL, NULL, NULL);
        write_file(argv[4], ed_gpt_logits(m), T * (size_t)ed_gpt_config(m)->vocab_size * sizeof(float));
    }
    ed_gpt_free(m);
    ed_tok_free(tok);
    return 0;
}
