/* options_table.c — the one table of options, the built-in defaults and the presets.
 *
 * Adding an option = one field in ed_options, one row here, one default below: the
 * command line, the config file, --help, the printed config, the history JSON and the
 * checkpoint /config attributes all follow from the table. */
#include "expert/options.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>

#define F(field) offsetof(ed_options, field)
#define S(field) sizeof(((ed_options *)0)->field)
#define ROW(name, type, field, sh, group, cmds, ckpt, help) \
    {name, type, F(field), S(field), sh, group, cmds, ckpt, help, NULL}
/* An enum field whose text form is one of `names` (index = value). */
#define CHOICE(name, field, names, sh, group, cmds, ckpt, help) \
    {name, ED_OPT_CHOICE, F(field), S(field), sh, group, cmds, ckpt, help, names}
/* The commands a row applies to (the `commands` column). */
#define T ED_CMD_TRAIN
#define E ED_CMD_EVAL
#define G ED_CMD_GENERATE
#define I ED_CMD_INSPECT
#define P ED_CMD_PREPARE
#define X (ED_CMD_IMPORT | ED_CMD_EXPORT)
#define V ED_CMD_VERIFY
#define K ED_CMD_CALIBRATE
/* The ckpt column: for which commands a checkpoint's stored value replaces the flag.
 * SHAPE: the model, its windows and its tokenizer — whatever opens the checkpoint must
 *        build the same model and read text the way it was trained;
 * STORED: the flags decide (a resumed run may change epochs, lr, intervals ...); only
 *        `inspect` (and tools reading the stored config) take the stored value;
 * ONCE:  describes one invocation (resuming from itself, crashing again at
 *        --debug-exit-step ...): stored for `inspect` to show, never applied. */
#define SHAPE (T | E | G | I)
#define STORED I
#define ONCE 0

const char *const ed_nan_policy_names[] = {"skip", "stop", NULL};
const char *const ed_text_format_names[] = {"auto", "txt", "jsonl", "instruct", NULL};
const char *const ed_loss_on_names[] = {"completion", "all", NULL};
const char *const ed_truncate_names[] = {"left", "error", NULL};
const char *const ed_grad_comm_names[] = {"fp32", "bf16", NULL};
const char *const ed_decode_kind_names[] = {"greedy", "sample", NULL};
const char *const ed_best_metric_names[] = {"val_loss", "bleu", "rougeL", NULL};

