/* dataset.h — from files to per-rank batches: documents, sliding windows, batches, sharding.
 *
 * Flow: ed_docs_read (a .txt or .jsonl file -> documents with their source line) ->
 * ed_tok_train (vocabulary, once, from the training documents) -> ed_dataset_build
 * (every document -> [BOS] tokens [EOS], concatenated ONCE into one token array;
 * windows are (start, length) ranges of it, max_length tokens, advancing by stride,
 * computed on demand by ed_dataset_window from the document index)
 * -> ed_sampler (which windows rank r uses at optimizer step s, micro-batch a) ->
 * ed_batch_fill (inputs = window[:-1], targets = window[1:]; without pack the windows
 * share rows as segments with block-diagonal attention (ed_row_layout), else one a row;
 * right padding with <PAD> inputs, -100 targets and attention_mask 0).
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
 * With packed rows (ED_ROWS_PACKED, ed_sampler_set_packed) a slot's cost is instead the
 * rows of max_length - 1 positions its windows fill (first fit, longest first), the same
 * cut into consecutive runs minimises the costliest slot's rows, and no slot needs more
 * than B rows (B windows always fit in B rows).
 * Without lengths (ed_sampler_set_lengths not called) every window counts the same: B per
 * slot in a full step, at most ceil(m/S) of a last step's m. Validation uses the same scheme
 * without shuffling.
 *
 * Instruction data (--format instruct, docs/formats.md has the shapes and the template):
 * a document is one rendered example whose completion spans (assistant turns) are known;
 * ed_dataset_build encodes it as [BOS] prompt completion [EOS] (EOS after every
 * completion), keeps a per-token loss flag (--loss-on completion) and cuts ONE window per
 * example: its last max_length tokens, so an example that is too long loses prompt tokens
 * from the left, never a completion token (or is refused; --truncate error stops). The
 * batches then carry -100 at every target that is not a loss token, so the trainer's
 * global count of non-ignored targets is the count of loss tokens. */
#ifndef EXPERT_DATASET_H
#define EXPERT_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "expert/common.h"
#include "expert/options.h" /* ed_text_format */
#include "expert/tokenizer.h"

/* ---- documents ---------------------------------------------------------------- */

/* Room for "file:line: what is wrong" of a skipped line. */
#define ED_BAD_LINE_LEN 512

typedef struct {
    const char *text_field; /* .jsonl field holding the text (default "text") */
    ed_text_format format;  /* AUTO: by the extension (.txt / .jsonl), else refused */
    int skip_bad_lines;     /* warn and count instead of failing on a bad .jsonl line */
} ed_read_options;

/* A byte range [start, end) of a document's text. */
typedef struct {
    size_t start, end;
} ed_span;

typedef struct {
    size_t n;
    char **text;   /* NUL-terminated, valid UTF-8 */
    size_t *len;
    long *line;    /* 1-based line where the document starts in its file */
    char *path;    /* source file */
    long skipped;  /* bad lines skipped (only with skip_bad_lines) */
    char first_bad[ED_BAD_LINE_LEN]; /* "file:line: what is wrong" of the first one skipped */
    /* instruction data only (NULL otherwise): the completion spans of document d, in
     * order, non-empty and not overlapping; the bytes outside them are prompt */
    size_t *n_spans;
    ed_span **spans;
} ed_docs;

/* --skip-bad-lines' one warning line on stderr, the same from train, eval and prepare:
 * "warning: --skip-bad-lines: N bad line(s) skipped; the first: FILE:LINE: what". Nothing
 * when n is 0. */
void ed_docs_warn_skipped(long n, const char *first_bad);

