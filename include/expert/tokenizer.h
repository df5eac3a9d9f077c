/* tokenizer.h — the tokenizer interface every dataset and command goes through.
 *
 * Four kinds sit behind it. Two are built here from the training text: the word-level
 * tokenizer (the seed pipeline's SimpleTokenizer, Unicode-aware via utf8proc;
 * src/tokenizer/word.c) and byte-level BPE (GPT-2 style; src/tokenizer/bpe.c). Two are
 * the user's own and only loaded: a SentencePiece .model (libsentencepiece;
 * src/tokenizer/tok_spm.c) and a Hugging Face tokenizer.json with a byte-level BPE model
 * (run by the same BPE engine; src/tokenizer/hf_json.c). Dataset code only sees
 * ed_tokenizer, so adding a kind touches nothing outside src/tokenizer/.
 *
 * Ids are the tokenizer's own. Which id is <PAD>, <UNK>, <BOS>, <EOS> is a role the
 * tokenizer records (ed_tok_role_id); a kind may lack some (-1). The kinds built here put
 * them first: <PAD>=0 <UNK>=1 <BOS>=2 <EOS>=3 (ED_PAD...). An imported tokenizer keeps
 * its file's ids (GPT-2's <|endoftext|> is 50256, Llama 3's <|begin_of_text|> 128000).
 * A tokenizer is immutable after building/loading, so it may be shared read-only. */
#ifndef EXPERT_TOKENIZER_H
#define EXPERT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "expert/common.h"

/* The role ids of the kinds built here (word, bpe): ask ed_tok_role_id for any tokenizer. */
enum { ED_PAD = 0, ED_UNK = 1, ED_BOS = 2, ED_EOS = 3, ED_NUM_SPECIAL = 4 };

typedef enum { ED_ROLE_PAD = 0, ED_ROLE_UNK = 1, ED_ROLE_BOS = 2, ED_ROLE_EOS = 3, ED_NUM_ROLES = 4 } ed_tok_role;

typedef enum { ED_TOK_WORD = 0, ED_TOK_BPE = 1, ED_TOK_SPM = 2, ED_TOK_HF = 3 } ed_tok_kind;
/* "word", "bpe", "sentencepiece", "hf" (index = ed_tok_kind): the names in --tokenizer,
 * tokenizer files, checkpoints and prepared files. */
extern const char *const ed_tok_kind_names[];

typedef struct {
    ed_tok_kind kind;
    int vocab_size; /* target size including the 4 specials (default 10000) */
    int min_freq;   /* word: words seen fewer times are left out (default 1) */
    int lowercase;  /* word: Unicode case folding before counting/encoding (default 0) */
} ed_tok_options;

typedef struct ed_tokenizer ed_tokenizer;

/* Builds a vocabulary from texts[0..n) (lengths in lens). Deterministic: the same texts
 * give the same vocabulary on every rank and every run (ties broken by byte order).
 * Returns NULL with err filled on invalid options (sentencepiece and hf are never built
 * here: they need a file, ed_tok_load). A thin wrapper: a counter fed every
 * text, then ed_tok_train_counts (below), so a vocabulary is built one way only. */
ed_tokenizer *ed_tok_train(const ed_tok_options *opt, const char *const *texts, const size_t *lens,
                           size_t n, ed_error *err);
void ed_tok_free(ed_tokenizer *t);

/* ---- building in two steps: count pieces, then train ------------------------------------
 * Training first reduces the text to the distinct pieces it is made of and how often each
 * occurs (word: the tokens of the split rule below, case-folded with lowercase; bpe: the
 * GPT-2 pre-tokens), and the vocabulary depends on nothing else: ties are broken by byte
 * order, never by input order or hash layout. So a corpus can be counted as a stream, in
 * any split and order, by several processes, and the counts merged: the tokenizer equals
 * ed_tok_train's on the concatenated texts. A counter's memory is O(distinct pieces),
 * about 60 bytes plus 1.5x the piece's bytes each (docs/memory.md), never O(corpus). */
typedef struct ed_tok_counter ed_tok_counter;

/* A counter for opt's kind (and, word kind, its lowercase). NULL with err on invalid
 * options: the checks and messages of training, so a bad vocab_size fails before any text
 * is read. */
ed_tok_counter *ed_tok_counter_new(const ed_tok_options *opt, ed_error *err);
void ed_tok_counter_free(ed_tok_counter *c);
/* Counts the pieces of text[0..len). Any bytes: invalid UTF-8 is cut as training cuts it. */
void ed_tok_counter_add(ed_tok_counter *c, const char *text, size_t len);
/* Forgets every count, keeping the memory for the next texts. */
void ed_tok_counter_clear(ed_tok_counter *c);
/* Adds src's counts to dst. -1 with err when their kinds or lowercase differ. */
int ed_tok_counter_merge(ed_tok_counter *dst, const ed_tok_counter *src, ed_error *err);
/* Distinct pieces held; bytes the counter holds (its tables and strings). */
size_t ed_tok_counter_distinct(const ed_tok_counter *c);
size_t ed_tok_counter_bytes(const ed_tok_counter *c);
/* Counts as bytes, in chunks, to merge the counters of other processes without a second
 * copy of a table: appends the entries from *pos on to *buf (capacity *cap, grown with
 * ed_realloc; the caller frees it) until the chunk holds at least `want` bytes or no entry
 * is left; returns the chunk's length (0: none left) and advances *pos (start at 0). A
 * chunk holds whole entries (count and length as LEB128, then the piece's bytes), so one
 * long piece makes a longer chunk. The counter must not change between the calls. */