static const ed_option_spec TABLE[] = {
    /* data */
    ROW("train-file", ED_OPT_STR, train_file, 0, "data", T|P, STORED, "training text (.txt paragraphs or .jsonl); default: bundled corpus"),
    ROW("val-file", ED_OPT_STR, val_file, 0, "data", T|E|P, STORED, "validation text; default: bundled corpus when training on it, else none"),
    ROW("data-file", ED_OPT_STR, data_file, 0, "data", T|P|V, STORED, "prepared HDF5 token file: written by `prepare`, read by train instead of text"),
    CHOICE("format", format, ed_text_format_names, 0, "data", T|E|P, STORED,
           "how to read text files: auto (by the .txt/.jsonl extension), or txt / jsonl whatever the name; "
           "instruct: .jsonl instruction data (prompt/completion or messages), one window per example"),
    CHOICE("loss-on", loss_on, ed_loss_on_names, 0, "data", T|E, T|E|I,
           "instruction data: loss on the completion (assistant) tokens only, or on all tokens"),
    CHOICE("truncate", truncate, ed_truncate_names, 0, "data", T|E, T|E|I,
           "instruction data longer than max-length: drop prompt tokens from the left, or stop with an error"),
    ROW("text-field", ED_OPT_STR, text_field, 0, "data", T|E|P, STORED, ".jsonl field holding the text"),
    ROW("skip-bad-lines", ED_OPT_BOOL, skip_bad_lines, 0, "data", T|E|P, STORED, "warn about and skip bad .jsonl lines instead of failing"),
    CHOICE("tokenizer", tokenizer, ed_tok_kind_names, 0, "data", T|P, SHAPE,
           "tokenizer kind: word or bpe are built from the training text; sentencepiece (a tokenizer.model) "
           "and hf (a Hugging Face tokenizer.json) are the user's, given with --vocab-file"),
    ROW("vocab-file", ED_OPT_STR, vocab_file, 0, "data", T|P, STORED,
        "load this tokenizer file instead of building a vocabulary: ours, a SentencePiece .model or a "
        "tokenizer.json (the kind is read from the file; ids are the file's own)"),
    ROW("vocab-size", ED_OPT_INT, vocab_size, 0, "data", T|P, SHAPE, "vocabulary size including the 4 special tokens"),
    ROW("min-freq", ED_OPT_INT, min_freq, 0, "data", T|P, SHAPE, "word tokenizer: drop words seen fewer times"),
    ROW("lowercase", ED_OPT_BOOL, lowercase, 0, "data", T|P, SHAPE, "word tokenizer: Unicode case folding"),
    ROW("max-length", ED_OPT_INT, max_length, 0, "data", T|P, SHAPE, "tokens per window (inputs are max-length - 1); prepare: the window index it stores"),
    ROW("stride", ED_OPT_INT, stride, 0, "data", T|P, T|E|I, "sliding-window step in tokens; prepare: the window index it stores"),
    ROW("pack", ED_OPT_BOOL, pack, 0, "data", T, T|E|I,
        "concatenate documents and cut full windows that cross document boundaries; off: per-document sliding "
        "windows, packed into rows where each attends only to itself"),
    ROW("doc-mask", ED_OPT_BOOL, doc_mask, 0, "data", T, T|E|I,
        "with --pack: attention and positions restart at every document inside a window (Llama 3 style)"),
    ROW("pad-to-max", ED_OPT_BOOL, pad_to_max, 0, "data", T|E, STORED,
        "without --pack: one window per row padded to max-length - 1 (the padded path; same loss, slower) "
        "instead of packed rows"),
    /* model */
    ROW("preset", ED_OPT_STR, preset, 'p', "model", T, SHAPE,
        "model size: tiny (D128 L2) | small (D256 L4) | seed (D512 L8) | llama-tiny | llama-small"),
    CHOICE("arch", model.arch, ed_arch_names, 0, "model", T, SHAPE,
           "block design: gpt2 (LayerNorm, GELU, learned positions, tied head) | llama (RMSNorm, SwiGLU, RoPE, GQA, no biases)"),
    ROW("d-model", ED_OPT_INT, model.d_model, 0, "model", T, SHAPE, "embedding width D"),
    ROW("n-layers", ED_OPT_INT, model.n_layers, 0, "model", T, SHAPE, "transformer blocks L"),
    ROW("n-heads", ED_OPT_INT, model.n_heads, 0, "model", T, SHAPE, "attention heads H (must divide d-model)"),
    ROW("d-ff", ED_OPT_INT, model.d_ff, 0, "model", T, SHAPE, "MLP hidden width FF"),
    ROW("max-seq-len", ED_OPT_INT, model.max_seq_len, 0, "model", T, SHAPE, "positions in the model (>= max-length)"),
    ROW("dropout", ED_OPT_FLOAT, model.dropout, 0, "model", T, SHAPE, "dropout probability, 0 = off"),
    ROW("n-kv-heads", ED_OPT_INT, model.n_kv_heads, 0, "model", T, SHAPE,
        "llama: key/value heads (divides n-heads; 1 = multi-query; 0 = n-heads)"),
    ROW("rope-theta", ED_OPT_FLOAT, model.rope_theta, 0, "model", T, SHAPE, "llama: RoPE base"),
    ROW("rms-eps", ED_OPT_FLOAT, model.rms_eps, 0, "model", T, SHAPE, "llama: RMSNorm epsilon"),
    ROW("tie-embeddings", ED_OPT_BOOL, model.tie_embeddings, 0, "model", T, SHAPE,
        "llama: logits through the token embedding instead of a separate lm_head (a gpt2 is always tied)"),
    /* optimisation */
    ROW("batch-size", ED_OPT_INT, batch_size, 'b', "optim", T|E, STORED, "windows per micro-batch PER RANK"),
    ROW("grad-accum", ED_OPT_INT, grad_accum, 'g', "optim", T, STORED, "micro-batches per optimizer step"),
    ROW("epochs", ED_OPT_INT, epochs, 'e', "optim", T, STORED, "passes over the training set"),
    ROW("more-epochs", ED_OPT_INT, more_epochs, 0, "optim", T, ONCE,
        "with --resume: N more epochs after the checkpoint's completed ones (replaces --epochs); continues an early-stopped run"),
    ROW("max-steps", ED_OPT_LONG, max_steps, 0, "optim", T, STORED, "stop after this many optimizer steps in total (0 = no limit)"),
    ROW("lr", ED_OPT_FLOAT, lr, 'l', "optim", T, STORED, "peak learning rate"),
    ROW("min-lr", ED_OPT_FLOAT, min_lr, 0, "optim", T, STORED, "final learning rate of the linear/cosine schedules"),
    ROW("weight-decay", ED_OPT_FLOAT, weight_decay, 0, "optim", T, STORED, "decoupled weight decay (AdamW) / L2 (SGD), 2-D weights only"),
    ROW("beta1", ED_OPT_FLOAT, beta1, 0, "optim", T, STORED, "AdamW beta1"),
    ROW("beta2", ED_OPT_FLOAT, beta2, 0, "optim", T, STORED, "AdamW beta2"),
    ROW("eps", ED_OPT_FLOAT, eps, 0, "optim", T, STORED, "AdamW epsilon"),
    ROW("momentum", ED_OPT_FLOAT, momentum, 0, "optim", T, STORED, "SGD momentum"),
    CHOICE("optimizer", optimizer, ed_opt_kind_names, 0, "optim", T, T|I, "optimizer"),
    ROW("label-smoothing", ED_OPT_FLOAT, label_smoothing, 0, "optim", T, STORED, "cross-entropy label smoothing in [0, 1)"),
    ROW("max-grad-norm", ED_OPT_FLOAT, max_grad_norm, 0, "optim", T, STORED, "clip the global gradient norm to this (0 = off)"),
    ROW("warmup-steps", ED_OPT_LONG, warmup_steps, 0, "optim", T, STORED, "linear learning-rate warmup steps"),
    CHOICE("lr-schedule", lr_schedule, ed_sched_kind_names, 0, "optim", T, STORED, "learning-rate schedule after the warmup"),
    /* loop */
    ROW("log-interval", ED_OPT_INT, log_interval, 0, "loop", T, STORED, "steps between progress lines / history log rows"),
    ROW("eval-interval", ED_OPT_LONG, eval_interval, 0, "loop", T, STORED, "also validate every N steps (0 = once per epoch only)"),
    ROW("save-every", ED_OPT_INT, save_every, 0, "loop", T, STORED, "write epoch-<N>.h5 every N epochs (0 = off); last.h5 follows every epoch"),
    ROW("save-steps", ED_OPT_LONG, save_steps, 0, "loop", T, STORED, "write step-<N>.h5 every N steps (0 = off)"),
    ROW("keep-last", ED_OPT_INT, keep_last, 0, "loop", T, STORED, "keep only the newest K step-<N>.h5 and the newest K epoch-<N>.h5 (0 = keep all)"),
    ROW("early-stopping-patience", ED_OPT_INT, early_stopping_patience, 0, "loop", T, STORED,
        "stop after N validations without a better --best-metric (val loss by default; 0 = off)"),
    ROW("checkpoint-dir", ED_OPT_STR, checkpoint_dir, 'o', "loop", T|X, STORED,
        "directory for best.h5, last.h5, epoch-<N>.h5, step-<N>.h5, history, metrics.jsonl (import/export: the output)"),
    ROW("resume", ED_OPT_STR, resume, 'r', "loop", T, ONCE, "continue from a checkpoint PATH, or `auto` (newest in checkpoint-dir)"),
    ROW("allow-data-change", ED_OPT_BOOL, allow_data_change, 0, "loop", T, ONCE,
        "with --resume: accept other training data than the checkpoint's in mid-epoch (the epoch restarts)"),
    ROW("init-from", ED_OPT_STR, init_from, 0, "loop", T, ONCE,
        "start from the weights and tokenizer of a checkpoint (e.g. from `import`): new optimizer, new run"),
    ROW("compress", ED_OPT_INT, compress, 0, "loop", T, STORED, "checkpoint deflate level 0..9 (0 = off)"),
    ROW("async-save", ED_OPT_BOOL, async_save, 0, "loop", T, STORED,
        "write checkpoints on a helper thread: the step waits only for an in-memory copy (--no-async-save: write in the step)"),
    ROW("history-file", ED_OPT_STR, history_file, 0, "loop", T, STORED, "history JSON path (CSV next to it); default <checkpoint-dir>/history.json"),
    ROW("tensorboard", ED_OPT_STR, tensorboard, 0, "loop", T, STORED,
        "write TensorBoard event files to DIR (`auto` = <checkpoint-dir>/tb; default off)"),
    CHOICE("on-nan", on_nan, ed_nan_policy_names, 0, "loop", T, STORED, "on a NaN/Inf loss or gradient: drop the update, or exit 1"),
    /* system */
    ROW("seed", ED_OPT_U64, seed, 's', "system", T|E|G, T|I, "seed of weight init, shuffling, dropout and generate's sampling"),
    ROW("threads", ED_OPT_INT, threads, 't', "system", T|E|G|P|K, STORED, "threads per rank (0 = cores on the node / ranks on the node)"),
    ROW("bucket-mb", ED_OPT_SIZE, bucket_mb, 0, "system", T, STORED, "gradient allreduce bucket size in MB"),
    CHOICE("grad-comm", grad_comm, ed_grad_comm_names, 0, "system", T, STORED,
           "gradients on the wire: bf16 halves the allreduce bytes (summed in fp32)"),
    ROW("zero", ED_OPT_INT, zero, 0, "system", T, STORED, "ZeRO stage: 0 = replicated optimizer, 1 = optimizer state sharded over ranks"),
    ROW("recompute", ED_OPT_BOOL, recompute, 0, "system", T, STORED, "activation recomputation: keep block inputs only, recompute in backward (~L-fold less block memory, ~+30% time)"),
    ROW("dry-run", ED_OPT_BOOL, dry_run, 0, "system", T|G, ONCE, "print the model size and memory report, then exit"),
    ROW("comm-timeout", ED_OPT_INT, comm_timeout, 0, "system", T, STORED,
        "seconds any collective may wait for a rank before the job stops with exit 4 naming it (0 = off)"),
    ROW("check-every", ED_OPT_INT, check_every, 0, "system", T, STORED, "debug: compare a weight checksum across ranks every N steps"),
    ROW("debug-exit-rank", ED_OPT_INT, debug_exit_rank, 0, "system", T, ONCE, "debug: this rank calls exit(1) ..."),
    ROW("debug-exit-step", ED_OPT_LONG, debug_exit_step, 0, "system", T, ONCE, "debug: ... at this global step (0 = off)"),
    ROW("debug-inf-step", ED_OPT_LONG, debug_inf_step, 0, "system", T, ONCE,
        "debug: the last rank's gradients of step N become Inf before the allreduce (0 = off)"),
    ROW("quiet", ED_OPT_BOOL, quiet, 'q', "system", T|E|G|P|X|V|K, STORED, "print only the final summary and errors"),
    ROW("ref-gflops", ED_OPT_FLOAT, ref_gflops, 0, "system", T, STORED,
        "per-rank reference GFLOPS for the MFU column (0 = $ED_REF_GFLOPS, else the calibrated per-core GEMM peak x threads)"),
    CHOICE("gemm", gemm, ed_gemm_backend_names, 0, "system", T|E|G|K, STORED,
           "GEMM backend; auto: each is timed at the command's own products (train: the step's, eval: the forward "
           "pass's, generate: decoding's) and the fastest taken, figures cached (docs/design.md)"),
    ROW("gemm-cache", ED_OPT_BOOL, gemm_cache, 0, "system", T|E|G, STORED,
        "keep --gemm auto's measurements and the MFU reference in $XDG_CACHE_HOME/expert-dist/gemm.tsv "
        "(default ~/.cache/expert-dist/); off: measure at every start, store nothing"),
    CHOICE("precision", precision, ed_precision_names, 0, "system", T|E|G|K, STORED,
           "GEMM precision: bf16 / fp16 = bf16 / fp16 inputs, fp32 accumulation (emulated where the CPU has no "
           "such matmul); fp16 trains with dynamic loss scaling"),
    ROW("loss-scale-init", ED_OPT_FLOAT, loss_scale_init, 0, "system", T, STORED,
        "fp16: the loss scaler's initial scale (a resumed fp16 run continues its checkpoint's scale)"),
    ROW("loss-scale-growth-interval", ED_OPT_LONG, loss_scale_growth_interval, 0, "system", T, STORED,
        "fp16: double the loss scale after this many steps in a row without an overflow"),
    /* generate / eval */
    ROW("checkpoint", ED_OPT_STR, checkpoint, 'C', "generate", E|G|I, ONCE, "checkpoint file for eval / generate / inspect"),
    ROW("prompt", ED_OPT_STR, prompt, 0, "generate", G, ONCE, "text to continue"),
    ROW("sample-tokens", ED_OPT_INT, sample_tokens, 0, "loop", T, STORED,
        "at the end of training, print a sample of N tokens generated from best.h5 (0 = off)"),
    ROW("max-new-tokens", ED_OPT_INT, max_new_tokens, 'n', "generate", T|E|G, STORED, "tokens to generate"),
    ROW("temperature", ED_OPT_FLOAT, temperature, 'T', "generate", T|E|G, STORED, "sampling temperature (0 = greedy)"),
    ROW("top-k", ED_OPT_INT, top_k, 'k', "generate", T|E|G, STORED, "sample among the k most likely tokens (0 = all)"),
    ROW("top-p", ED_OPT_FLOAT, top_p, 0, "generate", T|E|G, STORED, "then among the fewest tokens holding this probability (1 = all)"),
    ROW("repetition-penalty", ED_OPT_FLOAT, repetition_penalty, 0, "generate", T|E|G, STORED,
        "divide positive (multiply negative) logits of tokens already in the text (1 = off)"),
    ROW("stop", ED_OPT_STR, stop, 0, "generate", T|E|G, STORED, "end a sample where this text appears (not printed)"),
    ROW("num-samples", ED_OPT_INT, num_samples, 0, "generate", G, STORED, "samples per prompt"),
    ROW("prompt-file", ED_OPT_STR, prompt_file, 0, "generate", G, ONCE, "file of prompts, one per paragraph (blank-line separated)"),
    ROW("kv-cache", ED_OPT_BOOL, kv_cache, 0, "generate", T|E|G, STORED, "key/value cache (--no-kv-cache: full forward per token, for comparison)"),
    /* generated text scored against references (docs/metrics.md) */
    ROW("generate", ED_OPT_BOOL, generate, 0, "generate", E, ONCE,
        "eval: FILE is a references .jsonl ({\"prompt\", \"reference\"} lines): continue each prompt, report BLEU and ROUGE"),
    ROW("predictions", ED_OPT_STR, predictions, 0, "generate", E, ONCE,
        "eval --generate: write each example's prompt, generated text, references and scores here (.jsonl)"),
    CHOICE("decode", decode, ed_decode_kind_names, 0, "generate", T|E, STORED,
           "eval --generate, --val-generate: greedy (arg-max), or sample with --temperature/--top-k/--top-p/--seed"),
    ROW("rouge-stem", ED_OPT_BOOL, rouge_stem, 0, "generate", T|E, STORED,
        "ROUGE on Porter-stemmed tokens (Snowball; tokens longer than 3 characters), as rouge-score's use_stemmer"),
    ROW("val-generate", ED_OPT_STR, val_generate, 0, "loop", T, STORED,
        "references .jsonl: at validations also generate and report BLEU and ROUGE (see eval --generate)"),
    ROW("val-generate-every", ED_OPT_LONG, val_generate_every, 0, "loop", T, STORED,
        "with --val-generate: score at every N-th validation (and the last one)"),
    CHOICE("best-metric", best_metric, ed_best_metric_names, 0, "loop", T, T|I,
           "what best.h5 and early stopping follow: val_loss (lower is better), bleu or rougeL (higher; need --val-generate)"),
    {NULL, ED_OPT_INT, 0, 0, 0, NULL, 0, 0, NULL, NULL},
};

