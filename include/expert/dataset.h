/* dataset.h — from files to per-rank batches: documents, sliding windows, batches, sharding.
 *
 * Flow: ed_docs_read (a .txt or .jsonl file -> documents with their source line) ->
 * ed_tok_train (vocabulary, once, from the training documents) -> ed_dataset_build
 * (every document -> [BOS] tokens [EOS], concatenated ONCE into an int32 token array;
 * windows are (start, length) offsets into it, max_length tokens, advancing by stride)
 * -> ed_sampler (which windows rank r uses at optimizer step s, micro-batch a) ->
 * ed_batch_fill (inputs = window[:-1], targets = window[1:], right padding with
 * <PAD> inputs, -100 targets and attention_mask 0).
 *
 * Sharding contract (what makes -n 1 == -n N): an epoch's window order is a permutation
 * drawn from (seed, epoch) only. Optimizer step s uses positions [s*G, (s+1)*G) of it,
 * G = batch_size * grad_accum * world_size (the last step of an epoch may have fewer).
 * Every window is used exactly once per epoch for any world size, and the SET of windows
 * of a step depends only on (seed, epoch, s, G). Inside a step the windows are balanced
 * over the S = grad_accum * world_size (micro, rank) slots by padded tokens (rows x
 * padded row length, the engine's work): sorted longest first and cut into S runs of
 * consecutive windows with the least possible maximum cost (sampler.c), so a slot of
 * short windows gets more of them. Then:
 *   - the costliest slot costs as little as any assignment of the step's windows allows,
 *     and slots are dealt to ranks in snake order by cost (even per-rank sums);
 *   - no slot has more padded tokens than B rows of the step's longest window: the
 *     memory an unbalanced micro-batch of B rows would have needed (a slot may hold more
 *     than B, shorter, rows; ed_sampler_max_rows bounds the count);
 *   - slot contents depend only on (the step's windows, S, B): -n 1 --grad-accum 2 and
 *     -n 2 run the same micro-batches.
 * Without lengths (ed_sampler_set_lengths not called) every window counts the same: B per
 * slot in a full step, at most ceil(m/S) of a last step's m. Validation uses the same scheme
 * without shuffling. */
#ifndef EXPERT_DATASET_H
#define EXPERT_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "expert/common.h"
#include "expert/options.h" /* ed_text_format */
#include "expert/tokenizer.h"

/* ---- documents ---------------------------------------------------------------- */

typedef struct {
    const char *text_field; /* .jsonl field holding the text (default "text") */
    ed_text_format format;  /* AUTO: by the extension (.txt / .jsonl), else refused */
    int skip_bad_lines;     /* warn and count instead of failing on a bad .jsonl line */
} ed_read_options;

typedef struct {
    size_t n;
    char **text;   /* NUL-terminated, valid UTF-8 */
    size_t *len;
    long *line;    /* 1-based line where the document starts in its file */
    char *path;    /* source file */
    long skipped;  /* bad lines skipped (only with skip_bad_lines) */
} ed_docs;

/* Reads .txt (paragraphs separated by blank lines) or .jsonl (one JSON object per line).
 * Errors name "file:line" (and the byte offset for invalid UTF-8): missing file,
 * directory, empty file, no usable text, invalid UTF-8, non-JSON line, non-object,
 * missing or non-string text field, unknown extension (listing .txt and .jsonl, and
 * naming --format) unless opt->format says which. */
int ed_docs_read(const char *path, const ed_read_options *opt, ed_docs *docs, ed_error *err);

void ed_docs_free(ed_docs *docs);

/* ---- windows -------------------------------------------------------------------- */

typedef struct {
    int max_length; /* tokens per window incl. the shifted label (default 512) */
    int stride;     /* window step (default 256), >= 1 */
    int pack;       /* 1: concatenate documents and cut full max_length windows (no padding) */
} ed_window_options;

typedef struct {
    int32_t *tokens;    /* all documents, each [BOS] ... [EOS], back to back */
    size_t n_tokens;
    uint64_t *win_start; /* window w covers tokens[win_start[w] .. + win_len[w]) */
    uint32_t *win_len;   /* 2 .. max_length */
    size_t n_windows;
    size_t n_docs;
    int max_length;
} ed_dataset;

/* Windows per document of L tokens (incl. BOS/EOS): starts 0, stride, 2*stride, ... each
 * min(max_length, L - start) tokens, ending with the first window that reaches the end of
 * the document (L 10, max_length 5, stride 3 -> [0,5) [3,8) [6,10)); windows of fewer than
 * 2 tokens are dropped. pack: full max_length windows over the concatenated stream, the
 * tail that does not fill one is unused (a stream shorter than max_length is one window).
 * -1 with err on max_length < 2, stride < 1, no documents, or more than 2^32-1 windows.
 * ds owns everything it points to; free with ed_dataset_free. */
int ed_dataset_build(ed_dataset *ds, const ed_docs *docs, const ed_tokenizer *tok,
                     const ed_window_options *opt, ed_error *err);