/* Reads .txt (paragraphs separated by blank lines) or .jsonl (one JSON object per line),
 * either optionally compressed (.gz: gzip, .zst: zstd; read as they stream in). Errors
 * name "file:line" (and the byte offset for invalid UTF-8, counted in the decompressed
 * text): missing file, directory, empty file, no usable text, invalid UTF-8, non-JSON
 * line, non-object, missing or non-string text field, unknown extension (listing .txt
 * and .jsonl), a compressed file that is not of its codec, corrupt or truncated (naming
 * the compressed byte offset). opt->format txt/jsonl reads a file of any name.
 * opt->format instruct reads .jsonl instruction data (any name): documents with spans;
 * a line with neither prompt/completion nor messages, a non-string prompt/completion, an
 * empty completion, a messages entry with an unknown role or a non-string content, or no
 * assistant turn, is an error naming file:line and the field. */
int ed_docs_read(const char *path, const ed_read_options *opt, ed_docs *docs, ed_error *err);

void ed_docs_free(ed_docs *docs);

/* ---- input lists and streaming ---------------------------------------------------- */

/* The files an input spec names, in document order: a comma-separated list whose items
 * are files, directories (their .txt/.jsonl[.gz|.zst] files sorted by name, hidden ones
 * skipped) or glob patterns (sorted). -1 with err on a pattern that matches nothing, a
 * directory without usable files, or an empty spec. bytes[i]: file size (0 if missing;
 * the reader reports it). */
typedef struct {
    size_t n;
    char **path;
    uint64_t *bytes;
} ed_inputs;
int ed_inputs_expand(const char *spec, ed_inputs *in, ed_error *err);
void ed_inputs_free(ed_inputs *in);

/* 1 for .jsonl, 0 for .txt (each optionally .gz/.zst), -1 for anything else. */
int ed_input_format(const char *path);
/* 1 when the name asks for a codec (.gz, .zst, .zstd): such a file is read whole. */
int ed_input_compressed(const char *path);

/* All documents of every file of a spec, in order (train from text; `eval`). docs->path
 * is the file when the spec names one, else the spec. */
int ed_docs_read_inputs(const char *spec, const ed_read_options *opt, ed_docs *docs, ed_error *err);

/* Streams the documents of one file to emit(ctx, text, n, line) as it is read, with O(1 MiB
 * + longest line) memory. For a plain file, [start, end) selects the documents that start
 * in that byte range, when start and end come from ed_docs_boundary; compressed files are
 * read whole (start 0, end UINT64_MAX). hash, when set, sees every raw byte of the file
 * (also outside the range: the scan reads them for it). progress gets raw bytes as they
 * are consumed. Errors as ed_docs_read, line numbers counted from the file's start. */
typedef void (*ed_doc_fn)(void *ctx, const char *text, size_t n, long line);
/* An instruction example (--format instruct): the rendered text and its completion spans. */
typedef void (*ed_example_fn)(void *ctx, const char *text, size_t n, const ed_span *spans, size_t n_spans, long line);
typedef struct {
    uint64_t start, end;
    ed_doc_fn emit;
    ed_example_fn emit_example; /* instruction data goes here; NULL: such a file is refused */
    void *ctx;
    void (*hash)(void *hash_ctx, const void *bytes, size_t n);
    void *hash_ctx;
    void (*progress)(void *progress_ctx, uint64_t raw_bytes);
    void *progress_ctx;
    long skipped;         /* out: bad .jsonl lines skipped (skip_bad_lines) */
    char first_bad[ED_BAD_LINE_LEN]; /* out: the first one's "file:line: what" ("" if none) */
    uint64_t text_bytes;  /* out: decompressed bytes read */
} ed_scan;
int ed_docs_scan(const char *path, const ed_read_options *opt, ed_scan *sc, ed_error *err);

/* Where a rank may cut a plain file near byte x so that no document straddles the cut:
 * the first line start >= x for .jsonl, the start of the first blank line at or after
 * that for .txt (0 for x == 0, the size for x at or past the end). Ranks that cut at
 * boundary(x_r) partition the documents exactly as one whole-file read does. */
int ed_docs_boundary(const char *path, const ed_read_options *opt, uint64_t x, uint64_t *out, ed_error *err);