#undef T
#undef E
#undef G
#undef I
#undef P
#undef X
#undef V
#undef SHAPE
#undef STORED
#undef ONCE

/* Names users bring from other trainers (PyTorch scripts, Hugging Face TrainingArguments,
 * nanoGPT/GPT-2 configs) and what ours is; an unknown option is looked up here before
 * the nearest spelling (ed_option_suggest). */
static const struct {
    const char *theirs, *ours;
} ALIASES[] = {
    {"learning-rate", "lr"},
    {"num-epochs", "epochs"},
    {"num-train-epochs", "epochs"},
    {"max-epochs", "epochs"},
    {"lr-scheduler", "lr-schedule"},
    {"lr-scheduler-type", "lr-schedule"},
    {"fp16", "precision bf16"},
    {"bf16", "precision bf16"},
    {"mixed-precision", "precision bf16"},
    {"gradient-checkpointing", "recompute"},
    {"activation-checkpointing", "recompute"},
    {"eval-steps", "eval-interval"},
    {"evaluation-steps", "eval-interval"},
    {"logging-steps", "log-interval"},
    {"save-total-limit", "keep-last"},
    {"output-dir", "checkpoint-dir"},
    {"resume-from-checkpoint", "resume"},
    {"per-device-train-batch-size", "batch-size"},
    {"train-batch-size", "batch-size"},
    {"gradient-accumulation-steps", "grad-accum"},
    {"max-train-steps", "max-steps"},
    {"warmup", "warmup-steps"},
    {"max-seq-length", "max-length"},
    {"block-size", "max-length"},
    {"context-length", "max-length"},
    {"n-embd", "d-model"},
    {"hidden-size", "d-model"},
    {"n-layer", "n-layers"},
    {"num-layers", "n-layers"},
    {"n-head", "n-heads"},
    {"num-heads", "n-heads"},
    {"num-attention-heads", "n-heads"},
    {"intermediate-size", "d-ff"},
    {"train-data", "train-file"},
    {"eval-file", "val-file"},
    {"validation-file", "val-file"},
    {"tokenizer-file", "vocab-file"},
    {"num-threads", "threads"},
    {"max-tokens", "max-new-tokens"},
};

