/* ckpt_fixture.h — a small but complete training snapshot for the checkpoint tests:
 * a real word tokenizer, a real tiny GPT, AdamW moments, trainer state and history,
 * all filled with distinctive values so a round trip that drops or swaps anything fails.
 * Header-only; each test program includes it once. */
#ifndef ED_TEST_CKPT_FIXTURE_H
#define ED_TEST_CKPT_FIXTURE_H

/* Needs _XOPEN_SOURCE 700 (nftw) defined before the first system header. */
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expert/checkpoint.h"

typedef struct {
    ed_options opt;
    ed_tokenizer *tok;
    ed_gpt *model;
    ed_optim optim;
    ed_train_state state;
    ed_history hist;
} fixture;

static const char *const FIXTURE_TEXTS[] = {
    "The quick brown fox jumps over the lazy dog.",
    "A checkpoint keeps everything a run needs to continue.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "The dog sleeps; the fox runs away into the brown forest.",
};

/* A history column to fill by hand: the fixture's columns have different lengths (which
 * ed_log_row never makes) to show that each column is stored on its own. */
static inline ed_dcol *hist_col(ed_history *h, const char *name) {
    const ed_dcol *c = ed_history_col(h, name);
    ED_CHECK(c, "no history column %s", name);
    return (ed_dcol *)c;
}

static inline ed_tokenizer *fixture_tokenizer(void) {
    size_t n = sizeof FIXTURE_TEXTS / sizeof FIXTURE_TEXTS[0];
    size_t lens[8];
    for (size_t i = 0; i < n; i++) lens[i] = strlen(FIXTURE_TEXTS[i]);
    ed_tok_options to = {ED_TOK_WORD, 1000, 1, 0};
    ed_error err = {{0}};
    ed_tokenizer *t = ed_tok_train(&to, FIXTURE_TEXTS, lens, n, &err);
    if (!t) {
        fprintf(stderr, "fixture tokenizer: %s\n", err.msg);
        exit(1);
    }
    return t;
}

/* d_ff and n_heads are parameters so tests can build a mismatching model. */
static inline ed_gpt *fixture_model(int vocab, int d_ff, int n_heads, uint64_t seed) {
    ed_model_config c = {.vocab_size = vocab, .d_model = 16, .n_layers = 2, .n_heads = n_heads, .d_ff = d_ff,
                         .max_seq_len = 12, .dropout = 0.0f};
    char msg[256];
    ed_gpt *m = ed_gpt_create(&c, seed, msg, sizeof msg);
    if (!m) {
        fprintf(stderr, "fixture model: %s\n", msg);
        exit(1);
    }
    return m;
}

static inline void fixture_init(fixture *f, uint64_t seed) {
    memset(f, 0, sizeof *f);
    ed_options_defaults(&f->opt);
    f->tok = fixture_tokenizer();
    f->model = fixture_model(ed_tok_vocab_size(f->tok), 32, 2, seed);
    const ed_model_config *mc = ed_gpt_config(f->model);
    f->opt.model = *mc;
    /* Non-default values of every option type, so /config round trips are visible. */
    f->opt.lr = 1.234e-3f;
    f->opt.seed = 0x8000000000000005ULL; /* above INT64_MAX: must survive as uint64 */
    f->opt.bucket_mb = 7;
    f->opt.max_steps = 123456789012L;
    f->opt.pack = 1;
    f->opt.lr_schedule = ED_SCHED_COSINE;
    snprintf(f->opt.train_file, sizeof f->opt.train_file, "data/ünïcode corpus.txt");
    f->opt.debug_exit_step = 77; /* stored, but never carried over into a resumed run */

    size_t n = ed_gpt_num_params(f->model);
    ed_optim_init(&f->optim, ED_OPT_ADAMW, 0, n, 0.9f, 0.95f, 1e-8f, 0.1f, 0.0f);
    ed_rng r;
    ed_rng_seed(&r, seed, 99);
    for (size_t i = 0; i < n; i++) {
        f->optim.m[i] = (float)ed_rng_normal(&r);
        f->optim.v[i] = ed_rng_uniform(&r);
    }
    f->optim.step = 41;

    ed_train_state_init(&f->state, seed, 4);
    ed_train_state *s = &f->state;
    s->epoch = 3;
    s->step_in_epoch = 17;
    s->epoch_windows = 17 * 24 + 5;
    s->global_step = 1234;
    s->best_val_loss = 2.718281828459045;
    s->bad_evals = 2;
    s->patience_best = 2.9;
    s->elapsed = 98.765;
    s->tokens_seen = 5000000000L;
    s->stop = 1;
    s->epoch_loss_sum = 1e9 + 0.125;
    s->epoch_count = 31337;
    s->log_loss_sum = 42.5;
    s->log_count = 99;
    s->nan_skipped = 6;
    s->data_fingerprint = 0x0123456789abcdefULL;
    s->scaler = (ed_loss_scaler){.scale = 8192.0, .growth_tracker = 1234, .skipped = 17};

    for (int e = 0; e < 3; e++) {
        ed_dcol_push(hist_col(&f->hist, "epoch"), e);
        ed_dcol_push(hist_col(&f->hist, "train_loss"), 5.0 - e * 0.25);
        ed_dcol_push(hist_col(&f->hist, "val_loss"), e == 1 ? NAN : 5.1 - e * 0.2);
        ed_dcol_push(hist_col(&f->hist, "perplexity"), exp(5.1 - e * 0.2));
        ed_dcol_push(hist_col(&f->hist, "lr"), 1e-3 / (e + 1));
    }
    for (int i = 0; i < 7; i++) ed_dcol_push(hist_col(&f->hist, "log_loss"), 1.0 / (i + 1));
    for (int i = 0; i < 7; i++) ed_dcol_push(hist_col(&f->hist, "log_step"), 10.0 * (i + 1));
    for (int i = 0; i < 5; i++) ed_dcol_push(hist_col(&f->hist, "log_loss_scale"), 65536.0 / (1 << i));
    for (int i = 0; i < 4; i++) {
        ed_dcol_push(hist_col(&f->hist, "eval_step"), 10.0 * (i + 1));
        ed_dcol_push(hist_col(&f->hist, "eval_loss"), 4.0 - 0.1 * i);
    }
    /* val_accuracy, epoch_seconds and most log_* stay empty: empty columns must survive */
}

static inline void fixture_free(fixture *f) {
    ed_tok_free(f->tok);
    ed_gpt_free(f->model);
    ed_optim_free(&f->optim);
    ed_history_free(&f->hist);
}

static inline ed_ckpt_contents fixture_contents(fixture *f) {
    ed_ckpt_contents c = {&f->opt, f->model, &f->optim, &f->state, &f->hist, f->tok, NULL};
    return c;
}

/* A private scratch directory per test program, removed at the end. */
static char fixture_dir[64];

static inline void fixture_dir_make(void) {
    snprintf(fixture_dir, sizeof fixture_dir, "/tmp/ed-ckpt-test-XXXXXX");
    if (!mkdtemp(fixture_dir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static inline const char *fixture_path(const char *name) {
    static char paths[8][256];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 256, "%s/%s", fixture_dir, name);
    return p;
}

static inline int fixture_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static inline void fixture_dir_remove(void) {
    if (fixture_dir[0]) nftw(fixture_dir, fixture_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