/* Index of the first byte of s[0..n) that is not valid UTF-8 (or is NUL, which no text
 * document may contain), or n when all is well: the readers' check, for text that
 * arrives by another way (a --prompt). */
size_t ed_utf8_bad(const char *s, size_t n);

/* ---- windows -------------------------------------------------------------------- */

typedef struct {
    int max_length; /* tokens per window incl. the shifted label (default 512) */
    int stride;     /* window step (default 256), >= 1 */
    int pack;       /* 1: concatenate documents and cut full max_length windows (no padding) */
    int examples;   /* 1: one window per document, its last max_length tokens (instruction data;
                     * ed_dataset_build sets it when the documents have spans) */
    /* instruction data only */
    ed_loss_on loss_on;   /* completion: only completion tokens (and their EOS) are targets */
    ed_truncate truncate; /* error: an example longer than max_length fails the build */
} ed_window_options;

/* What ed_dataset_build did with instruction data (all 0 for plain text). */
typedef struct {
    long examples;        /* examples read */
    long truncated;       /* kept with prompt tokens dropped from the left */
    long refused;         /* left out: even without prompt their completions exceed max_length */
    long first_refused;   /* the line of the first refused example (0: none) */
    uint64_t loss_tokens; /* targets the loss is on, over all windows */
} ed_example_counts;

/* Where a dataset's tokens live when they are not in memory (a prepared file whose token
 * dataset is chunked or compressed, so it cannot be mapped): read(ctx, at, n, out, err)
 * copies ids [at, at + n) widened to int32 into out; close(ctx) releases ctx. Mapped and
 * in-memory datasets have tokens != NULL and no reader. */
typedef struct {
    void *ctx;
    int (*read)(void *ctx, uint64_t at, size_t n, int32_t *out, ed_error *err);
    void (*close)(void *ctx);
} ed_token_reader;

/* A dataset is a token array plus the window rule; windows are computed, not stored.
 *
 * Memory (docs/memory.md): the tokens are either in memory (text path: 2 bytes a token
 * when the vocabulary fits uint16, else 4) or a read-only mapping of the prepared file
 * (page cache, shared by the ranks of a node; counted in a rank's RSS only for the pages
 * it touched). doc_off is the document index, n_docs + 1 uint64 (in memory or mapped).
 * The block index holds one uint64 per ED_WIN_BLOCK documents (the windows before each
 * block), so window w -> (start, length) is a binary search over blocks plus a walk of at
 * most ED_WIN_BLOCK documents. It is built at start in one pass over the documents, or,
 * when a prepared file stores it for the run's (max_length, stride), mapped from the file
 * like the tokens: then start-up reads nothing proportional to the corpus. Pack mode needs
 * no index at all (window w starts at w * stride). */
enum { ED_WIN_BLOCK = 64 };

typedef struct {
    const void *tokens;       /* n_tokens ids of token_bytes each, or NULL: use reader */
    int token_bytes;          /* 2 (uint16) or 4 (int32) */
    size_t n_tokens;
    const uint64_t *doc_off;  /* n_docs + 1: document d is tokens[doc_off[d] .. doc_off[d+1]) */
    size_t n_docs;
    size_t n_windows;
    int max_length, stride, pack, examples;
    const uint8_t *completion; /* instruction data: [n_tokens] 1 for a completion token (or the EOS ending
                                * one); NULL for plain text */
    int loss_all;             /* instruction data: --loss-on all (else only completion tokens are targets) */
    ed_example_counts counts; /* instruction data */
    const uint64_t *block_win; /* [n_blocks + 1]: windows before document block b (owned or mapped) */
    size_t n_blocks;
    int64_t vocab_size;       /* every id must be below it: checked per window at use */
    char origin[600];         /* names the token array in errors ("data.h5: /train/tokens") */
    char index_origin[600];   /* names the index's group in errors ("data.h5: /train") */
    char note[700];           /* why the block index had to be built in one pass ("" if not) */
    /* ownership: what ed_dataset_free releases */
    void *own_tokens;
    uint8_t *own_completion;
    uint64_t *own_off;
    uint64_t *own_blocks;
    void *map[3];             /* munmap(map[i], map_len[i]): tokens, doc_offsets, window_blocks */
    size_t map_len[3];
    ed_token_reader reader;
} ed_dataset;

