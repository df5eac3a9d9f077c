/* dump_windows.c — test helper for the PyTorch export test: the C side of "same loss in
 * C and in PyTorch from one checkpoint".
 *
 *   dump_windows CHECKPOINT TEXT_FILE IDS_OUT
 *
 * Tokenizes TEXT_FILE with the checkpoint's tokenizer into the checkpoint's windows (the
 * real dataset code), writes one window per line of IDS_OUT (space-separated token ids),
 * and prints "loss <mean over all targets> tokens <count>" computed by the C engine with
 * the checkpoint's weights, one window at a time (so no padding is involved). */
#include <stdio.h>
#include <stdlib.h>

#include "expert/checkpoint.h"
#include "ckpt_at.h"
#include "expert/dataset.h"

static void die(const ed_error *err) {
    fprintf(stderr, "dump_windows: %s\n", err->msg);
    exit(1);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: dump_windows CHECKPOINT TEXT_FILE IDS_OUT\n");
        return 2;
    }
    ed_error err = {{0}};
    ed_options o;
    ed_options_defaults(&o);
    if (at_read_options(argv[1], ED_CMD_INSPECT, &o, &err) != 0) die(&err);
    ed_tokenizer *tok = at_read_tokenizer(argv[1], &err);
    if (!tok) die(&err);
    char msg[256];
    ed_gpt *m = ed_gpt_create(&o.model, 0, msg, sizeof msg);
    if (!m) {
        fprintf(stderr, "dump_windows: %s\n", msg);
        return 1;
    }
    if (at_read_model(argv[1], m, &err) != 0) die(&err);
    ed_set_threads(1);

    ed_docs docs = {0};
    ed_read_options ro = {.text_field = o.text_field, .skip_bad_lines = 0};
    if (ed_docs_read(argv[2], &ro, &docs, &err) != 0) die(&err);
    ed_dataset ds = {0};
    ed_window_options wo = {.max_length = o.max_length, .stride = o.stride, .pack = o.pack};
    if (ed_dataset_build(&ds, &docs, tok, &wo, &err) != 0) die(&err);

    FILE *out = fopen(argv[3], "w");
    if (!out) {
        perror(argv[3]);
        return 1;
    }
    double loss = 0;
    long count = 0;
    int32_t *win = malloc((size_t)o.max_length * sizeof *win);
    for (size_t w = 0; w < ds.n_windows; w++) {
        uint64_t start;
        uint32_t wlen;
        ed_dataset_window(&ds, w, &start, &wlen);
        int len = (int)wlen;
        if (ed_dataset_tokens(&ds, start, wlen, win, &err) != 0) die(&err);
        for (int i = 0; i < len; i++) fprintf(out, i ? " %d" : "%d", win[i]);
        fputc('\n', out);
        double ls = 0;
        long c = 0;
        ed_gpt_forward(m, win, win + 1, 1, len - 1, 0.0f, 0, NULL, &ls, &c);
        loss += ls;
        count += c;
    }
    free(win);
    if (fclose(out) != 0) {
        perror(argv[3]);
        return 1;
    }
    printf("loss %.9f tokens %ld windows %zu\n", loss / (double)count, count, ds.n_windows);
    ed_dataset_free(&ds);
    ed_docs_free(&docs);
    ed_gpt_free(m);
    ed_tok_free(tok);
    return 0;
}