void ed_dataset_free(ed_dataset *ds);
/* The window rule over tokens already in ds (ds->tokens, ds->n_tokens): document d is
 * tokens[off[d] .. off[d+1]), n_docs documents. Fills win_start, win_len, n_windows (0
 * when nothing fits; the caller decides that is an error), n_docs and max_length.
 * ed_dataset_build and the prepared-file loader both cut windows here. */
void ed_dataset_cut_windows(ed_dataset *ds, const uint64_t *off, size_t n_docs, const ed_window_options *opt);

/* ---- batches ---------------------------------------------------------------------- */

typedef struct {
    int B, T;            /* rows used, padded sequence length (max window len - 1, or max_length - 1) */
    int cap_B, cap_T;
    int32_t *inputs;     /* [B*T] */
    int32_t *targets;    /* [B*T], -100 at padding */
    uint8_t *mask;       /* [B*T] attention_mask: 1 real, 0 pad */
    long n_targets;      /* number of targets != -100 */
} ed_batch;

void ed_batch_init(ed_batch *b, int cap_B, int cap_T);
void ed_batch_free(ed_batch *b);
/* Fills b from windows ids[0..n); pad_to_max: pad to max_length-1 instead of the longest.
 * Row i is at offset i*T of each array (dense [B, T], not cap_T apart). n may be 0 (a rank
 * with nothing in the last step): B = 0, n_targets = 0. The capacity is cap_B * cap_T
 * tokens: a balanced micro-batch may have more than cap_B rows when they are shorter
 * (the sampler guarantees n * T <= cap_B * cap_T). More tokens, or T > cap_T, is a bug
 * and aborts. */
void ed_batch_fill(ed_batch *b, const ed_dataset *ds, const uint32_t *ids, int n, int pad_to_max);

/* ---- sharding ------------------------------------------------------------------- */

/* One window of the step being assigned, and one slot with its cost (sampler.c scratch). */
typedef struct {
    uint32_t id, T, pos, slot;
} ed_step_window;
typedef struct {
    uint64_t cost;
    uint32_t slot;
} ed_slot_rank;

typedef struct {
    size_t n_windows;
    int batch_size, grad_accum, rank, world;
    uint64_t seed;
    int shuffle;
    int epoch;       /* the epoch the permutation was drawn for */
    uint32_t *perm;  /* [n_windows] */
    const uint32_t *win_len; /* borrowed (ed_sampler_set_lengths), NULL: all windows alike */
    int pad_to;              /* > 0: rows padded to this length (--pad-to-max) */
    /* scratch of ed_sampler_micro: one step's assignment, recomputed on every call */
    ed_step_window *step_win; /* [G] */
    uint64_t *slot_cost;      /* [S] padded tokens */
    ed_slot_rank *slot_order; /* [S] */
} ed_sampler;

/* Ready to use for epoch 0 (the permutation is drawn here too). */
void ed_sampler_init(ed_sampler *s, size_t n_windows, int batch_size, int grad_accum, int rank,
                     int world, uint64_t seed, int shuffle);
/* Balance the step's windows by padded tokens: win_len[n_windows] are the windows' lengths
 * (ed_dataset.win_len, borrowed: must outlive the sampler); pad_to > 0 when every row is
 * padded to that length (--pad-to-max), 0 when rows are padded to their micro-batch's
 * longest window. Every rank must make the same call. */
void ed_sampler_set_lengths(ed_sampler *s, const uint32_t *win_len, int pad_to);
void ed_sampler_free(ed_sampler *s);
/* Draws the permutation of `epoch` (identity without shuffle). Pure function of (seed, epoch). */
void ed_sampler_set_epoch(ed_sampler *s, int epoch);
/* Optimizer steps per epoch: ceil(n_windows / G). */
long ed_sampler_steps(const ed_sampler *s);
/* The most windows ed_sampler_micro can return: B, or G with lengths and pad_to 0. */
size_t ed_sampler_max_rows(const ed_sampler *s);
/* Window ids of (step, micro) for this rank into ids[0..ed_sampler_max_rows), longest
 * first; returns how many (0 when the step has none for this slot). A pure function of
 * the arguments and the sampler's settings; s is only used as scratch. */
int ed_sampler_micro(ed_sampler *s, long step, int micro, uint32_t *ids);
/* The same for the step that starts at position `first` of the epoch's permutation (the
 * windows the epoch has consumed so far): it takes positions [first, first + G).
 * ed_sampler_micro(s, step, ...) is ed_sampler_micro_at(s, step * G, ...). A run resumed
 * with another global batch continues at the window where the old one stopped. */
int ed_sampler_micro_at(ed_sampler *s, uint64_t first, int micro, uint32_t *ids);
/* Windows one step starting at `first` consumes: min(G, n_windows - first). */
uint64_t ed_sampler_step_windows(const ed_sampler *s, uint64_t first);

#endif