/* Windows per document of L tokens (incl. BOS/EOS): starts 0, stride, 2*stride, ... each
 * min(max_length, L - start) tokens, ending with the first window that reaches the end of
 * the document (L 10, max_length 5, stride 3 -> [0,5) [3,8) [6,10)); windows of fewer than
 * 2 tokens are dropped. pack: full max_length windows over the concatenated stream, the
 * tail that does not fill one is unused (a stream shorter than max_length is one window).
 * Tokens are stored as uint16 when the vocabulary fits (vocab <= 65536).
 * Documents with spans (instruction data): each piece (prompt, completion) is encoded on
 * its own, so a token never straddles a prompt/completion boundary; [BOS] first, [EOS]
 * after every completion (a loss token). One window per example (opt->examples): all of
 * it when it fits, else its last max_length tokens (--truncate left) provided the first
 * completion token keeps at least one token before it; an example that cannot is refused
 * (left out, counted). ds->counts says what happened.
 * -1 with err on max_length < 2, stride < 1, no documents, or more than 2^32-1 windows;
 * instruction data also on a tokenizer without an EOS role, an example longer than
 * max_length under --truncate error, or every example refused ("file:line" of the example).
 * ds owns everything it points to; free with ed_dataset_free. */
int ed_dataset_build(ed_dataset *ds, const ed_docs *docs, const ed_tokenizer *tok,
                     const ed_window_options *opt, ed_error *err);
void ed_dataset_free(ed_dataset *ds);

/* Windows of one document of L tokens under opt (not pack): one with opt->examples. */
uint64_t ed_windows_in_doc(uint64_t L, const ed_window_options *opt);

/* The window rule over a dataset whose tokens (tokens or reader, token_bytes, n_tokens,
 * vocab_size, origin) and doc_off are set: checks the document index as it goes (starts
 * at 0, each document at least 2 tokens, ends at n_tokens; a damaged index is an error
 * naming origin and the document) and builds the block index (owned). The index is read
 * through read_off(ctx, first, n, out) in pieces, so a mapped index need not be touched
 * (and counted in the RSS): NULL reads ds->doc_off. Fills n_windows, n_docs, max_length,
 * stride, pack. -1 with err on a damaged index or no window / more than 2^32-1. */
typedef int (*ed_offsets_fn)(void *ctx, uint64_t first, size_t n, uint64_t *out);
int ed_dataset_index(ed_dataset *ds, size_t n_docs, const ed_window_options *opt, ed_offsets_fn read_off,
                     void *ctx, ed_error *err);

/* Bytes ds holds in this process's own memory (tokens and index when built from text,
 * a block index built at start, a chunked index read whole), and bytes it maps from a
 * file (tokens, document index, a stored block index). */
size_t ed_dataset_memory(const ed_dataset *ds);
size_t ed_dataset_mapped(const ed_dataset *ds);

/* A 64-bit hash that tells copies of a dataset apart (the multi-rank start-up check).
 * Tokens built in memory are hashed whole; a mapped or hyperslab-read token file is
 * sampled instead (sizes, the first and last 64 KiB and 64 slices of 4 KiB spread over
 * the block index and over the token array), so start-up stays O(1) in the corpus and
 * touches ~1 MB of the mapping: a stale or truncated copy changes sizes or samples; a
 * change confined to unsampled bytes is left to `expert-dist verify`. The block index
 * hashes the same built or mapped (same values). */
uint64_t ed_dataset_fingerprint(const ed_dataset *ds);

