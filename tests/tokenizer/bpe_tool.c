/* bpe_tool.c — a small driver for the Python parity tests (test_gpt2_parity.py,
 * test_user_tokenizers.py):
 *   bpe_tool train CORPUS VOCAB_SIZE OUT.json   learn a BPE on a text file's paragraphs
 *   bpe_tool encode TOKENIZER TEXT...           print the ids of each TEXT's bytes, one per
 *                                               line, and "--" after each file (TOKENIZER:
 *                                               any file ed_tok_load reads)
 *   bpe_tool gpt2 VOCAB.json MERGES.txt TEXT... the same with GPT-2's file pair
 *   bpe_tool info TOKENIZER                     kind, vocab size and the role ids
 *   bpe_tool decode TOKENIZER ID...             the text of the ids (skip_special), raw
 *   bpe_tool save TOKENIZER OUT                 load and save (our JSON, as checkpoints hold)
 *   bpe_tool time TOKENIZER CORPUS              encode every document of CORPUS twice (cold,
 *                                               warm); print tokens and CPU MB/s of each */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    if (argc == 3 && strcmp(argv[1], "info") == 0) {
        ed_tokenizer *t = ed_tok_load(argv[2], &err);
        if (!t) goto fail;
        printf("kind %s\nvocab %d\npad %d\nunk %d\nbos %d\neos %d\n", ed_tok_kind_names[ed_tok_kind_of(t)],
               ed_tok_vocab_size(t), ed_tok_role_id(t, ED_ROLE_PAD), ed_tok_role_id(t, ED_ROLE_UNK),
               ed_tok_role_id(t, ED_ROLE_BOS), ed_tok_role_id(t, ED_ROLE_EOS));
        ed_tok_free(t);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "decode") == 0) {
        ed_tokenizer *t = ed_tok_load(argv[2], &err);
        if (!t) goto fail;
        int32_t *ids = malloc((size_t)argc * sizeof *ids);
        for (int i = 3; i < argc; i++) ids[i - 3] = atoi(argv[i]);
        char *s = ed_tok_decode(t, ids, (size_t)(argc - 3), 1);
        fputs(s, stdout);
        free(s);
        free(ids);
        ed_tok_free(t);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "save") == 0) {
        ed_tokenizer *t = ed_tok_load(argv[2], &err);
        if (!t) goto fail;
        int rc = ed_tok_save(t, argv[3], &err);
        ed_tok_free(t);
        if (rc != 0) goto fail;
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "time") == 0) {
        ed_tokenizer *t = ed_tok_load(argv[2], &err);
        if (!t) goto fail;
        ed_docs docs;
        ed_read_options ro = {.text_field = "text"};
        if (ed_docs_read(argv[3], &ro, &docs, &err) != 0) {
            ed_tok_free(t);
            goto fail;
        }
        size_t bytes = 0;
        for (size_t i = 0; i < docs.n; i++) bytes += docs.len[i];
        for (int pass = 0; pass < 2; pass++) {
            struct timespec a, b;
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
            ed_ivec ids = {0};
            for (size_t i = 0; i < docs.n; i++) ed_tok_encode(t, docs.text[i], docs.len[i], 1, &ids);
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
            double s = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
            printf("%s %s: %zu bytes -> %zu tokens, %.3f s CPU, %.1f MB/s\n", argv[2], pass ? "warm" : "cold", bytes,
                   ids.len, s, (double)bytes / s / 1e6);
            ed_ivec_free(&ids);
        }
        ed_docs_free(&docs);
        ed_tok_free(t);
        return 0;
    }
    fprintf(stderr, "usage: bpe_tool train CORPUS VOCAB OUT.json | encode TOK TEXT... | gpt2 VOCAB MERGES TEXT... | "
                    "info TOK | decode TOK ID... | save TOK OUT | time TOK CORPUS\n");
    return 2;
fail:
    fprintf(stderr, "bpe_tool: %s\n", err.msg);
    return 1;
}
