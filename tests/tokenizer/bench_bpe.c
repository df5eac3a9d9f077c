/* bench_bpe.c — timing for scripts/bench_bpe.sh (not a test): trains a byte-level BPE on
 * a corpus file, then encodes the whole corpus twice (cold and warm encode cache).
 *   bench_bpe CORPUS(.txt|.jsonl) VOCAB_SIZE [OUT.json]
 * Prints key=value lines. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "expert/dataset.h"
#include "expert/tokenizer.h"

/* The machine may be shared: CPU seconds say what the code costs, wall seconds what it took. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s CORPUS VOCAB_SIZE [OUT.json]\n", argv[0]);
        return 2;
    }
    ed_error err;
    ed_docs docs;
    ed_read_options ro = {.text_field = "text"};
    if (ed_docs_read(argv[1], &ro, &docs, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < docs.n; i++) bytes += docs.len[i];
    ed_tok_options o = {.kind = ED_TOK_BPE, .vocab_size = atoi(argv[2]), .min_freq = 1};
    double t0 = ed_now(), c0 = cpu_now();
    ed_tokenizer *t = ed_tok_train(&o, (const char *const *)docs.text, docs.len, docs.n, &err);
    double t1 = ed_now(), c1 = cpu_now();
    if (!t) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("corpus=%s docs=%zu bytes=%zu\n", argv[1], docs.n, bytes);
    printf("train_vocab=%d train_merges=%d train_seconds=%.3f train_cpu_seconds=%.3f\n", ed_tok_vocab_size(t),
           ed_tok_vocab_size(t) - 260, t1 - t0, c1 - c0);
    for (int pass = 0; pass < 2; pass++) {
        ed_ivec ids = {0};
        double e0 = ed_now(), ec0 = cpu_now();
        for (size_t i = 0; i < docs.n; i++) ed_tok_encode(t, docs.text[i], docs.len[i], 1, &ids);
        double e1 = ed_now(), ec1 = cpu_now();
        const char *k = pass ? "warm" : "cold";
        printf("encode_%s_seconds=%.3f encode_%s_MBps=%.1f encode_%s_MBps_cpu=%.1f tokens=%zu bytes_per_token=%.2f\n", k,
               e1 - e0, k, (double)bytes / 1e6 / (e1 - e0), k, (double)bytes / 1e6 / (ec1 - ec0), ids.len,
               (double)bytes / (double)(ids.len - 2 * docs.n));
        ed_ivec_free(&ids);
    }
    if (argc > 3 && ed_tok_save(t, argv[3], &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    ed_tok_free(t);
    ed_docs_free(&docs);
    return 0;
}
