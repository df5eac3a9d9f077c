/* bpe_tool.c — a small driver for the Python parity test (test_gpt2_parity.py):
 *   bpe_tool train CORPUS VOCAB_SIZE OUT.json   learn a BPE on a text file's paragraphs
 *   bpe_tool encode TOKENIZER.json TEXT...      print the ids of each TEXT's bytes, one per
 *                                               line, and "--" after each file
 *   bpe_tool gpt2 VOCAB.json MERGES.txt TEXT... the same with GPT-2's file pair */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expert/dataset.h"
#include "expert/tokenizer.h"

static int encode_files(ed_tokenizer *t, char **paths, int n) {
    int rc = 0;
    for (int k = 0; k < n && rc == 0; k++) {
        char *data;
        size_t len;
        ed_error err;
        if (ed_read_file(paths[k], &data, &len, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            rc = 1;
            break;
        }
        ed_ivec ids = {0};
        ed_tok_encode(t, data, len, 0, &ids);
        for (size_t i = 0; i < ids.len; i++) printf("%d\n", ids.data[i]);
        printf("--\n");
        ed_ivec_free(&ids);
        free(data);
    }
    ed_tok_free(t);
    return rc;
}

int main(int argc, char **argv) {
    ed_error err;
    if (argc == 5 && strcmp(argv[1], "train") == 0) {
        ed_docs docs;
        ed_read_options ro = {.text_field = "text"};
        if (ed_docs_read(argv[2], &ro, &docs, &err) != 0) goto fail;
        ed_tok_options o = {.kind = ED_TOK_BPE, .vocab_size = atoi(argv[3]), .min_freq = 1};
        ed_tokenizer *t = ed_tok_train(&o, (const char *const *)docs.text, docs.len, docs.n, &err);
        ed_docs_free(&docs);
        if (!t || ed_tok_save(t, argv[4], &err) != 0) goto fail;
        ed_tok_free(t);
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "encode") == 0) {
        ed_tokenizer *t = ed_tok_load(argv[2], &err);
        if (!t) goto fail;
        return encode_files(t, argv + 3, argc - 3);
    }
    if (argc >= 5 && strcmp(argv[1], "gpt2") == 0) {
        ed_tokenizer *t = ed_tok_load_gpt2(argv[2], argv[3], &err);
        if (!t) goto fail;
        return encode_files(t, argv + 4, argc - 4);
    }
    fprintf(stderr, "usage: bpe_tool train CORPUS VOCAB OUT.json | encode TOK.json TEXT... | gpt2 VOCAB MERGES TEXT...\n");
    return 2;
fail:
    fprintf(stderr, "bpe_tool: %s\n", err.msg);
    return 1;
}