size_t ed_tok_counter_pack(const ed_tok_counter *c, size_t *pos, char **buf, size_t *cap, size_t want);
/* Adds the counts of one chunk made by ed_tok_counter_pack of a counter with the same
 * options. -1 with err (c partly updated) on bytes that are not such a chunk. */
int ed_tok_counter_unpack(ed_tok_counter *c, const char *chunk, size_t len, ed_error *err);
/* The tokenizer ed_tok_train builds from the texts c counted (c is not changed). NULL with
 * err on invalid options, or options of another kind or lowercase than c's. */
ed_tokenizer *ed_tok_train_counts(const ed_tok_options *opt, const ed_tok_counter *c, ed_error *err);

ed_tok_kind ed_tok_kind_of(const ed_tokenizer *t);
int ed_tok_vocab_size(const ed_tokenizer *t); /* actual size, <= requested; ids are 0..size-1 */
/* The id that plays role r, or -1 when the tokenizer has none (e.g. no <PAD> in GPT-2's;
 * its <BOS> and <EOS> are both <|endoftext|>). */
int32_t ed_tok_role_id(const ed_tokenizer *t, ed_tok_role r);

/* Appends the ids of text[0..len) to out; with add_special, wrapped in BOS ... EOS (each
 * only when the tokenizer has that role).
 * Word kind: words are runs of letters/marks/digits (inner ' ’ - kept, "don't", "кто-то"),
 * every other non-space character is a token of its own (docs/formats.md has the rule).
 * Text must be valid UTF-8 (datasets validate first); unknown words map to <UNK>. */
void ed_tok_encode(const ed_tokenizer *t, const char *text, size_t len, int add_special, ed_ivec *out);
/* Returns a malloc'd NUL-terminated string; skip_special drops the PAD/BOS/EOS ids (UNK
 * prints as the tokenizer prints it: "<UNK>" for ours).
 * Word kind: one space between tokens, none before closing or after opening punctuation,
 * so decode(encode(x)) is x for normalised text and re-encodes to the same ids. */
char *ed_tok_decode(const ed_tokenizer *t, const int32_t *ids, size_t n, int skip_special);
/* The string of one token (e.g. for printing), or NULL when id is out of range. */
const char *ed_tok_token(const ed_tokenizer *t, int32_t id);

/* Readable files: word -> a JSON object {"kind": "word", "lowercase": .., "tokens": [..]}
 * (index = id); bpe -> see docs/formats.md; sentencepiece and hf -> the user's file
 * inside our JSON (the .model as base64, the tokenizer.json as a string, with the roles).
 * Load detects the kind: one of those, a Hugging Face tokenizer.json (roles from the
 * tokenizer_config.json beside it, if any), or a SentencePiece .model. Errors name the
 * file and the field. */
int ed_tok_save(const ed_tokenizer *t, const char *path, ed_error *err);
ed_tokenizer *ed_tok_load(const char *path, ed_error *err);
/* The tokenizer of a model directory (`import`): the first of tokenizer.model,
 * tokenizer.json, vocab.json + merges.txt (GPT-2's pair), or `ours` (a file name our
 * export writes; NULL: none) that the directory has, with its own ids. NULL with err
 * naming the directory when it has none, or naming the file when it is bad. */
ed_tokenizer *ed_tok_load_dir(const char *dir, const char *ours, ed_error *err);
/* The other way (`export`): sentencepiece -> tokenizer.model, hf -> tokenizer.json (the
 * user's bytes as loaded), each with a tokenizer_config.json naming the role tokens
 * (bos_token...), so ed_tok_load_dir reads back the same tokenizer and Hugging Face
 * libraries read it too; word and bpe -> `ours` (our JSON). Atomic writes; -1 with err. */
int ed_tok_save_dir(const ed_tokenizer *t, const char *dir, const char *ours, ed_error *err);

/* The same content as one in-memory string (stored in HDF5 checkpoints under /tokenizer). */
char *ed_tok_serialize(const ed_tokenizer *t, size_t *len);
ed_tokenizer *ed_tok_deserialize(const char *data, size_t len, ed_error *err);

/* GPT-2's published files (vocab.json: token -> id; merges.txt: "#version" line, then one
 * "left right" merge per line, in rank order) as an hf tokenizer with GPT-2's ids (the
 * tokenizer.json that says the same: ByteLevel, "<|endoftext|>" an added token playing
 * BOS and EOS). Errors name file:line. (Before this, imports shifted every id by 4 behind
 * our specials; such checkpoints hold a bpe tokenizer and still load as they were.) */
ed_tokenizer *ed_tok_load_gpt2(const char *vocab_json, const char *merges_txt, ed_error *err);

#endif