/* Levenshtein distance of a and b ('_' = '-'), capped: names are short. */
static int distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    int row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            char ca = a[i - 1] == '_' ? '-' : a[i - 1], cb = b[j - 1] == '_' ? '-' : b[j - 1];
            int best = diag + (ca != cb);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = row[j];
            row[j] = best;
        }
    }
    return row[lb];
}

const char *ed_option_suggest(const char *name) {
    char norm[64];
    size_t n = strlen(name);
    if (n >= sizeof norm) return NULL;
    for (size_t i = 0; i <= n; i++) norm[i] = name[i] == '_' ? '-' : (char)tolower((unsigned char)name[i]);
    for (size_t i = 0; i < sizeof ALIASES / sizeof ALIASES[0]; i++)
        if (strcmp(norm, ALIASES[i].theirs) == 0) return ALIASES[i].ours;
    /* the nearest name, if near: one edit in a short name, up to a third of a long one */
    const char *best = NULL;
    int best_d = (int)(n / 3 > 1 ? n / 3 : 1) + 1;
    for (const ed_option_spec *s = TABLE; s->name; s++) {
        int d = distance(norm, s->name);
        if (d < best_d) best_d = d, best = s->name;
    }
    for (size_t i = 0; i < sizeof ALIASES / sizeof ALIASES[0]; i++) { /* --lerning-rate */
        int d = distance(norm, ALIASES[i].theirs);
        if (d < best_d) best_d = d, best = ALIASES[i].ours;
    }
    return best;
}

