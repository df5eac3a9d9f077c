/* options.h — every option of `expert-dist train/eval/generate/prepare`, with one table
 * that drives the command line (GNU long options, kebab-case), the config file (INI,
 * same key names), `--help`, the printed effective config, and the /config
 * attributes of checkpoints.
 *
 * Precedence: built-in defaults < --preset < --config file < command-line flags.
 * Validation happens before any work and gives the same answer on every rank. */
#ifndef EXPERT_OPTIONS_H
#define EXPERT_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "expert/common.h"
#include "expert/gpt.h"
#include "expert/optim.h"
#include "expert/tokenizer.h"

#define ED_PATH_MAX 1024
/* Room for the rows of the options table (options_table.c checks it holds them). */
#define ED_OPT_MAX_ROWS 128

/* --on-nan: what a step with a NaN/Inf loss or gradient norm does. */
typedef enum { ED_NAN_SKIP = 0, ED_NAN_STOP = 1 } ed_nan_policy;
extern const char *const ed_nan_policy_names[]; /* "skip", "stop" */
/* --format: how text files are read (dataset.h); AUTO goes by the .txt / .jsonl extension. */
typedef enum { ED_FORMAT_AUTO = 0, ED_FORMAT_TXT, ED_FORMAT_JSONL, ED_FORMAT_INSTRUCT } ed_text_format;
extern const char *const ed_text_format_names[]; /* "auto", "txt", "jsonl", "instruct" */
/* --loss-on (instruction data): the completion (assistant) tokens only, or every token. */
typedef enum { ED_LOSS_COMPLETION = 0, ED_LOSS_ALL } ed_loss_on;
extern const char *const ed_loss_on_names[]; /* "completion", "all" */
/* --truncate (instruction data): an example longer than max-length loses prompt tokens
 * from the left, or is an error. */
typedef enum { ED_TRUNCATE_LEFT = 0, ED_TRUNCATE_ERROR } ed_truncate;
extern const char *const ed_truncate_names[]; /* "left", "error" */

/* --grad-comm: the gradient values on the wire (src/comm, "bf16 on the wire" in dist.h). */
typedef enum { ED_COMM_FP32 = 0, ED_COMM_BF16 = 1 } ed_grad_comm;
extern const char *const ed_grad_comm_names[]; /* "fp32", "bf16" */

/* --decode: how eval --generate and --val-generate pick tokens (greedy = arg-max). */
typedef enum { ED_DECODE_GREEDY = 0, ED_DECODE_SAMPLE = 1 } ed_decode_kind;
extern const char *const ed_decode_kind_names[]; /* "greedy", "sample" */
/* --best-metric: what makes best.h5 "best" (bleu and rougeL need --val-generate). */
typedef enum { ED_BEST_VAL_LOSS = 0, ED_BEST_BLEU = 1, ED_BEST_ROUGE_L = 2 } ed_best_metric;
extern const char *const ed_best_metric_names[]; /* "val_loss", "bleu", "rougeL" */

