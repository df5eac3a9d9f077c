/* test_options.c — the options table, value parsing, INI files, argv precedence and every
 * cross-field validation rule (the mpirun tests in cli_errors.py only sample these). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "expert/options.h"

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Parses a NULL-terminated list of arguments. */
static int parse(ed_options *o, ed_args *a, ed_error *err, ...) {
    char *argv[64];
    int argc = 0;
    va_list ap;
    va_start(ap, err);
    for (char *s; (s = va_arg(ap, char *));) argv[argc++] = s;
    va_end(ap);
    return ed_options_parse_argv(o, argc, argv, a, err);
}

static void test_table_is_consistent(void **state) {
    (void)state;
    size_t n = 0;
    const ed_option_spec *t = ed_option_table(&n);
    assert_true(n > 60);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(t[i].help);
        assert_true(t[i].offset + (t[i].type == ED_OPT_STR ? t[i].size : 1) <= sizeof(ed_options));
        assert_ptr_equal(ed_option_find(t[i].name), &t[i]);
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(t[i].name, t[j].name);
            if (t[i].short_name) assert_int_not_equal(t[i].short_name, t[j].short_name);
        }
        /* kebab-case only */
        for (const char *c = t[i].name; *c; c++) assert_true((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-');
    }
    assert_null(t[n].name);
    assert_ptr_equal(ed_option_find("grad_accum"), ed_option_find("grad-accum")); /* snake_case accepted */
    assert_null(ed_option_find("grad"));
}

static void test_defaults_and_presets(void **state) {
    (void)state;
    ed_options o;
    ed_error err;
    ed_options_defaults(&o);
    assert_int_equal(o.batch_size, 8);
    assert_int_equal(o.vocab_size, 10000);
    assert_true(fabsf(o.lr - 5e-4f) < 1e-9f);
    assert_int_equal(o.optimizer, ED_OPT_ADAMW);
    assert_int_equal(ed_options_validate(&o, &err), 0);
    assert_int_equal(ed_options_preset(&o, "tiny", &err), 0);
    assert_int_equal(o.tokenizer, ED_TOK_BPE); /* its sample reads as text: no <UNK> */
    assert_int_equal(o.model.d_model, 128);
    assert_int_equal(o.model.n_layers, 2);
    assert_int_equal(o.model.max_seq_len, 128);
    assert_int_equal(ed_options_preset(&o, "small", &err), 0);
    assert_int_equal(o.tokenizer, ED_TOK_WORD);
    assert_int_equal(o.model.d_model, 256);
    assert_int_equal(o.model.d_ff, 1024);
    assert_int_equal(ed_options_preset(&o, "seed", &err), 0);
    assert_int_equal(o.model.n_heads, 8);
    assert_int_equal(o.model.max_seq_len, 512);
    assert_int_equal(ed_options_preset(&o, "large", &err), -1);
    assert_non_null(strstr(err.msg, "unknown preset 'large'"));
}

