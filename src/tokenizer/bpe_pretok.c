/* bpe_pretok.c — pre-tokenization: the regexes that cut text into words before BPE.
 *
 * Ours (and GPT-2's) is one step with GPT-2's regex:
 *
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *
 * A Hugging Face tokenizer.json may chain several steps (a Split with its own regex, then
 * ByteLevel, src/tokenizer/hf_json.c): each step cuts every piece the previous step made,
 * keeping the text between matches as pieces too (HF's "Isolated" behaviour). Patterns are
 * compiled with PCRE2_UTF|PCRE2_UCP (so \p{L}, \s are Unicode-aware, as in Python's regex
 * module and HF's Oniguruma) and JIT-compiled when the library supports it. Merges never
 * cross a piece boundary, which keeps the merge table small and words reusable. */
#include <stdlib.h>
#include <string.h>

#include "bpe_internal.h"

const char bpe_gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

int bpe_pretok_add(bpe_pretok *p, const char *pattern, int prefix_space, const char *what, ed_error *err) {
    if (p->n == BPE_PRETOK_MAX_STEPS)
        return ed_fail(err, "%s: more than %d pre-tokenizer steps", what, BPE_PRETOK_MAX_STEPS);
    pcre2_code *re = NULL;
    if (pattern) {
        int code;
        PCRE2_SIZE off;
        re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code, &off, NULL);
        if (!re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof msg);
            return ed_fail(err, "%s: cannot compile the regex at offset %zu: %s", what, (size_t)off,
                           (const char *)msg);
        }
        /* JIT is an optimisation only: without it pcre2_match interprets the same pattern. */
        (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    }
    p->re[p->n] = re;
    p->prefix_space[p->n] = (uint8_t)(prefix_space != 0);
    p->n++;
    return 0;
}

int bpe_pretok_init(bpe_pretok *p, ed_error *err) {
    memset(p, 0, sizeof *p);
    return bpe_pretok_add(p, bpe_gpt2_pattern, 0, "bpe: the GPT-2 pre-tokenizer", err);
}

void bpe_pretok_free(bpe_pretok *p) {
    for (int i = 0; i < p->n; i++) pcre2_code_free(p->re[i]);
    memset(p, 0, sizeof *p);
}

size_t bpe_utf8_valid_prefix(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            /* ASCII runs 8 bytes at a time */
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, s + i, 8);
                if (w & 0x8080808080808080ULL) break;
                i += 8;
            }
            if (i < n && s[i] < 0x80) i++;
            continue;
        }
        size_t k;
        unsigned min;
        if ((c & 0xE0) == 0xC0) k = 1, min = 0x80, c &= 0x1F;
        else if ((c & 0xF0) == 0xE0) k = 2, min = 0x800, c &= 0x0F;
        else if ((c & 0xF8) == 0xF0) k = 3, min = 0x10000, c &= 0x07;
        else return i;
        unsigned cp = c;
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xC0) != 0x80) return i;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += k + 1;
    }
    return n;
}

/* One walk over a text: the match data of every step and where the pieces go. */
typedef struct {
    const bpe_pretok *p;
    pcre2_match_data *md[BPE_PRETOK_MAX_STEPS];
    bpe_piece_fn fn;
    void *ctx;
} walk;

static void run_step(walk *w, int step, const char *text, size_t len);

static void emit(walk *w, int step, const char *s, size_t n) {
    if (step + 1 < w->p->n) run_step(w, step + 1, s, n);
    else w->fn(w->ctx, s, n);
}

/* Cuts a valid UTF-8 span with step's regex; the pieces go on to the next step. */
static void run_step(walk *w, int step, const char *text, size_t len) {
    char *own = NULL;
    if (w->p->prefix_space[step] && len > 0 && text[0] != ' ') { /* HF ByteLevel add_prefix_space */
        own = ed_malloc(len + 1);
        own[0] = ' ';
        memcpy(own + 1, text, len);
        text = own, len++;
    }
    const pcre2_code *re = w->p->re[step];
    pcre2_match_data *md = w->md[step];
    if (!re) { /* ByteLevel without its regex: the piece goes on whole */
        if (len) emit(w, step, text, len);
        free(own);
        return;
    }
    size_t pos = 0, from = 0; /* pieces emitted up to pos; the next search starts at from */
    while (from < len) {
        /* The span was validated once by the caller: re-checking on every call would make
         * splitting quadratic in the text length. */
        int rc = pcre2_match(re, (PCRE2_SPTR)text, len, from, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc < 0) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        if (e <= s) { /* an empty match cuts nothing: search again one character on */
            from = s + 1;
            while (from < len && ((unsigned char)text[from] & 0xC0) == 0x80) from++;
            continue;
        }
        if (s > pos) emit(w, step, text + pos, s - pos); /* the text between matches is a piece too */
        emit(w, step, text + s, e - s);
        pos = from = e;
    }
    if (pos < len) emit(w, step, text + pos, len - pos);
    free(own);
}

void bpe_pretok_each(const bpe_pretok *p, const char *text, size_t len, bpe_piece_fn fn, void *ctx) {
    if (len == 0) return;
    walk w = {.p = p, .fn = fn, .ctx = ctx};
    for (int i = 0; i < p->n; i++)
        if (p->re[i]) {
            w.md[i] = pcre2_match_data_create_from_pattern(p->re[i], NULL);
            ED_CHECK(w.md[i] != NULL, "bpe: out of memory for regex match data");
        }
    const unsigned char *u = (const unsigned char *)text;
    size_t pos = 0;
    while (pos < len) {
        size_t ok = bpe_utf8_valid_prefix(u + pos, len - pos);
        if (ok > 0) {
            if (p->n > 0) run_step(&w, 0, text + pos, ok);
            else fn(ctx, text + pos, ok);
        }
        pos += ok;
        if (pos < len) { /* one invalid byte: its own piece, encoded as a byte token */
            fn(ctx, text + pos, 1);
            pos++;
        }
    }
    for (int i = 0; i < p->n; i++) pcre2_match_data_free(w.md[i]);
}