_Static_assert(sizeof TABLE / sizeof TABLE[0] - 1 <= ED_OPT_MAX_ROWS, "ed_options.given has a byte per row");

const ed_option_spec *ed_option_table(size_t *n) {
    if (n) *n = sizeof TABLE / sizeof TABLE[0] - 1;
    return TABLE;
}

size_t ed_option_index(const ed_option_spec *s) { return (size_t)(s - TABLE); }

void ed_options_defaults(ed_options *o) {
    memset(o, 0, sizeof *o);
    strcpy(o->text_field, "text");
    o->tokenizer = ED_TOK_WORD;
    o->vocab_size = 10000;
    o->min_freq = 1;
    o->max_length = 512;
    o->stride = 256;
    /* preset stays "": the model shape below is the seed pipeline's; the command line
     * applies "tiny" when neither a flag nor the config file names a preset. */
    o->model = (ed_model_config){.vocab_size = 0, .d_model = 512, .n_layers = 8, .n_heads = 8,
                                 .d_ff = 2048, .max_seq_len = 512, .dropout = 0.0f,
                                 .arch = ED_ARCH_GPT2, .rope_theta = 10000.0f, .rms_eps = 1e-6f};
    o->batch_size = 8;
    o->grad_accum = 1;
    o->epochs = 10;
    o->lr = 5e-4f;
    o->weight_decay = 0.01f;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->eps = 1e-8f;
    o->momentum = 0.9f;
    o->optimizer = ED_OPT_ADAMW;
    o->grad_comm = ED_COMM_FP32;
    o->max_grad_norm = 1.0f;
    o->lr_schedule = ED_SCHED_CONSTANT;
    o->log_interval = 10;
    o->save_every = 1;
    o->keep_last = 3;
    strcpy(o->checkpoint_dir, "checkpoints");
    o->on_nan = ED_NAN_SKIP;
    o->gemm = ED_GEMM_AUTO;
    o->gemm_cache = 1;
    o->precision = ED_PREC_FP32;
    o->loss_scale_init = 65536.0f;
    o->loss_scale_growth_interval = 2000;
    o->seed = 42;
    o->bucket_mb = 4;
    o->comm_timeout = 600; /* ED_COMM_TIMEOUT_DEFAULT */
    o->async_save = 1;
    o->max_new_tokens = 50;
    o->sample_tokens = 30;
    o->temperature = 1.0f;
    o->top_k = 40;
    o->top_p = 1.0f;
    o->repetition_penalty = 1.0f;
    o->num_samples = 1;
    o->kv_cache = 1;
    o->decode = ED_DECODE_GREEDY;
    o->val_generate_every = 1;
    o->best_metric = ED_BEST_VAL_LOSS;
}