typedef struct {
    /* data */
    char train_file[ED_PATH_MAX];  /* default: the bundled corpus */
    char val_file[ED_PATH_MAX];
    char data_file[ED_PATH_MAX];   /* prepared HDF5 token file (prepare subcommand) */
    ed_text_format format;         /* auto (by extension) | txt | jsonl | instruct */
    ed_loss_on loss_on;            /* instruction data: completion | all */
    ed_truncate truncate;          /* instruction data: left | error */
    char text_field[64];           /* .jsonl text field, default "text" */
    int skip_bad_lines;
    ed_tok_kind tokenizer;         /* word | bpe */
    char vocab_file[ED_PATH_MAX];  /* load this vocabulary instead of building one */
    int vocab_size;                /* 10000 */
    int min_freq;                  /* 1 */
    int lowercase;                 /* 0 */
    int max_length;                /* 512 */
    int stride;                    /* 256 */
    int pack;                      /* 0: per-document windows, packed into rows with block-diagonal attention */
    int doc_mask;                  /* 0; with pack: attention and positions reset at document starts */
    int pad_to_max;                /* 0; 1: one window a row padded to max_length - 1 (ed_row_layout) */

    /* model */
    char preset[16];               /* tiny | small | seed | llama-tiny | llama-small */
    ed_model_config model;         /* arch, d_model, n_layers, n_heads, d_ff, max_seq_len, dropout, llama fields; vocab from tokenizer */

    /* optimisation */
    int batch_size;                /* per rank, 8 */
    int grad_accum;                /* 1 */
    int epochs;                    /* 10: the run's total, counted from its first step */
    int more_epochs;               /* with --resume: epochs = the checkpoint's completed epochs + this */
    long max_steps;                /* 0 = no limit */
    float lr;                      /* 5e-4 */
    float min_lr;                  /* 0 */
    float weight_decay;            /* 0.01 (PyTorch AdamW default) */
    float beta1, beta2, eps;       /* 0.9, 0.999, 1e-8 */
    float momentum;                /* SGD, 0.9 */
    ed_opt_kind optimizer;         /* adamw | sgd */
    float label_smoothing;         /* 0 */
    float max_grad_norm;           /* 1.0; 0 = no clipping */
    long warmup_steps;             /* 0 */
    ed_sched_kind lr_schedule;     /* constant | linear | cosine */

    /* loop, evaluation, checkpoints */
    int log_interval;              /* 10 steps */
    long eval_interval;            /* 0 = every epoch; N = also every N steps */
    int save_every;                /* 1 epoch */
    long save_steps;               /* 0 = off; N = step-<N>.h5 every N steps */
    int keep_last;                 /* keep-last-K step files, 3 */
    int early_stopping_patience;   /* 0 = off */
    char checkpoint_dir[ED_PATH_MAX]; /* "checkpoints"; import/export: the output path (-o) */
    char resume[ED_PATH_MAX];      /* "" | path | auto */
    char init_from[ED_PATH_MAX];   /* start from this checkpoint's weights and tokenizer */
    int compress;                  /* deflate level for checkpoints, 0 = off */
    int async_save;                /* 1: checkpoints written by a helper thread (train_checkpoints.c) */
    char history_file[ED_PATH_MAX];/* default <checkpoint_dir>/history.json (+ .csv) */
    char tensorboard[ED_PATH_MAX]; /* "" = off | DIR | auto = <checkpoint_dir>/tb */
    ed_nan_policy on_nan;          /* skip | stop */

    /* system */
    uint64_t seed;                 /* 42 */
    int threads;                   /* per rank; 0 = cores / ranks-per-node */
    size_t bucket_mb;              /* allreduce bucket size in MB, 4 */
    int zero;                      /* ZeRO stage: 0 | 1 */
    ed_grad_comm grad_comm;        /* fp32 | bf16: gradient values on the wire (docs/multinode.md) */
    int recompute;                 /* activation recomputation */
    int dry_run;                   /* print the memory report and exit */
    int check_every;               /* debug: compare weight checksums across ranks every N steps */
    int comm_timeout;              /* seconds a collective may wait (watchdog, dist.h); 600, 0 = off */
    int debug_exit_rank;           /* debug: this rank calls exit(1) ... */
    long debug_exit_step;          /* ... at this step (0 = off) */
    int quiet;
    float ref_gflops;              /* per-rank reference GFLOPS for the MFU column;
                                      0 = $ED_REF_GFLOPS or measured at start */
    ed_gemm_backend gemm;          /* auto | openblas | onednn */
    int gemm_cache;                /* read/write the measurement cache (expert/gemm_cache.h) */
    ed_precision precision;        /* fp32 | bf16 | fp16 */
    float loss_scale_init;         /* fp16: the loss scaler's first scale, 65536 (2^16) */
    long loss_scale_growth_interval; /* fp16: clean steps before the scale doubles, 2000 */
    long debug_inf_step;           /* debug: the last rank's gradients of this step become Inf (0 = off) */

    /* generate / eval */
    char checkpoint[ED_PATH_MAX];  /* eval/generate/inspect: the model; import/export: the input */
    char prompt[4096];
    int max_new_tokens;            /* 50 */
    int sample_tokens;             /* train: generate this many tokens from best.h5 at the end, 0 = off */
    float temperature;             /* 1.0 */
    int top_k;                     /* 40 */
    float top_p;                   /* 1.0 = off */
    float repetition_penalty;      /* 1.0 = off */
    char stop[256];                /* end a sample at this text ("" = none) */
    int num_samples;               /* samples per prompt, 1 */
    char prompt_file[ED_PATH_MAX]; /* one prompt per paragraph */
    int kv_cache;                  /* 1: key/value cache; 0: full forward per token */

    /* generated text scored against references (include/expert/geneval.h) */
    int generate;                  /* eval: FILE is a references file; generate and score BLEU/ROUGE */
    char predictions[ED_PATH_MAX]; /* eval --generate: per-example JSON lines here ("" = none) */
    ed_decode_kind decode;         /* greedy | sample (with temperature, top-k, top-p) */
    int rouge_stem;                /* ROUGE with Porter stemming */
    char val_generate[ED_PATH_MAX];/* train: references file scored at validations */
    long val_generate_every;       /* train: score it at every N-th validation (1 = each) */
    ed_best_metric best_metric;    /* val_loss | bleu | rougeL */
    int allow_data_change;         /* --resume in mid-epoch on other training data: restart the epoch */

    /* Not an option: where each row's value came from (index = row of the table):
     * ED_GIVEN_CONFIG (config file) and/or ED_GIVEN_FLAG (command line), 0 = default or
     * preset. What a checkpoint's dictated value is weighed against (ed_options_dictate). */
    unsigned char given[ED_OPT_MAX_ROWS];
} ed_options;