static void test_set_values(void **state) {
    (void)state;
    ed_options o;
    ed_error err;
    ed_options_defaults(&o);
    assert_int_equal(ed_options_set(&o, "epochs", "7", &err), 0);
    assert_int_equal(o.epochs, 7);
    assert_int_equal(ed_options_set(&o, "max-steps", "123456789012", &err), 0);
    assert_int_equal(o.max_steps, 123456789012L);
    assert_int_equal(ed_options_set(&o, "seed", "18446744073709551615", &err), 0);
    assert_true(o.seed == UINT64_MAX);
    assert_int_equal(ed_options_set(&o, "bucket-mb", "16", &err), 0);
    assert_int_equal((int)o.bucket_mb, 16);
    assert_int_equal(ed_options_set(&o, "lr", "3e-4", &err), 0);
    assert_true(o.lr == 3e-4f);
    assert_int_equal(ed_options_set(&o, "pack", "yes", &err), 0);
    assert_int_equal(o.pack, 1);
    assert_int_equal(ed_options_set(&o, "pack", "off", &err), 0);
    assert_int_equal(o.pack, 0);
    assert_int_equal(ed_options_set(&o, "dropout", "0.1", &err), 0);
    assert_true(o.model.dropout == 0.1f);
    assert_int_equal(ed_options_set(&o, "optimizer", "sgd", &err), 0);
    assert_int_equal(o.optimizer, ED_OPT_SGD);

    /* rejected, with the option and the value in the message */
    assert_int_equal(ed_options_set(&o, "epochs", "1.5", &err), -1);
    assert_non_null(strstr(err.msg, "'epochs'"));
    assert_non_null(strstr(err.msg, "'1.5'"));
    assert_int_equal(ed_options_set(&o, "epochs", "", &err), -1);
    assert_int_equal(ed_options_set(&o, "epochs", "99999999999", &err), -1);
    assert_int_equal(ed_options_set(&o, "seed", "-1", &err), -1);
    assert_int_equal(ed_options_set(&o, "bucket-mb", "-4", &err), -1);
    assert_int_equal(ed_options_set(&o, "lr", "inf", &err), -1);
    assert_int_equal(ed_options_set(&o, "lr", "1e-3x", &err), -1);
    assert_int_equal(ed_options_set(&o, "pack", "maybe", &err), -1);
    assert_int_equal(ed_options_set(&o, "no-such", "1", &err), -1);
    assert_non_null(strstr(err.msg, "unknown option 'no-such'"));
    char long_text[5000];
    memset(long_text, 'a', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    assert_int_equal(ed_options_set(&o, "optimizer", long_text, &err), -1);
    assert_int_equal(ed_options_set(&o, "prompt", long_text, &err), -1);
}

static void test_format_round_trips(void **state) {
    (void)state;
    ed_options o, p;
    ed_error err;
    ed_options_defaults(&o);
    ed_options_set(&o, "lr", "0.002", &err);
    ed_options_set(&o, "prompt", "Once upon a time", &err);
    ed_options_set(&o, "lowercase", "true", &err);
    const ed_option_spec *lr = ed_option_find("lr");
    char buf[4200];
    ed_options_format(&o, lr, buf, sizeof buf);
    assert_string_equal(buf, "0.002"); /* shortest text, not 0.00200000009 */
    /* every option survives format -> set */
    ed_options_defaults(&p);
    for (const ed_option_spec *s = ed_option_table(NULL); s->name; s++) {
        if (strcmp(s->name, "preset") == 0) continue; /* applying a preset rewrites other fields */
        ed_options_format(&o, s, buf, sizeof buf);
        assert_int_equal(ed_options_set(&p, s->name, buf, &err), 0);
    }
    memcpy(p.preset, o.preset, sizeof p.preset);
    assert_memory_equal(&o, &p, sizeof o);

    char *json = ed_options_to_json(&o);
    assert_non_null(strstr(json, "\"lr\": 0.002"));
    assert_non_null(strstr(json, "\"prompt\": \"Once upon a time\""));
    assert_non_null(strstr(json, "\"lowercase\": true"));
    assert_non_null(strstr(json, "\"batch-size\": 8"));
    free(json);
}

static void test_validate_rules(void **state) {
    (void)state;
    static const struct {
        const char *key, *value, *msg;
    } bad[] = {
        {"n-heads", "3", "n-heads 3 does not divide d-model 128"},
        {"n-heads", "0", "n-heads must be >= 1"},
        {"d-model", "0", "d-model must be >= 1"},
        {"n-layers", "0", "n-layers must be >= 1"},
        {"d-ff", "0", "d-ff must be >= 1"},
        {"dropout", "1", "dropout must be in [0, 1)"},
        {"vocab-size", "4", "vocab-size must be >= 5"},
        {"min-freq", "0", "min-freq must be >= 1"},
        {"max-length", "1", "max-length must be >= 2"},
        {"max-length", "129", "max-length 129 is larger than max-seq-len 128"},
        {"stride", "0", "stride must be >= 1"},
        {"batch-size", "0", "batch-size must be >= 1"},
        {"grad-accum", "0", "grad-accum must be >= 1"},
        {"epochs", "0", "epochs must be >= 1"},
        {"max-steps", "-1", "max-steps must be >= 0"},
        {"more-epochs", "-1", "more-epochs must be >= 0"},
        {"more-epochs", "2", "give --resume PATH or --resume auto"},
        {"lr", "0", "lr must be > 0"},
        {"min-lr", "1", "min-lr must be in [0, lr]"},
        {"weight-decay", "-0.1", "weight-decay must be >= 0"},
        {"beta1", "1", "beta1 must be in [0, 1)"},
        {"beta2", "-0.5", "beta2 must be in [0, 1)"},
        {"eps", "0", "eps must be > 0"},
        {"momentum", "1", "momentum must be in [0, 1)"},
        {"label-smoothing", "1", "label-smoothing must be in [0, 1)"},
        {"max-grad-norm", "-1", "max-grad-norm must be >= 0"},
        {"warmup-steps", "-2", "warmup-steps must be >= 0"},
        {"log-interval", "0", "log-interval must be >= 1"},
        {"eval-interval", "-1", "eval-interval must be >= 0"},
        {"save-every", "-1", "save-every must be >= 0"},
        {"save-steps", "-1", "save-steps must be >= 0"},
        {"keep-last", "-1", "keep-last must be >= 0"},
        {"early-stopping-patience", "-1", "early-stopping-patience must be >= 0"},
        {"checkpoint-dir", "", "checkpoint-dir must not be empty"},
        {"compress", "10", "compress must be in 0..9"},
        {"threads", "-1", "threads must be >= 0"},
        {"bucket-mb", "0", "bucket-mb must be in 1..4096"},
        {"zero", "2", "zero must be 0 or 1"},
        {"check-every", "-1", "check-every must be >= 0"},
        {"debug-exit-rank", "-1", "debug-exit-rank must be >= 0"},
        {"debug-exit-step", "-1", "debug-exit-step must be >= 0"},
        {"debug-inf-step", "-1", "debug-inf-step must be >= 0"},
        {"loss-scale-init", "0", "loss-scale-init must be > 0 and finite"},
        {"loss-scale-init", "-1", "loss-scale-init must be > 0 and finite"},
        {"loss-scale-growth-interval", "0", "loss-scale-growth-interval must be >= 1"},
        {"ref-gflops", "-1", "ref-gflops must be >= 0"},
        {"max-new-tokens", "0", "max-new-tokens must be >= 1"},
        {"temperature", "-1", "temperature must be >= 0"},
        {"top-k", "-1", "top-k must be >= 0"},
        {"text-field", "", "text-field must not be empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ed_options o;
        ed_error err;
        ed_options_defaults(&o);
        ed_options_preset(&o, "tiny", &err);
        assert_int_equal(ed_options_validate(&o, &err), 0);
        assert_int_equal(ed_options_set(&o, bad[i].key, bad[i].value, &err), 0);
        if (ed_options_validate(&o, &err) != -1 || !strstr(err.msg, bad[i].msg))
            fail_msg("%s = %s: expected '%s', got '%s'", bad[i].key, bad[i].value, bad[i].msg, err.msg);
    }
}

/* Choices: the parser turns the name into the enum (and refuses others, listing the
 * names), the printed and JSON forms are the name, and every choice row is an int-sized
 * field with its names. */
static void test_choices(void **state) {
    (void)state;
    static const struct {
        const char *key, *value, *msg;
    } bad[] = {
        {"tokenizer", "char", "tokenizer must be word, bpe, sentencepiece or hf (got 'char')"},
        {"optimizer", "adam", "optimizer must be adamw or sgd (got 'adam')"},
        {"lr-schedule", "step", "lr-schedule must be constant, linear or cosine (got 'step')"},
        {"on-nan", "ignore", "on-nan must be skip or stop (got 'ignore')"},
    };
    ed_options o;
    ed_error err;
    ed_options_defaults(&o);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ed_options_set(&o, bad[i].key, bad[i].value, &err) != -1 || !strstr(err.msg, bad[i].msg))
            fail_msg("%s = %s: expected '%s', got '%s'", bad[i].key, bad[i].value, bad[i].msg, err.msg);
    }
    assert_int_equal(ed_options_set(&o, "tokenizer", "bpe", &err), 0);
    assert_int_equal(o.tokenizer, ED_TOK_BPE);
    assert_int_equal(ed_options_set(&o, "lr-schedule", "cosine", &err), 0);
    assert_int_equal(o.lr_schedule, ED_SCHED_COSINE);
    assert_int_equal(ed_options_set(&o, "on-nan", "stop", &err), 0);
    assert_int_equal(o.on_nan, ED_NAN_STOP);
    char buf[64];
    ed_options_format(&o, ed_option_find("tokenizer"), buf, sizeof buf);
    assert_string_equal(buf, "bpe");
    char *json = ed_options_to_json(&o);
    assert_non_null(strstr(json, "\"lr-schedule\": \"cosine\""));
    assert_non_null(strstr(json, "\"optimizer\": \"adamw\""));
    free(json);
    int n_choice = 0;
    for (const ed_option_spec *s = ed_option_table(NULL); s->name; s++) {
        if (s->type != ED_OPT_CHOICE) {
            assert_null(s->choices);
            continue;
        }
        n_choice++;
        assert_non_null(s->choices);
        assert_int_equal(s->size, sizeof(int));
        assert_true(ed_names_count(s->choices) >= 2);
    }
    assert_true(n_choice >= 4);
    /* a struct filled by hand with a value no name stands for */
    ed_options_preset(&o, "tiny", &err);
    o.optimizer = (ed_opt_kind)7;
    assert_int_equal(ed_options_validate(&o, &err), -1);
    assert_non_null(strstr(err.msg, "optimizer has no value 7"));
}