/* A preset fixes the model shape and the windows, tokenizer, vocabulary and run length
 * that go with it; it is applied before the config file and the flags, so both can still
 * change any of it. Every preset trains on per-document windows (the original
 * pipeline's semantics, packed into shared rows: ed_row_layout); `--pack` is a choice the
 * user makes. `tiny` is the bare `expert-dist`: one epoch of the bundled
 * corpus on a 4000-token byte-level BPE (no unknown token, so its closing sample reads
 * as text; a 4000-word vocabulary left a quarter of the words <UNK>), validated every 200
 * steps, in well under 90 s on 2 cores (README, quickstart). small and seed keep the seed
 * pipeline's word tokenizer. */
typedef struct {
    const char *name;
    int d_model, n_layers, n_heads, d_ff, max_seq_len, max_length, stride, epochs;
    ed_tok_kind tokenizer;
    int vocab_size, pack;
    long eval_interval;
    ed_arch arch;
    int n_kv_heads;
} preset_row;

/* The llama presets match tiny and small in width, depth, heads, windows and run length;
 * their SwiGLU width is 2/3 of the GPT-2 MLP's (three matrices instead of two: about the
 * same MLP parameters, the usual Llama sizing) and half as many key/value heads. */
static const preset_row PRESETS[] = {
    {"tiny", 128, 2, 4, 512, 128, 64, 64, 1, ED_TOK_BPE, 4000, 0, 200, ED_ARCH_GPT2, 0},
    {"small", 256, 4, 4, 1024, 256, 256, 128, 10, ED_TOK_WORD, 10000, 0, 0, ED_ARCH_GPT2, 0},
    {"seed", 512, 8, 8, 2048, 512, 512, 256, 10, ED_TOK_WORD, 10000, 0, 0, ED_ARCH_GPT2, 0},
    {"llama-tiny", 128, 2, 4, 344, 128, 64, 64, 1, ED_TOK_BPE, 4000, 0, 200, ED_ARCH_LLAMA, 2},
    {"llama-small", 256, 4, 4, 688, 256, 256, 128, 10, ED_TOK_WORD, 10000, 0, 0, ED_ARCH_LLAMA, 2},
};

int ed_options_preset(ed_options *o, const char *name, ed_error *err) {
    for (size_t i = 0; i < sizeof PRESETS / sizeof PRESETS[0]; i++) {
        const preset_row *p = &PRESETS[i];
        if (strcmp(p->name, name) != 0) continue;
        snprintf(o->preset, sizeof o->preset, "%s", p->name);
        o->model.d_model = p->d_model;
        o->model.n_layers = p->n_layers;
        o->model.n_heads = p->n_heads;
        o->model.d_ff = p->d_ff;
        o->model.max_seq_len = p->max_seq_len;
        o->model.arch = p->arch;
        o->model.n_kv_heads = p->n_kv_heads;
        o->max_length = p->max_length;
        o->stride = p->stride;
        o->epochs = p->epochs;
        o->tokenizer = p->tokenizer;
        o->vocab_size = p->vocab_size;
        o->pack = p->pack;
        o->eval_interval = p->eval_interval;
        return 0;
    }
    return ed_fail(err, "unknown preset '%s' (expected tiny, small, seed, llama-tiny or llama-small)", name);
}