enum { ED_GIVEN_CONFIG = 1, ED_GIVEN_FLAG = 2 };

/* The commands of expert-dist as bits of the table's `commands` column: which commands an
 * option applies to. `expert-dist COMMAND --help` lists only those; the parser still
 * accepts every option with every command, so one config file serves them all. */
typedef enum {
    ED_CMD_TRAIN = 1 << 0,
    ED_CMD_EVAL = 1 << 1,
    ED_CMD_GENERATE = 1 << 2,
    ED_CMD_INSPECT = 1 << 3,
    ED_CMD_PREPARE = 1 << 4,
    ED_CMD_IMPORT = 1 << 5,
    ED_CMD_EXPORT = 1 << 6,
    ED_CMD_VERIFY = 1 << 7,
    ED_CMD_CALIBRATE = 1 << 8,
} ed_command;

/* ED_OPT_CHOICE: an enumeration. The field is an enum (int-sized) and the row names its
 * values (`choices`, indexed by the enum value, NULL-terminated); the text form — flags,
 * config files, the printed config, JSON, checkpoint /config attributes — is the name,
 * so nothing past the parser compares strings. */
typedef enum { ED_OPT_INT, ED_OPT_LONG, ED_OPT_SIZE, ED_OPT_U64, ED_OPT_FLOAT, ED_OPT_BOOL, ED_OPT_STR, ED_OPT_CHOICE } ed_opt_type;

/* One row per option: the flag/config key, its type, where it lives in ed_options,
 * a short alias (0 if none), a one-line help text, and for choices the names. */
typedef struct {
    const char *name;     /* kebab-case, e.g. "grad-accum" */
    ed_opt_type type;
    size_t offset;        /* offsetof(ed_options, field) */
    size_t size;          /* sizeof the field (ED_OPT_STR: the buffer size) */
    char short_name;
    const char *group;    /* "data" | "model" | "optim" | "loop" | "system" | "generate" */
    unsigned commands;    /* ed_command bits: the commands this option applies to */
    unsigned ckpt;        /* ed_command bits: where a checkpoint's stored value replaces the
                             flag (resume = ED_CMD_TRAIN; ED_CMD_INSPECT = every stored option
                             but the one-shot ones); see ed_ckpt_load */
    const char *help;
    const char *const *choices; /* ED_OPT_CHOICE: the names, index = enum value; else NULL */
} ed_option_spec;

/* The table (NULL-name terminated) and its length. */
const ed_option_spec *ed_option_table(size_t *n);
/* For an unknown option name: ours for a name other trainers use ("learning-rate" ->
 * "lr", "fp16" -> "precision bf16": the alias list of options_table.c), else the nearest
 * option name by edit distance if it is near, else NULL. */
const char *ed_option_suggest(const char *name);
/* The row's index in the table (what ed_options.given is indexed by). */
size_t ed_option_index(const ed_option_spec *s);

/* ---- what a checkpoint dictates -----------------------------------------------------
 * The table's ckpt column says which options a checkpoint's stored value replaces for a
 * command (resume = ED_CMD_TRAIN, eval, generate). ed_options_dictate is the one place
 * that applies it:
 *  - the preset is the checkpoint's: the values a preset sets and the user did not
 *    (epochs, eval-interval ...) come from the checkpoint's preset, never half from
 *    another one;
 *  - every dictated row takes the stored value, and the model shape the /model group's;
 *  - the rows the user set (o->given) to another value are listed, as the words that set
 *    them ("--d-model 64 --tokenizer bpe") beside the checkpoint's values ("d-model 128,
 *    tokenizer word"). Resume warns with them; eval and generate refuse the command-line
 *    ones (they cannot honour them) and warn about the config file's. */