/* Window w (< n_windows) -> its first token and its length (2 .. max_length). O(log
 * blocks + ED_WIN_BLOCK). The index may be mapped from a file and not checked at start,
 * so each lookup checks what it reads: the block's two entries bracket w, the block's
 * documents are increasing, at least 2 tokens each, inside the token array, and give the
 * block's window count. A damaged index is -1 with err naming the file, the entry and
 * the document (never an out-of-bounds read); a window found is inside the array. */
int ed_dataset_locate(const ed_dataset *ds, size_t w, uint64_t *start, uint32_t *len, ed_error *err);
/* The same for tools and tests on trusted data: a damaged index is fatal. */
void ed_dataset_window(const ed_dataset *ds, size_t w, uint64_t *start, uint32_t *len);

/* Id i (< n_tokens), not checked against the vocabulary: for tools and tests. */
int32_t ed_dataset_id(const ed_dataset *ds, uint64_t i);

/* Ids [at, at + n) widened to int32, each checked against vocab_size: a damaged id is
 * -1 with err naming origin and the token's index (never a wild read: at + n must be
 * within n_tokens, which the windows are by construction). */
int ed_dataset_tokens(const ed_dataset *ds, uint64_t at, size_t n, int32_t *out, ed_error *err);

/* ---- batches ---------------------------------------------------------------------- */

/* How a micro-batch's windows become rows (docs/design.md, "Rows"):
 *   LONGEST  one window a row, right-padded to the micro-batch's longest window;
 *   MAX      one window a row, padded to max_length - 1 (--pad-to-max): the original
 *            pipeline's padded batches, kept for comparison;
 *   PACKED   the default without --pack: windows share rows of at most max_length - 1
 *            positions, placed first fit in the order given (longest first:
 *            ed_pack_place), each a segment of its own (block-diagonal causal attention,
 *            positions from 0), so the model computes exactly what one padded row per
 *            window computes. The row width is the one (from the longest window up to
 *            max_length - 1) that leaves the least padding;
 *   DOC_MASK --pack --doc-mask: one window a row as LONGEST, with a segment starting at
 *            every document's first token (attention and positions reset there) and no
 *            target across a boundary (a document's last token does not predict the next
 *            one's BOS: -100), so each prediction sees only its own document.
 * 0 and 1 are the values ed_batch_fill's callers used to pass as "pad_to_max". */
typedef enum { ED_ROWS_LONGEST = 0, ED_ROWS_MAX = 1, ED_ROWS_PACKED = 2, ED_ROWS_DOC_MASK = 3 } ed_row_layout;

/* The layout of a run: --pack (with --doc-mask: DOC_MASK; --pad-to-max: MAX; else
 * LONGEST, the same for full windows), else --pad-to-max ? MAX : PACKED. */
ed_row_layout ed_row_layout_of(const ed_options *o);

/* First fit: places a window of len tokens (<= cap) in the first of the rows
 * fill[0..*rows) (tokens used, capacity cap each) with room, else in a new row (*rows
 * grows) unless there are max_rows already: returns the row, or -1 (nothing changed).
 * The one packing rule: the sampler costs slots with it and ed_batch_fill lays rows out
 * with it, over the same windows in the same order. */
int ed_pack_place(uint32_t *fill, int *rows, int max_rows, uint32_t len, uint32_t cap);

typedef struct {
    int B, T;            /* rows used, padded sequence length (max window len - 1, or max_length - 1) */
    int cap_B, cap_T;
    int32_t *inputs;     /* [B*T] */
    int32_t *targets;    /* [B*T], -100 at padding (and at prompt tokens: ds->completion) */
    uint8_t *mask;       /* [B*T] attention_mask: 1 real, 0 pad */
    int *seg, *pos;      /* [B*T] PACKED / DOC_MASK: per token, where its segment starts in the
                          * row and its position inside it (ed_gpt_forward_rows); padding
                          * continues the last segment */
    int packed;          /* seg and pos are filled (else one causal sequence a row) */
    uint32_t *fill, *len; /* [cap_B * cap_T] scratch: tokens per packed row, per window */
    long n_targets;      /* number of targets != -100: the loss tokens */
} ed_batch;

