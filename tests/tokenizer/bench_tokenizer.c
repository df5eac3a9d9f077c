/* bench_tokenizer.c — throughput of the data pipeline on one file (scripts/bench_tokenizer.sh):
 * read + split into documents, build the vocabulary, encode into windows. Prints MB/s of
 * input text for each stage (best of `reps` runs, so a busy machine skews it less). */
#include <stdio.h>
#include <stdlib.h>

#include "expert/dataset.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_tokenizer FILE [vocab_size [lowercase [reps]]]\n");
        return 2;
    }
    int vocab = argc > 2 ? atoi(argv[2]) : 10000, lower = argc > 3 ? atoi(argv[3]) : 0;
    int reps = argc > 4 ? atoi(argv[4]) : 3;
    double best_read = 1e30, best_vocab = 1e30, best_enc = 1e30;
    size_t bytes = 0, n_docs = 0, n_tokens = 0, n_windows = 0;
    int vsize = 0;
    for (int r = 0; r < reps; r++) {
        ed_error err;
        ed_docs docs;
        double t0 = ed_now();
        if (ed_docs_read(argv[1], NULL, &docs, &err) != 0) {
            fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
            return 1;
        }
        double t1 = ed_now();
        ed_tok_options o = {.kind = ED_TOK_WORD, .vocab_size = vocab, .min_freq = 1, .lowercase = lower};
        ed_tokenizer *tok = ed_tok_train(&o, (const char *const *)docs.text, docs.len, docs.n, &err);
        if (!tok) {
            fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
            return 1;
        }
        double t2 = ed_now();
        ed_dataset ds;
        ed_window_options wo = {.max_length = 512, .stride = 256};
        if (ed_dataset_build(&ds, &docs, tok, &wo, &err) != 0) {
            fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
            return 1;
        }
        double t3 = ed_now();
        bytes = 0;
        for (size_t i = 0; i < docs.n; i++) bytes += docs.len[i];
        n_docs = docs.n, n_tokens = ds.n_tokens, n_windows = ds.n_windows, vsize = ed_tok_vocab_size(tok);
        if (t1 - t0 < best_read) best_read = t1 - t0;
        if (t2 - t1 < best_vocab) best_vocab = t2 - t1;
        if (t3 - t2 < best_enc) best_enc = t3 - t2;
        ed_dataset_free(&ds);
        ed_tok_free(tok);
        ed_docs_free(&docs);
    }
    double mb = (double)bytes / 1e6;
    printf("%s: %.2f MB, %zu documents, vocab %d, %zu tokens, %zu windows (512/256)\n", argv[1], mb, n_docs, vsize,
           n_tokens, n_windows);
    printf("  read+split  %8.1f MB/s  (%.3f s)\n", mb / best_read, best_read);
    printf("  build-vocab %8.1f MB/s  (%.3f s)\n", mb / best_vocab, best_vocab);
    printf("  encode      %8.1f MB/s  (%.3f s, %.1f M tokens/s)\n", mb / best_enc, best_enc,
           (double)n_tokens / best_enc / 1e6);
    return 0;
}