typedef struct {
    int n;                /* rows listed */
    int n_flags;          /* ... of which set on the command line (the rest by the config file) */
    char user[1024];      /* "--d-model 64 --tokenizer bpe" (truncated with "..." if long) */
    char stored[1024];    /* "d-model 128, tokenizer word" */
} ed_dictated;
/* `stored`: the options as the checkpoint holds them (ed_ckpt_read_options with
 * ED_CMD_INSPECT over a copy of *o). Updates *o; fills *out. */
void ed_options_dictate(ed_options *o, const ed_options *stored, ed_command cmd, ed_dictated *out);
/* Command-line flags whose row does not apply to `cmd` (the commands column): -1 with
 * err naming them and `name` (the command), for commands that would otherwise ignore
 * them (eval, generate). Config-file values are not checked: one file serves every command. */
int ed_options_check_applicable(const ed_options *o, ed_command cmd, const char *name, ed_error *err);

void ed_options_defaults(ed_options *o);
/* Applies a preset by name ("tiny", "small", "seed"); -1 with err if unknown. */
int ed_options_preset(ed_options *o, const char *name, ed_error *err);
/* A boolean's spelling: 1/true/yes/on or 0/false/no/off (any case) into *out; -1 if neither. */
int ed_parse_bool(const char *v, int *out);
/* Sets one option from its string form, as from the command line or config file. */
int ed_options_set(ed_options *o, const char *name, const char *value, ed_error *err);
/* Loads a config file: UTF-8 text of `key = value` lines of any length (keys = option
 * names, `key: value` too), `;` or `#` comment lines, ` ;` comments after a value,
 * optional [sections] (ignored). A value in double quotes is taken verbatim with the
 * escapes \" \\ \n \t \r: ed_options_print writes a value that way when it could not
 * be read back otherwise (edge whitespace, a line break, a `;`), so a run's config.ini
 * always reads back as the run. Errors name file:line. */
int ed_options_load_ini(ed_options *o, const char *path, ed_error *err);
/* Cross-field validation (the model shape through ed_model_config_check, stride >= 1,
 * max_length <= max_seq_len, ...). */
int ed_options_validate(const ed_options *o, ed_error *err);
/* Prints "name = value" lines (the effective config) to f, in the config file format
 * (ed_options_load_ini reads them back to the same options). */
void ed_options_print(const ed_options *o, FILE *f);
/* Formats one option's value as text into buf (a choice as its name). */
void ed_options_format(const ed_options *o, const ed_option_spec *spec, char *buf, size_t len);
/* The row for a name (kebab-case; snake_case accepted too), or NULL. */
const ed_option_spec *ed_option_find(const char *name);
/* The effective config as a JSON object text (numbers as numbers, strings as strings);
 * malloc'd, the caller frees. Stored under "config" in the history file. */
char *ed_options_to_json(const ed_options *o);

/* ---- command line ---------------------------------------------------------------- */

/* What ed_options_parse_argv found besides options. positional[] points into argv. */
typedef struct {
    int help, version, help_markdown; /* --help, -V/--version, --help-markdown (docs/usage.md's table) */
    char config[ED_PATH_MAX];   /* -c/--config, "" if none */
    int n_positional;
    char **positional;          /* malloc'd array of pointers into argv; free with ed_args_free */
} ed_args;

/* Builds the effective options from argv[0..argc) (the arguments AFTER the subcommand):
 * defaults < preset (--preset, else the config file's preset, else "tiny") < config
 * file (-c/--config) < flags. Accepts --name value, --name=value, -x value, -xvalue,
 * --flag / --no-flag for booleans, and "--" to end options. Does not validate across
 * fields (call ed_options_validate). Errors: one line naming the flag or file:line. */
int ed_options_parse_argv(ed_options *o, int argc, char **argv, ed_args *a, ed_error *err);
void ed_args_free(ed_args *a);
/* Prints, as help, the options that apply to `cmd` (an ed_command bit), under their groups
 * (each group once). */
void ed_options_help(FILE *f, ed_command cmd);
/* Every option as a Markdown table (group, commands, default of the tiny preset and of
 * the presets that differ, help): docs/usage.md's option reference is this output
 * (`expert-dist --help-markdown`; scripts/options_doc.py keeps it in sync). */
void ed_options_help_markdown(FILE *f);

#endif
