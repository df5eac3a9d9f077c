/* examples.c — instruction examples -> tokens, document offsets and per-token loss flags
 * (the part of ed_dataset_build that --format instruct adds; dataset.h has the rule).
 *
 * Each piece of an example (the prompt text between completions, each completion) is
 * encoded on its own, so the boundary between what the model reads and what it is graded
 * on always falls between two tokens. An example keeps its last max_length tokens: what
 * a long one loses is prompt from the left. It is refused instead when that would cut a
 * completion or leave its first token without one before it (the first token of a window
 * is never a target), so a window never holds part of an answer silently. */
#include <stdlib.h>
#include <string.h>

#include "ds_lines.h"

typedef struct {
    uint8_t *flag; /* [cap]: 1 for a completion token (or the EOS closing one) */
    size_t cap;
} loss_flags;

/* flags [from, to) := v, growing the array with the tokens */
static void mark(loss_flags *l, size_t from, size_t to, uint8_t v) {
    if (to > l->cap) {
        l->cap = 2 * to + 64;
        l->flag = ed_realloc(l->flag, l->cap);
    }
    memset(l->flag + from, v, to - from);
}

static void encode(const ed_tokenizer *tok, const char *s, size_t n, ed_ivec *out, loss_flags *l, uint8_t v) {
    size_t from = out->len;
    if (n) ed_tok_encode(tok, s, n, 0, out);
    mark(l, from, out->len, v);
}

static void push(ed_ivec *out, int32_t id, loss_flags *l, uint8_t v) {
    ed_ivec_push(out, id);
    mark(l, out->len - 1, out->len, v);
}

int ds_encode_examples(const ed_docs *docs, const ed_tokenizer *tok, const ed_window_options *opt, ed_ivec *tokens,
                       uint64_t *off, size_t *n_kept, uint8_t **completion, ed_example_counts *c, ed_error *err) {
    const char *path = docs->path ? docs->path : "dataset";
    int32_t bos = ed_tok_role_id(tok, ED_ROLE_BOS), eos = ed_tok_role_id(tok, ED_ROLE_EOS);
    memset(c, 0, sizeof *c);
    *completion = NULL;
    if (eos < 0)
        return ed_fail(err, "%s: the tokenizer has no end-of-sequence token (EOS role): instruction data ends every "
                            "completion with one", path);
    const size_t ml = (size_t)opt->max_length;
    loss_flags l = {0};
    size_t kept = 0;
    off[0] = 0;
    for (size_t d = 0; d < docs->n; d++) {
        const char *text = docs->text[d];
        size_t a = tokens->len, pos = 0, first_c = SIZE_MAX;
        if (bos >= 0) push(tokens, bos, &l, 0);
        for (size_t k = 0; k < docs->n_spans[d]; k++) {
            ed_span sp = docs->spans[d][k];
            encode(tok, text + pos, sp.start - pos, tokens, &l, 0);
            if (first_c == SIZE_MAX) first_c = tokens->len - a;
            encode(tok, text + sp.start, sp.end - sp.start, tokens, &l, 1);
            push(tokens, eos, &l, 1);
            pos = sp.end;
        }
        encode(tok, text + pos, docs->len[d] - pos, tokens, &l, 0);
        size_t L = tokens->len - a;
        c->examples++;
        if (L > ml) {
            if (opt->truncate == ED_TRUNCATE_ERROR) {
                free(l.flag);
                return ed_fail(err, "%s:%ld: the example is %zu tokens, longer than --max-length %zu (--truncate left "
                                    "drops prompt tokens from the left instead)", path, docs->line[d], L, ml);
            }
            if (L - ml >= first_c) { /* even without its prompt the completion does not fit */
                c->refused++;
                if (!c->first_refused) c->first_refused = docs->line[d];
                tokens->len = a;
                continue;
            }
            c->truncated++;
        }
        size_t ws = a + (L > ml ? L - ml : 0); /* the window: tokens [ws, a + L) */
        if (opt->loss_on == ED_LOSS_ALL) {
            c->loss_tokens += a + L - ws - 1;
        } else {
            for (size_t i = ws + 1; i < a + L; i++) c->loss_tokens += l.flag[i];
        }
        off[++kept] = tokens->len;
    }
    if (kept == 0) {
        free(l.flag);
        return ed_fail(err, "%s: all %ld examples are refused: their completions are longer than --max-length %zu even "
                            "without the prompt (the first at line %ld)", path, c->examples, ml, c->first_refused);
    }
    *n_kept = kept;
    *completion = ed_realloc(l.flag, tokens->len);
    return 0;
}
