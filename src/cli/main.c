/* main.c — `expert-dist`: subcommand dispatch, options, validation, exit status.
 *
 * Every rank parses the same argv and validates the same options, so every rank reaches
 * the same verdict before any work; only rank 0 prints. Usage errors exit 2 on all
 * ranks (after MPI_Finalize, so mpirun reports a plain non-zero exit, not a crash). */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "expert/common.h"
#include "expert/compute.h"
#include "expert/dist.h"
#include "expert/isa.h"
#include "expert/options.h"
#include "expert/commands.h"
#include "expert/trainer.h"

typedef struct {
    const char *name;
    int (*run)(const ed_options *, const ed_dist *);
    const char *usage;
    ed_command id;      /* which rows of the options table --help lists */
    const char *about;
} command;

static const command COMMANDS[] = {
    {"train", ed_train, "expert-dist [train] [options]", ED_CMD_TRAIN,
     "Train a GPT-style model data-parallel over the MPI ranks (default command).\n"
     "Without --train-file it trains on the bundled corpus (data/fortunes-*.txt)."},
    {"eval", ed_eval, "expert-dist eval [options] CHECKPOINT [FILE]", ED_CMD_EVAL,
     "Loss, perplexity and token accuracy of a checkpoint on FILE (or --val-file)."},
    {"generate", ed_generate, "expert-dist generate [options] CHECKPOINT [PROMPT]", ED_CMD_GENERATE,
     "Continue PROMPT (or --prompt) with the model of a checkpoint."},
    {"import", ed_import, "expert-dist import MODEL_DIR -o OUT.h5", ED_CMD_IMPORT,
     "Convert a GPT-2 or Llama model in the Hugging Face layout (config.json,\n"
     "model.safetensors or its shards, the tokenizer) into a checkpoint that\n"
     "generate/eval use and `train --init-from OUT.h5` fine-tunes."},
    {"export", ed_export, "expert-dist export CHECKPOINT -o MODEL_DIR", ED_CMD_EXPORT,
     "Write a checkpoint's model in the Hugging Face layout, GPT-2 or Llama by its\n"
     "--arch (config.json, model.safetensors, the tokenizer)."},
    {"inspect", ed_inspect, "expert-dist inspect CHECKPOINT", ED_CMD_INSPECT,
     "Print the config, progress and metrics stored in a checkpoint."},
    {"prepare", ed_prepare, "expert-dist prepare --data-file OUT.h5 [--train-file F] [--val-file F] [options]", ED_CMD_PREPARE,
     "Tokenize the training (and validation) text once into an HDF5 token file;\n"
     "`train --data-file OUT.h5` then starts without reading or tokenizing text."},
    {"verify", ed_verify, "expert-dist verify DATA.h5", ED_CMD_VERIFY,
     "Check every token and document boundary of a prepared token file (train checks\n"
     "only the windows it uses)."},
    {"calibrate", ed_calibrate, "expert-dist calibrate [-t N] [--gemm B] [--precision P]", ED_CMD_CALIBRATE,
     "Measure this CPU's GEMM peak per core (every core busy) for each backend and\n"
     "precision, the MFU reference of train, and store it in the measurement cache\n"
     "($XDG_CACHE_HOME/expert-dist/gemm.tsv, default ~/.cache/expert-dist/). Run it on an\n"
     "idle machine: train otherwise measures the reference once at its start, busy or not."},
};
enum { N_COMMANDS = sizeof COMMANDS / sizeof COMMANDS[0] };

static void print_help(const command *c) {
    printf("usage: %s\n       mpirun -n N %s\n\n%s\n", c->usage, c->usage, c->about);
    if (c->id == ED_CMD_TRAIN)
        printf("\ncommands: train (default), eval, generate, import, export, inspect, prepare, verify, calibrate; `expert-dist COMMAND --help` for each.\n");
    printf("\ngeneral options:\n"
           "  -c, --config FILE                INI file of `option = value` lines (same names as the flags)\n"
           "  -h, --help                       this help\n"
           "  -V, --version                    version and git commit\n");
    ed_options_help(stdout, c->id);
    /* what applies to this command only: training's precedence and preemption are not
     * generate's or inspect's */
    if (c->id == ED_CMD_TRAIN || c->id == ED_CMD_PREPARE)
        printf("\nPrecedence: defaults < --preset (default tiny) < --config file < flags.\n");
    if (c->id == ED_CMD_EVAL || c->id == ED_CMD_GENERATE)
        printf("\nThe checkpoint decides the model, its window length and its tokenizer: a flag it\n"
               "overrules, or one this command does not use, is refused (exit 2).\n");
    if (c->id == ED_CMD_TRAIN)
        printf("Exit status: 0 ok, 1 failure (bad data, write error, NaN with --on-nan stop),\n"
               "2 usage (bad flags or config), 3 preempted (SIGTERM/SIGUSR1: last.h5 written),\n"
               "4 communication timeout (--comm-timeout: a rank stopped answering), 130 interrupted\n"
               "(SIGINT/Ctrl-C: last.h5 written; a second Ctrl-C stops at once).\n");
    else
        printf("Exit status: 0 ok, 1 failure (bad or unreadable input, write error), 2 usage (bad flags).\n");
    printf("Full documentation: docs/usage.md\n");
}

