/* dataset.c — the ed_dataset object around the window rule (windows.c): building it from
 * documents (tokenize into one token array, narrowed to uint16 when the vocabulary fits;
 * instruction examples with their loss flags), reading its tokens wherever they live (in
 * memory, mapped from a prepared file, or through a reader), the fingerprint ranks
 * compare, its memory and freeing it. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "ds_lines.h"

/* The token array and the document index may be mapped straight from a prepared file,
 * where HDF5 puts a dataset at any byte offset: read their elements with memcpy (one
 * unaligned load on x86) instead of dereferencing a misaligned pointer, which is UB. */
static inline uint16_t load_u16(const void *base, size_t i) {
    uint16_t x;
    memcpy(&x, (const char *)base + i * sizeof x, sizeof x);
    return x;
}
static inline int32_t load_i32(const void *base, size_t i) {
    int32_t x;
    memcpy(&x, (const char *)base + i * sizeof x, sizeof x);
    return x;
}

int ed_dataset_tokens(const ed_dataset *ds, uint64_t at, size_t n, int32_t *out, ed_error *err) {
    ED_CHECK(at + n <= ds->n_tokens, "tokens [%llu, +%zu) beyond %zu", (unsigned long long)at, n, ds->n_tokens);
    if (ds->tokens && ds->token_bytes == 2) {
        for (size_t i = 0; i < n; i++) out[i] = load_u16(ds->tokens, at + i);
    } else if (ds->tokens) {
        memcpy(out, (const int32_t *)ds->tokens + at, n * sizeof *out);
    } else if (ds->reader.read(ds->reader.ctx, at, n, out, err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (out[i] < 0 || out[i] >= ds->vocab_size)
            return ed_fail(err, "%s[%llu] = %d is outside the vocabulary (0..%lld): the file is damaged "
                                "(`expert-dist verify` checks every token)",
                           ds->origin, (unsigned long long)(at + i), out[i], (long long)ds->vocab_size - 1);
    return 0;
}

int32_t ed_dataset_id(const ed_dataset *ds, uint64_t i) {
    ED_CHECK(i < ds->n_tokens, "token %llu beyond %zu", (unsigned long long)i, ds->n_tokens);
    if (ds->tokens && ds->token_bytes == 2) return load_u16(ds->tokens, i);
    if (ds->tokens) return load_i32(ds->tokens, i);
    int32_t x;
    ed_error err;
    if (ds->reader.read(ds->reader.ctx, i, 1, &x, &err) != 0) ED_DIE("%s", err.msg);
    return x;
}

/* Narrows int32 ids to uint16 in place (front to back: the write never overtakes the
 * read), then gives the rest of the buffer back. */
static void *narrow_u16(int32_t *ids, size_t n) {
    uint16_t *u = (uint16_t *)ids;
    for (size_t i = 0; i < n; i++) u[i] = (uint16_t)ids[i];
    return ed_realloc(ids, (n ? n : 1) * sizeof *u);
}

int ed_dataset_build(ed_dataset *ds, const ed_docs *docs, const ed_tokenizer *tok, const ed_window_options *opt,
                     ed_error *err) {
    memset(ds, 0, sizeof *ds);
    if (opt->max_length < 2) return ed_fail(err, "max_length must be >= 2 (one input and one target), got %d", opt->max_length);
    if (opt->stride < 1) return ed_fail(err, "stride must be >= 1, got %d", opt->stride);
    snprintf(ds->origin, sizeof ds->origin, "%s", docs->path ? docs->path : "dataset");
    ed_ivec tokens = {0};
    size_t total = 0;
    for (size_t d = 0; d < docs->n; d++) total += docs->len[d];
    /* Words average well over 3 bytes; this avoids most regrowth of the one big array. */
    ed_ivec_reserve(&tokens, total / 3 + 2 * docs->n + 16);
    uint64_t *off = ed_malloc((docs->n + 1) * sizeof *off);
    off[0] = 0;
    ed_window_options wo = *opt;
    size_t n_docs = docs->n;
    wo.examples = docs->spans != NULL;
    if (wo.examples) {
        wo.pack = 0; /* a preset's packing does not apply: one window per example */
        if (ds_encode_examples(docs, tok, &wo, &tokens, off, &n_docs, &ds->own_completion, &ds->counts, err) != 0) {
            free(off);
            ed_ivec_free(&tokens);
            return -1;
        }
        ds->completion = ds->own_completion;
        ds->loss_all = opt->loss_on == ED_LOSS_ALL;
    } else {
        for (size_t d = 0; d < docs->n; d++) {
            ed_tok_encode(tok, docs->text[d], docs->len[d], 1, &tokens);
            off[d + 1] = tokens.len;
        }
    }
    ds->vocab_size = ed_tok_vocab_size(tok);
    ds->n_tokens = tokens.len;
    if (ds->vocab_size <= 65536) {
        ds->own_tokens = narrow_u16(tokens.data, tokens.len);
        ds->token_bytes = 2;
    } else {
        ds->own_tokens = tokens.data;
        ds->token_bytes = 4;
    }
    ds->tokens = ds->own_tokens;
    ds->own_off = off;
    ds->doc_off = off;
    if (ed_dataset_index(ds, n_docs, &wo, NULL, NULL, err) != 0) {
        ed_dataset_free(ds);
        return -1;
    }
    return 0;
}

/* h chained with the hash of n bytes at p (the multiply makes the chain order-dependent). */
static uint64_t fold(uint64_t h, const void *p, size_t n) {
    return (h ^ ed_hash_bytes(p, n)) * 0x100000001b3ULL;
}

/* n bytes at p folded whole when small, else sampled: the first and last 64 KiB and 64
 * slices of 4 KiB spread evenly (what every rank computes the same from n alone). */
static uint64_t fold_sampled(uint64_t h, const void *p, size_t n) {
    enum { EDGE = 65536, SLICES = 64, SLICE = 4096 };
    const char *b = p;
    if (n <= 2 * EDGE + SLICES * SLICE) return fold(h, b, n);
    h = fold(fold(h, b, EDGE), b + n - EDGE, EDGE);
    for (size_t k = 0; k < SLICES; k++) h = fold(h, b + (n - SLICE) / SLICES * k, SLICE);
    return h;
}

uint64_t ed_dataset_fingerprint(const ed_dataset *ds) {
    uint64_t h = 0xcbf29ce484222325ULL;
    uint64_t sizes[4] = {ds->n_tokens, ds->n_docs, ds->n_windows, (uint64_t)ds->token_bytes};
    h = fold(h, sizes, sizeof sizes);
    if (ds->own_completion) h = fold(fold(h, ds->own_completion, ds->n_tokens), &ds->loss_all, sizeof ds->loss_all);
    if (ds->own_tokens) return fold(h, ds->own_tokens, ds->n_tokens * (size_t)ds->token_bytes);
    /* sampled, not whole: a stored index is mapped, and hashing it whole would make
     * start-up O(documents) again */
    if (ds->block_win) h = fold_sampled(h, ds->block_win, (ds->n_blocks + 1) * sizeof *ds->block_win);
    enum { EDGE = 32768, SLICES = 64, SLICE = 2048 }; /* in ids: 64 KiB ends, 4 KiB slices of uint16 */
    int32_t *buf = ed_malloc(EDGE * sizeof *buf);
    ed_error err;
    uint64_t n = ds->n_tokens;
    for (int k = 0; k < SLICES + 2; k++) {
        uint64_t at, m;
        if (k == 0) at = 0, m = n < EDGE ? n : EDGE;
        else if (k == 1) m = n < EDGE ? n : EDGE, at = n - m;
        else m = n < SLICE ? n : SLICE, at = (n - m) / SLICES * (uint64_t)(k - 2);
        /* raw ids (no vocabulary check: damage is the reader's business, not the hash's) */
        if (ds->tokens && ds->token_bytes == 2) h = fold(h, (const uint16_t *)ds->tokens + at, m * 2);
        else if (ds->tokens) h = fold(h, (const int32_t *)ds->tokens + at, m * 4);
        else if (ds->reader.read(ds->reader.ctx, at, (size_t)m, buf, &err) == 0) h = fold(h, buf, m * 4);
        else h = fold(h, "unreadable", 10);
    }
    free(buf);
    return h;
}

size_t ed_dataset_memory(const ed_dataset *ds) {
    size_t b = ds->own_blocks ? (ds->n_blocks + 1) * sizeof *ds->own_blocks : 0;
    if (ds->own_tokens) b += ds->n_tokens * (size_t)ds->token_bytes;
    if (ds->own_off) b += (ds->n_docs + 1) * sizeof *ds->own_off;
    if (ds->own_completion) b += ds->n_tokens;
    return b;
}

size_t ed_dataset_mapped(const ed_dataset *ds) { return ds->map_len[0] + ds->map_len[1] + ds->map_len[2]; }

void ed_dataset_free(ed_dataset *ds) {
    free(ds->own_tokens);
    free(ds->own_completion);
    free(ds->own_off);
    free(ds->own_blocks);
    for (int i = 0; i < 3; i++)
        if (ds->map[i]) munmap(ds->map[i], ds->map_len[i]);
    if (ds->reader.close) ds->reader.close(ds->reader.ctx);
    memset(ds, 0, sizeof *ds);
}
