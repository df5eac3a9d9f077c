/* bench_balance.c — the work of one optimizer step under the default padding, per rank,
 * with the balanced micro-batches (src/dataset/sampler.c) and with the split they
 * replaced (slot k = positions [k*B, (k+1)*B) of the step), on a real corpus.
 *
 * A micro-batch computes on rows x its longest row tokens (padded tokens), and a step
 * lasts as long as its busiest rank, so "step work" = max over ranks of their padded
 * tokens, and tokens per unit of step work is the throughput an otherwise idle machine
 * would see, up to communication (a few % here) and the attention's T^2 share. No
 * timing: the figures do not depend on the load of a shared machine, which makes them
 * the check on scripts/bench_scaling.sh's wall-clock speedups. Not a test: see
 * scripts/bench_balance.sh.
 *
 *   ed-bench-balance [--train-file PATH] [--preset NAME] [--batch-size N] [--grad-accum N]
 *                    [--ranks "1 2 4"] [--pack] [--pad-to-max]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expert/dataset.h"
#include "expert/options.h"
#include "expert/tokenizer.h"

typedef struct {
    double tokens, work, padded; /* real tokens, sum of step work, sum of all padded tokens */
} tally;

/* One epoch (seed 1) at `world` ranks: balanced, or the old consecutive split. */
static tally run(const ed_dataset *ds, int B, int A, int world, int balanced, int pad_to) {
    tally t = {0, 0, 0};
    ed_sampler *s = calloc((size_t)world, sizeof *s);
    for (int r = 0; r < world; r++) {
        ed_sampler_init(&s[r], ds->n_windows, B, A, r, world, 1, 1);
        if (balanced) ed_sampler_set_dataset(&s[r], ds, pad_to);
    }
    uint32_t *ids = malloc(ed_sampler_max_rows(&s[0]) * sizeof *ids);
    long G = (long)B * A * world;
    for (long st = 0; st < ed_sampler_steps(&s[0]); st++) {
        double busiest = 0;
        for (int r = 0; r < world; r++) {
            double rank_work = 0;
            for (int a = 0; a < A; a++) {
                int n;
                if (balanced) {
                    n = ed_sampler_micro(&s[r], st, a, ids);
                } else { /* the old contract: slot a*W + r takes the next B positions */
                    long b0 = st * G + ((long)a * world + r) * B, end = b0 + B;
                    if (end > (long)ds->n_windows) end = (long)ds->n_windows;
                    n = b0 < end ? (int)(end - b0) : 0;
                    for (int i = 0; i < n; i++) ids[i] = ed_sampler_at(&s[0], (uint64_t)(b0 + i));
                }
                uint32_t T = 0;
                for (int i = 0; i < n; i++) {
                    uint64_t ws;
                    uint32_t wl;
                    ed_dataset_window(ds, ids[i], &ws, &wl);
                    uint32_t rowT = pad_to ? (uint32_t)pad_to : wl - 1;
                    T = rowT > T ? rowT : T;
                    t.tokens += wl - 1;
                }
                rank_work += (double)n * T;
            }
            t.padded += rank_work;
            busiest = rank_work > busiest ? rank_work : busiest;
        }
        t.work += busiest;
    }
    free(ids);
    for (int r = 0; r < world; r++) ed_sampler_free(&s[r]);
    free(s);
    return t;
}

int main(int argc, char **argv) {
    ed_options o;
    ed_error err = {{0}};
    ed_options_defaults(&o);
    const char *train = "data/fortunes-train.txt", *ranks = "1 2 4";
    int pad_max = 0;
    if (ed_options_preset(&o, "small", &err) != 0) return fprintf(stderr, "%s\n", err.msg), 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--pack")) o.pack = 1;
        else if (!strcmp(a, "--pad-to-max")) pad_max = 1;
        else if (!v) return fprintf(stderr, "ed-bench-balance: %s needs a value\n", a), 2;
        else if (!strcmp(a, "--train-file")) train = v, i++;
        else if (!strcmp(a, "--ranks")) ranks = v, i++;
        else if (!strcmp(a, "--preset")) {
            if (ed_options_preset(&o, v, &err) != 0) return fprintf(stderr, "ed-bench-balance: %s\n", err.msg), 2;
            i++;
        } else if (!strcmp(a, "--batch-size")) o.batch_size = atoi(v), i++;
        else if (!strcmp(a, "--grad-accum")) o.grad_accum = atoi(v), i++;
        else return fprintf(stderr, "ed-bench-balance: unknown option %s\n", a), 2;
    }
    if (o.batch_size < 1 || o.grad_accum < 1) return fprintf(stderr, "ed-bench-balance: bad batch size\n"), 2;
    ed_docs docs;
    ed_read_options ro = {.text_field = "text"};
    if (ed_docs_read(train, &ro, &docs, &err) != 0) return fprintf(stderr, "ed-bench-balance: %s\n", err.msg), 1;
    ed_tok_options to = {.kind = ED_TOK_WORD, .vocab_size = o.vocab_size, .min_freq = o.min_freq};
    ed_tokenizer *tok = ed_tok_train(&to, (const char *const *)docs.text, docs.len, docs.n, &err);
    ed_window_options wo = {.max_length = o.max_length, .stride = o.stride, .pack = o.pack};
    ed_dataset ds;
    if (!tok || ed_dataset_build(&ds, &docs, tok, &wo, &err) != 0)
        return fprintf(stderr, "ed-bench-balance: %s\n", err.msg), 1;
    int pad_to = pad_max ? o.max_length - 1 : 0;
    printf("# %s: %zu windows, max-length %d, batch %d x grad-accum %d per rank, %s\n", train, ds.n_windows,
           o.max_length, o.batch_size, o.grad_accum, o.pack ? "--pack" : pad_max ? "--pad-to-max" : "padded to the longest");
    printf("| ranks | split | real/padded tokens | tokens per step work | vs 1 rank (old split) |\n|---|---|---|---|---|\n");
    double base = 0;
    char list[256];
    snprintf(list, sizeof list, "%s", ranks);
    for (char *p = strtok(list, " ,"); p; p = strtok(NULL, " ,")) {
        int w = atoi(p);
        if (w < 1) return fprintf(stderr, "ed-bench-balance: bad rank count '%s'\n", p), 2;
        for (int bal = 0; bal < 2; bal++) {
            tally t = run(&ds, o.batch_size, o.grad_accum, w, bal, pad_to);
            double eff = t.tokens / t.work;
            if (base == 0) base = eff;
            printf("| %d | %s | %.1f%% | %.3f | %.2fx |\n", w, bal ? "balanced" : "old", 100.0 * t.tokens / t.padded, eff,
                   eff / base);
        }
    }
    ed_dataset_free(&ds);
    ed_tok_free(tok);
    ed_docs_free(&docs);
    return 0;
}