/* -o/--checkpoint-dir given on the command line (import/export take it as the output). */
static int output_given(int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) return 0;
        if (strncmp(argv[i], "-o", 2) == 0 || strncmp(argv[i], "--checkpoint-dir", 16) == 0) return 1;
    }
    return 0;
}

/* import/export: INPUT then OUTPUT (or -o OUTPUT). */
static int convert_positionals(const command *c, ed_options *o, const ed_args *a, int out_flag, ed_error *err) {
    const char *what = c->id == ED_CMD_IMPORT ? "MODEL_DIR" : "CHECKPOINT";
    if (a->n_positional > 2) return ed_fail(err, "unexpected argument '%s' (see expert-dist %s --help)", a->positional[2], c->name);
    if (a->n_positional < 1) return ed_fail(err, "%s needs %s (usage: %s)", c->name, what, c->usage);
    if (ed_options_set(o, "checkpoint", a->positional[0], err) != 0) return -1;
    if (a->n_positional == 2 && out_flag) return ed_fail(err, "%s: give the output once (-o or a second argument)", c->name);
    if (a->n_positional == 2 && ed_options_set(o, "checkpoint-dir", a->positional[1], err) != 0) return -1;
    if (a->n_positional < 2 && !out_flag) return ed_fail(err, "%s needs an output: -o PATH (usage: %s)", c->name, c->usage);
    return 0;
}

/* Positional arguments: CHECKPOINT then FILE/PROMPT for the model commands; none for train. */
static int take_positionals(const command *c, ed_options *o, const ed_args *a, ed_error *err) {
    int is_train = c->id == ED_CMD_TRAIN || c->id == ED_CMD_PREPARE || c->id == ED_CMD_CALIBRATE;
    if (c->id == ED_CMD_VERIFY) {
        if (a->n_positional > 1) return ed_fail(err, "unexpected argument '%s' (usage: expert-dist verify DATA.h5)", a->positional[1]);
        if (a->n_positional == 1) return ed_options_set(o, "data-file", a->positional[0], err);
        return 0;
    }
    int max = is_train ? 0 : c->id == ED_CMD_INSPECT ? 1 : 2;
    if (a->n_positional > max && is_train)
        return ed_fail(err, "unexpected argument '%s' (commands: train, eval, generate, import, export, inspect, prepare, verify, calibrate; see --help)",
                       a->positional[max]);
    if (a->n_positional > max)
        return ed_fail(err, "unexpected argument '%s' (see expert-dist %s --help)", a->positional[max], c->name);
    if (is_train) return 0;
    if (a->n_positional >= 1) ed_options_set(o, "checkpoint", a->positional[0], NULL);
    if (a->n_positional >= 2) {
        const char *key = c->id == ED_CMD_GENERATE ? "prompt" : "val-file";
        if (ed_options_set(o, key, a->positional[1], err) != 0) return -1;
    }
    if (!o->checkpoint[0]) return ed_fail(err, "%s needs a checkpoint (CHECKPOINT or --checkpoint)", c->name);
    if (c->id == ED_CMD_EVAL && !o->val_file[0])
        return ed_fail(err, "eval needs a text file (FILE or --val-file)");
    return 0;
}

/* Bare `expert-dist` trains on the bundled corpus: fill in its paths. */
static int default_data(ed_options *o, ed_error *err) {
    if (o->train_file[0]) return 0;
    char dir[ED_PATH_MAX - 32], tried[2048];
    if (cli_find_data_dir(dir, sizeof dir, tried, sizeof tried) != 0)
        return ed_fail(err, "no --train-file given and the bundled corpus was not found (looked in %s; "
                            "set ED_DATA_DIR)", tried);
    snprintf(o->train_file, sizeof o->train_file, "%s/fortunes-train.txt", dir);
    if (!o->val_file[0]) snprintf(o->val_file, sizeof o->val_file, "%s/fortunes-val.txt", dir);
    return 0;
}