static void test_ini(void **state) {
    (void)state;
    char path[] = "/tmp/ed-options-XXXXXX.ini";
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    close(fd);
    ed_options o;
    ed_error err;
    ed_options_defaults(&o);
    write_file(path, "; comment\n# another\n[optim]\nlr = 1e-3\nbatch_size = 4   ; inline comment\n\n[loop]\npack = true\n");
    assert_int_equal(ed_options_load_ini(&o, path, &err), 0);
    assert_true(o.lr == 1e-3f);
    assert_int_equal(o.batch_size, 4);
    assert_int_equal(o.pack, 1);

    write_file(path, "lr = 1e-3\n\nepochs = ten\n");
    assert_int_equal(ed_options_load_ini(&o, path, &err), -1);
    char want[128];
    snprintf(want, sizeof want, "%s:3: option 'epochs'", path);
    assert_non_null(strstr(err.msg, want));

    write_file(path, "lr = 1e-3\nthis line has no equals sign\n");
    assert_int_equal(ed_options_load_ini(&o, path, &err), -1);
    snprintf(want, sizeof want, "%s:2: syntax error", path);
    assert_non_null(strstr(err.msg, want));

    write_file(path, "[data]\nmystery = 1\n");
    assert_int_equal(ed_options_load_ini(&o, path, &err), -1);
    snprintf(want, sizeof want, "%s:2: unknown option 'mystery'", path);
    assert_non_null(strstr(err.msg, want));

    /* A run's config.ini reads back as the run (issue 25 item 10), whatever its values: a
     * train-file list of 1000 characters, a prompt with `;`, quotes, backslashes, line
     * breaks and edge spaces, a stop text of one space. */
    ed_options_defaults(&o);
    assert_int_equal(ed_options_preset(&o, "tiny", &err), 0);
    char list[1001];
    for (int i = 0; i < 1000; i++) list[i] = i % 100 == 99 ? ',' : 'a' + i % 26;
    list[1000] = '\0';
    assert_int_equal(ed_options_set(&o, "train-file", list, &err), 0);
    assert_int_equal(ed_options_set(&o, "prompt", "  \"Hi\" ; she said\\n\nline two\t# not a comment ", &err), 0);
    assert_int_equal(ed_options_set(&o, "stop", " ", &err), 0);
    assert_int_equal(ed_options_set(&o, "val-file", "#hash;semi", &err), 0);
    char *printed = NULL, *again = NULL;
    size_t plen = 0, alen = 0;
    FILE *f = open_memstream(&printed, &plen);
    ed_options_print(&o, f);
    fclose(f);
    write_file(path, printed);
    ed_options back;
    ed_options_defaults(&back);
    if (ed_options_load_ini(&back, path, &err) != 0) fail_msg("%s", err.msg);
    assert_string_equal(back.train_file, o.train_file);
    assert_string_equal(back.prompt, o.prompt);
    assert_string_equal(back.stop, " ");
    assert_string_equal(back.val_file, "#hash;semi");
    f = open_memstream(&again, &alen);
    ed_options_print(&back, f);
    fclose(f);
    assert_string_equal(again, printed);
    free(printed);
    free(again);
    /* a binary file is not a config file; neither is a bad quoted value */
    write_file(path, "lr = 1e-3\nepochs = \xff\xfe\n");
    assert_int_equal(ed_options_load_ini(&o, path, &err), -1);
    snprintf(want, sizeof want, "%s:2: not a text config file (invalid UTF-8", path);
    assert_non_null(strstr(err.msg, want));
    write_file(path, "prompt = \"open\n");
    assert_int_equal(ed_options_load_ini(&o, path, &err), -1);
    assert_non_null(strstr(err.msg, "unterminated quoted value"));
    unlink(path);

    assert_int_equal(ed_options_load_ini(&o, "/nonexistent/x.ini", &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent/x.ini: cannot open"));
}

static void test_argv_precedence(void **state) {
    (void)state;
    char path[] = "/tmp/ed-options-XXXXXX.ini";
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    close(fd);
    /* The config's keys come after its preset whatever the order in the file. */
    write_file(path, "d-model = 64\nn-heads = 2\npreset = small\nlr = 0.01\nepochs = 4\n");
    ed_options o;
    ed_args a;
    ed_error err;

    /* no preset anywhere -> tiny */
    assert_int_equal(parse(&o, &a, &err, NULL), 0);
    assert_string_equal(o.preset, "tiny");
    assert_int_equal(o.model.d_model, 128);
    ed_args_free(&a);

    /* defaults < preset(config) < config < flags */
    assert_int_equal(parse(&o, &a, &err, "--epochs=9", "-c", path, "-b", "3", "--no-pack", "pos1", NULL), 0);
    assert_string_equal(o.preset, "small");
    assert_int_equal(o.model.n_layers, 4);   /* from the preset */
    assert_int_equal(o.model.d_model, 64);   /* config over preset */
    assert_true(o.lr == 0.01f);              /* config over defaults */
    assert_int_equal(o.epochs, 9);           /* flag over config, even written before -c */
    assert_int_equal(o.batch_size, 3);
    assert_int_equal(o.pack, 0);
    assert_string_equal(a.config, path);
    assert_int_equal(a.n_positional, 1);
    assert_string_equal(a.positional[0], "pos1");
    ed_args_free(&a);

    /* a --preset flag beats the config's preset, the config's keys still apply */
    assert_int_equal(parse(&o, &a, &err, "--config", path, "--preset", "seed", "-e3", "--lowercase", NULL), 0);
    assert_string_equal(o.preset, "seed");
    assert_int_equal(o.model.n_layers, 8);
    assert_int_equal(o.model.d_model, 64);
    assert_int_equal(o.epochs, 3);
    assert_int_equal(o.lowercase, 1);
    ed_args_free(&a);

    /* help, version, "--" */
    assert_int_equal(parse(&o, &a, &err, "--help", "-V", "--", "--not-an-option", NULL), 0);
    assert_int_equal(a.help, 1);
    assert_int_equal(a.version, 1);
    assert_int_equal(a.n_positional, 1);
    assert_string_equal(a.positional[0], "--not-an-option");
    ed_args_free(&a);

    /* errors */
    assert_int_equal(parse(&o, &a, &err, "--nope", NULL), -1);
    assert_non_null(strstr(err.msg, "unknown option '--nope'"));
    assert_int_equal(parse(&o, &a, &err, "-Z", NULL), -1);
    assert_non_null(strstr(err.msg, "unknown option '-Z'"));
    assert_int_equal(parse(&o, &a, &err, "--lr", NULL), -1);
    assert_non_null(strstr(err.msg, "needs a value"));
    assert_int_equal(parse(&o, &a, &err, "--no-lr", NULL), -1); /* --no- only for booleans */
    assert_int_equal(parse(&o, &a, &err, "--preset", "giant", NULL), -1);
    assert_non_null(strstr(err.msg, "unknown preset 'giant'"));
    write_file(path, "preset = giant\n");
    assert_int_equal(parse(&o, &a, &err, "-c", path, NULL), -1);
    assert_non_null(strstr(err.msg, path));
    unlink(path);
    assert_int_equal(parse(&o, &a, &err, "-c", path, NULL), -1);
    assert_non_null(strstr(err.msg, "cannot open config file"));
}

static char *help_of(ed_command cmd) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ed_options_help(f, cmd);
    fclose(f);
    return buf;
}

/* --help of a command lists exactly the rows whose `commands` column has it. */
static void test_help_per_command(void **state) {
    (void)state;
    char *train = help_of(ED_CMD_TRAIN), *gen = help_of(ED_CMD_GENERATE), *eval = help_of(ED_CMD_EVAL);
    char *inspect = help_of(ED_CMD_INSPECT), *prep = help_of(ED_CMD_PREPARE);
    assert_non_null(strstr(train, "-b, --batch-size N"));
    assert_non_null(strstr(train, "--early-stopping-patience N"));
    assert_non_null(strstr(train, "--zero N"));
    assert_null(strstr(train, "--prompt-file"));
    assert_non_null(strstr(train, "--val-generate S"));
    assert_non_null(strstr(eval, "--generate"));
    assert_null(strstr(eval, "--val-generate-every"));
    assert_non_null(strstr(gen, "--temperature X"));
    assert_non_null(strstr(gen, "--seed N"));
    assert_null(strstr(gen, "--zero"));
    assert_null(strstr(gen, "--bucket-mb"));
    assert_null(strstr(gen, "--d-model"));
    assert_null(strstr(gen, "optim options:")); /* a group with no row for it has no heading */
    assert_non_null(strstr(eval, "--batch-size"));
    assert_null(strstr(eval, "--lr "));
    assert_non_null(strstr(eval, "--max-new-tokens")); /* eval --generate */
    assert_null(strstr(eval, "--prompt-file"));
    assert_non_null(strstr(inspect, "--checkpoint"));
    assert_null(strstr(inspect, "--threads"));
    assert_non_null(strstr(prep, "--vocab-size"));
    assert_null(strstr(prep, "--epochs"));
    /* every row applies to some command, and each one's help shows it */
    char *helps[] = {train, eval, gen, inspect, prep};
    for (const ed_option_spec *s = ed_option_table(NULL); s->name; s++) {
        assert_true(s->commands != 0);
        char flag[96];
        snprintf(flag, sizeof flag, "--%s ", s->name);
        for (int c = 0; c < 5; c++) {
            int listed = strstr(helps[c], flag) != NULL;
            if (listed != !!(s->commands & (1u << c))) fail_msg("--%s: listed %d in help of command bit %d", s->name, listed,
                        c);
        }
    }
    for (int c = 0; c < 5; c++) free(helps[c]);
}

/* Unknown options name ours: the names PyTorch / Hugging Face users type (issue 25 item
 * 11), plain typos by edit distance, and nothing for a name near none. */
static void test_suggestions(void **state) {
    (void)state;
    static const char *const want[][2] = {
        {"learning-rate", "lr"}, {"num-epochs", "epochs"}, {"lr-scheduler", "lr-schedule"},
        {"fp16", "precision bf16"}, {"bf16", "precision bf16"}, {"gradient-checkpointing", "recompute"},
        {"eval-steps", "eval-interval"}, {"learning_rate", "lr"}, {"epoch", "epochs"},
        {"vocab_sise", "vocab-size"}, {"checkpoint-dirr", "checkpoint-dir"}, {"lerning-rate", "lr"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *got = ed_option_suggest(want[i][0]);
        if (!got || strcmp(got, want[i][1]) != 0) fail_msg("%s: suggested %s, want %s", want[i][0], got, want[i][1]);
    }
    assert_null(ed_option_suggest("bogus-flag"));
    assert_null(ed_option_suggest("x"));
    ed_options o;
    ed_args a;
    ed_error err;
    assert_int_equal(parse(&o, &a, &err, "--learning-rate", "1e-3", NULL), -1);
    assert_string_equal(err.msg, "unknown option '--learning-rate': did you mean --lr?");
    assert_int_equal(ed_options_set(&o, "num_epochs", "3", &err), -1);
    assert_non_null(strstr(err.msg, "did you mean `epochs`?"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suggestions),
        cmocka_unit_test(test_table_is_consistent), cmocka_unit_test(test_defaults_and_presets),
        cmocka_unit_test(test_set_values),          cmocka_unit_test(test_format_round_trips),
        cmocka_unit_test(test_validate_rules), cmocka_unit_test(test_choices),      cmocka_unit_test(test_ini),
        cmocka_unit_test(test_argv_precedence),     cmocka_unit_test(test_help_per_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