void ed_batch_init(ed_batch *b, int cap_B, int cap_T);
void ed_batch_free(ed_batch *b);
/* Fills b from windows ids[0..n) laid out as `layout` says.
 * Row i is at offset i*T of each array (dense [B, T], not cap_T apart). n may be 0 (a rank
 * with nothing in the last step): B = 0, n_targets = 0. The capacity is cap_B * cap_T
 * tokens: a balanced micro-batch may have more than cap_B rows when they are shorter
 * (the sampler guarantees n * T <= cap_B * cap_T); PACKED windows must come longest
 * first and fit cap_B rows of cap_T (the sampler's packed cost guarantees it), and the
 * narrower rows chosen never hold more positions than those. More tokens, or T > cap_T, is a bug and
 * aborts. -1 with err on a damaged window index (ed_dataset_locate) or id
 * (ed_dataset_tokens). */
int ed_batch_fill(ed_batch *b, const ed_dataset *ds, const uint32_t *ids, int n, ed_row_layout layout,
                  ed_error *err);

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
    uint64_t key[6]; /* the epoch's permutation: Feistel round keys (ed_sampler_at) */
    int half_bits;
    const uint32_t *win_len; /* borrowed (ed_sampler_set_lengths), NULL: all windows alike */
    const ed_dataset *ds;    /* or lengths from the dataset (ed_sampler_set_dataset), borrowed */
    int pad_to;              /* > 0: rows padded to this length (--pad-to-max) */
    int pack_to;             /* > 0: windows share rows of this length (ED_ROWS_PACKED) */
    uint32_t *row_fill;      /* [batch_size] scratch of the packed cost */
    /* scratch of ed_sampler_micro: one step's assignment, recomputed on every call */
    ed_step_window *step_win; /* [G] */
    uint64_t *slot_cost;      /* [S] padded tokens */
    ed_slot_rank *slot_order; /* [S] */
} ed_sampler;

/* Ready to use for epoch 0 (the permutation is drawn here too). */
void ed_sampler_init(ed_sampler *s, size_t n_windows, int batch_size, int grad_accum, int rank,
                     int world, uint64_t seed, int shuffle);
/* Balance the step's windows by padded tokens: win_len[n_windows] are the windows' lengths
 * (borrowed: must outlive the sampler); pad_to > 0 when every row is
 * padded to that length (--pad-to-max), 0 when rows are padded to their micro-batch's
 * longest window. Every rank must make the same call. */
void ed_sampler_set_lengths(ed_sampler *s, const uint32_t *win_len, int pad_to);
/* The same with the lengths of ds's windows (ed_dataset_locate; ds must outlive s). A
 * window the damaged index of a file cannot locate counts as length 2 here: the rank
 * whose batch holds it reports the damage (ed_batch_fill), as every window of a step is
 * filled by some rank. */
void ed_sampler_set_dataset(ed_sampler *s, const ed_dataset *ds, int pad_to);
/* Balance by packed rows instead (after set_lengths/set_dataset with pad_to 0): a slot
 * costs the rows of row_len tokens its windows fill, placed first fit longest first
 * (ed_pack_place), and holds at most batch_size such rows. */
void ed_sampler_set_packed(ed_sampler *s, int row_len);
/* set_dataset and set_packed as a run's row layout needs them (the trainer, eval). */
void ed_sampler_set_layout(ed_sampler *s, const ed_dataset *ds, ed_row_layout layout);
void ed_sampler_free(ed_sampler *s);
/* Draws the permutation of `epoch` (identity without shuffle). Pure function of (seed, epoch). */
void ed_sampler_set_epoch(ed_sampler *s, int epoch);
/* The window at position pos (< n_windows) of the epoch's order: a keyed bijection of
 * [0, n_windows) computed on demand (no array: O(1) memory whatever the corpus). */
uint32_t ed_sampler_at(const ed_sampler *s, uint64_t pos);
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