int main(int argc, char **argv) {
    /* FUNNELED: OpenMP/OpenBLAS threads compute, only the main thread calls MPI (the
     * gradient-ready callback runs on it between layers). */
    int provided = 0;
    ed_dist_preinit();
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    ed_dist d;
    ed_dist_init(&d, MPI_COMM_WORLD);
    ed_signals_install(d.rank == 0);

    const command *cmd = &COMMANDS[0];
    int first = 1;
    if (argc > 1) {
        for (int i = 0; i < N_COMMANDS; i++)
            if (strcmp(argv[1], COMMANDS[i].name) == 0) cmd = &COMMANDS[i], first = 2;
        if (first == 1 && strcmp(argv[1], "help") == 0) first = 2; /* `expert-dist help` */
    }

    ed_options o;
    ed_args a = {0};
    ed_error err = {{0}};
    int rc = ED_EXIT_USAGE;
    if (ed_options_parse_argv(&o, argc - first, argv + first, &a, &err) != 0) goto usage;
    if (a.help_markdown) {
        if (d.rank == 0) ed_options_help_markdown(stdout);
        rc = ED_EXIT_OK;
        goto out;
    }
    if (a.help || (first == 2 && strcmp(argv[1], "help") == 0)) {
        if (d.rank == 0) print_help(cmd);
        rc = ED_EXIT_OK;
        goto out;
    }
    if (a.version) {
        /* Second line: what this binary runs on here (benchmark scripts print it). */
        if (ed_isa_init(err.msg, sizeof err.msg) != 0) goto usage;
        if (d.rank == 0) {
            char cpu[512], mach[256];
            ed_machine m;
            ed_machine_probe(&m);
            ed_machine_cpu_line(&m, cpu, sizeof cpu);
            ed_machine_describe(&m, mach, sizeof mach);
            printf("expert-dist %s (%s)\ncpu: %s; %s\n", ED_VERSION, ED_GIT_COMMIT, cpu, mach);
        }
        rc = ED_EXIT_OK;
        goto out;
    }
    int convert = cmd->id == ED_CMD_IMPORT || cmd->id == ED_CMD_EXPORT;
    if (convert ? convert_positionals(cmd, &o, &a, output_given(argc - first, argv + first), &err) != 0
                : take_positionals(cmd, &o, &a, &err) != 0)
        goto usage;
    /* prepare builds no model: its --max-length names the window index it stores, which
     * --max-seq-len (a model option) must not limit */
    if (cmd->id == ED_CMD_PREPARE && o.max_length > o.model.max_seq_len) o.model.max_seq_len = o.max_length;
    if (ed_options_validate(&o, &err) != 0) goto usage;
    /* eval and generate would ignore a training flag silently: refuse it instead (a
     * config file's keys are not checked: one file serves every command) */
    if ((cmd->id == ED_CMD_EVAL || cmd->id == ED_CMD_GENERATE) &&
        ed_options_check_applicable(&o, cmd->id, cmd->name, &err) != 0)
        goto usage;
    /* The kernel path (ED_ISA) is chosen here, before any work, so a path this CPU or this
     * build lacks is a usage error on every rank rather than an abort mid-run. */
    if (ed_isa_init(err.msg, sizeof err.msg) != 0) goto usage;
    int wants_text = cmd->id == ED_CMD_TRAIN ? !o.data_file[0] : cmd->id == ED_CMD_PREPARE;
    if (wants_text && default_data(&o, &err) != 0) goto usage;
    if (o.debug_exit_step > 0 && o.debug_exit_rank >= d.world) {
        ed_fail(&err, "debug-exit-rank %d is not a rank of this %d-rank job", o.debug_exit_rank, d.world);
        goto usage;
    }
    ed_dist_set_timeout(&d, o.comm_timeout);
    rc = cmd->run(&o, &d);
    goto out;
usage:
    if (d.rank == 0) fprintf(stderr, "expert-dist: %s\n", err.msg);
    rc = ED_EXIT_USAGE;
out:
    /* A failed command has said why; mpirun then stops the job because some rank exited
     * non-zero, and that SIGTERM must not add a second line (signals.c). */
    if (rc != ED_EXIT_OK) ed_signals_quiet();
    ed_args_free(&a);
    ed_dist_free(&d);
    MPI_Finalize();
    return rc;
}
