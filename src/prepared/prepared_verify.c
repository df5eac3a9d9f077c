/* prepared_verify.c — ed_prepared_verify: every check a prepared file can get, in one
 * sequential pass per split (what `train` no longer does at start-up), the stored window
 * index (window_blocks) recounted from doc_offsets as the pass goes.
 *
 * Memory is O(CHUNK) whatever the corpus: the token array and the document index are
 * read side by side in hyperslabs (mapped or not, chunked or not: HDF5 serves both), and
 * every document boundary is checked as the token cursor passes it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepared_internal.h"

enum { CHUNK = 1 << 20 };

/* A window of a 1-D dataset read CHUNK elements at a time. */
typedef struct {
    hid_t d;
    hid_t memtype;
    size_t elem;
    uint64_t n, base, fill; /* buf holds elements [base, base + fill) */
    void *buf;
} cursor;

/* Moves c so that it holds element i of dataset obj; -1 with err naming obj, the `unit`
 * ("entry", "token") and HDF5's reason when the read fails. */
static int cursor_at(prep_reader *r, cursor *c, uint64_t i, const char *obj, const char *unit, ed_error *err) {
    if (i >= c->base && i < c->base + c->fill) return 0;
    c->base = i;
    c->fill = c->n - i < CHUNK ? c->n - i : CHUNK;
    if (prep_read_slab(c->d, c->memtype, c->buf, c->base, (size_t)c->fill) == 0) return 0;
    char reason[256];
    ed_h5_reason(reason, sizeof reason, "unknown HDF5 error");
    return prep_rfail(r, err, "%s cannot be read at %s %llu: %s", obj, unit, (unsigned long long)i, reason);
}

/* window_blocks[(d + 63) / 64] must be `windows`, the windows of documents [0, d). */
static int check_block(prep_reader *r, cursor *b, const char *bobj, uint64_t d, uint64_t windows,
                       const ed_window_options *shape, ed_error *err) {
    uint64_t k = (d + ED_WIN_BLOCK - 1) / ED_WIN_BLOCK;
    if (cursor_at(r, b, k, bobj, "entry", err) != 0) return -1;
    uint64_t v = ((const uint64_t *)b->buf)[k - b->base];
    if (v != windows)
        return prep_rfail(r, err, "%s[%llu] = %llu, doc_offsets give %llu windows before document %llu "
                                  "(--max-length %d --stride %d): the window index is damaged (`prepare` rewrites it)",
                          bobj, (unsigned long long)k, (unsigned long long)v, (unsigned long long)windows,
                          (unsigned long long)d, shape->max_length, shape->stride);
    return 0;
}

/* A split's stored window index, when it has one (shape.max_length 0: none). */
typedef struct {
    char obj[40];           /* "/train/window_blocks" */
    cursor c;
    ed_window_options shape;
    int64_t n_windows;      /* its n_windows attribute */
} block_index;

/* Opens and checks the attributes and length of the split's window_blocks for n_docs
 * documents, and its entry 0; nothing to do when the file stores none. */
static int open_block_index(prep_reader *r, const char *split, uint64_t n_docs, block_index *bi, ed_error *err) {
    snprintf(bi->obj, sizeof bi->obj, "/%s/window_blocks", split);
    if (H5Lexists(r->file, bi->obj, H5P_DEFAULT) <= 0) return 0;
    uint64_t n_blocks = (n_docs + ED_WIN_BLOCK - 1) / ED_WIN_BLOCK, nb = 0;
    int64_t ml = 0, st = 0, bd = 0, nw = 0;
    cursor *b = &bi->c;
    b->d = prep_open_1d(r, bi->obj, 'o', &nb, err);
    if (b->d < 0) return -1;
    b->n = nb;
    if (prep_attr_read_i64(b->d, "max_length", &ml) | prep_attr_read_i64(b->d, "stride", &st) |
        prep_attr_read_i64(b->d, "block_docs", &bd) | prep_attr_read_i64(b->d, "n_windows", &nw))
        return prep_rfail(r, err, "%s lacks one of its attributes max_length, stride, block_docs, n_windows", bi->obj);
    if (ml < 2 || ml > INT32_MAX || st < 1 || st > INT32_MAX || bd != ED_WIN_BLOCK)
        return prep_rfail(r, err, "%s has max_length %lld, stride %lld, block_docs %lld: expected >= 2, >= 1 and %d",
                          bi->obj, (long long)ml, (long long)st, (long long)bd, ED_WIN_BLOCK);
    if (nb != n_blocks + 1)
        return prep_rfail(r, err, "%s has %llu entries, %llu documents need %llu", bi->obj, (unsigned long long)nb,
                          (unsigned long long)n_docs, (unsigned long long)(n_blocks + 1));
    bi->shape = (ed_window_options){.max_length = (int)ml, .stride = (int)st};
    bi->n_windows = nw;
    b->buf = ed_malloc(CHUNK * 8);
    return check_block(r, b, bi->obj, 0, 0, &bi->shape, err);
}

/* Every id of document d - 1, tokens [prev, end): inside the vocabulary, the first <BOS>
 * and the last <EOS> (bos, eos -1: the tokenizer has none). */
static int check_doc_tokens(prep_reader *r, cursor *t, const char *tobj, uint64_t d, uint64_t prev, uint64_t end,
                            int64_t vocab, int32_t bos, int32_t eos, ed_error *err) {
    for (uint64_t i = prev; i < end; i++) {
        if (cursor_at(r, t, i, tobj, "token", err) != 0) return -1;
        int32_t id = ((const int32_t *)t->buf)[i - t->base];
        if (id < 0 || id >= vocab)
            return prep_rfail(r, err, "%s[%llu] = %d is outside the vocabulary (0..%lld)", tobj, (unsigned long long)i,
                              id, (long long)vocab - 1);
        if ((i == prev && bos >= 0 && id != bos) || (i == end - 1 && eos >= 0 && id != eos))
            return prep_rfail(r, err, "%s[%llu] = %d: document %llu does not %s", tobj, (unsigned long long)i, id,
                              (unsigned long long)(d - 1), i == prev ? "start with <BOS>" : "end with <EOS>");
    }
    return 0;
}

/* bos, eos: the tokenizer's ids (-1: it has none, and documents do not carry one). */
static int verify_split(prep_reader *r, const char *split, int64_t vocab, int32_t bos, int32_t eos, uint64_t *n_docs,
                        uint64_t *n_tokens, ed_error *err) {
    const uint64_t min_doc = (bos >= 0) + (eos >= 0) > 0 ? (uint64_t)((bos >= 0) + (eos >= 0)) : 1;
    char tobj[32], oobj[32];
    snprintf(tobj, sizeof tobj, "/%s/tokens", split);
    snprintf(oobj, sizeof oobj, "/%s/doc_offsets", split);
    uint64_t nt = 0, no = 0;
    hid_t td = prep_open_1d(r, tobj, 't', &nt, err);
    hid_t od = td < 0 ? -1 : prep_open_1d(r, oobj, 'o', &no, err);
    int rc = -1;
    cursor t = {td, H5T_NATIVE_INT32, 4, nt, 0, 0, ed_malloc(CHUNK * 4)};
    cursor o = {od, H5T_NATIVE_UINT64, 8, no, 0, 0, ed_malloc(CHUNK * 8)};
    block_index bi = {.c = {H5I_INVALID_HID, H5T_NATIVE_UINT64, 8, 0, 0, 0, NULL}};
    const ed_window_options *shape = &bi.shape;
    if (td < 0 || od < 0) goto out;
    if (no < 2) {
        prep_rfail(r, err, "%s has %llu entries, expected n_docs + 1 >= 2", oobj, (unsigned long long)no);
        goto out;
    }
    /* the stored window index, when there is one: recounted entry by entry */
    if (open_block_index(r, split, no - 1, &bi, err) != 0) goto out;
    uint64_t prev = 0, windows = 0;
    for (uint64_t d = 0; d < no; d++) {
        if (cursor_at(r, &o, d, oobj, "entry", err) != 0) goto out;
        uint64_t end = ((const uint64_t *)o.buf)[d - o.base];
        if (d == 0) {
            if (end != 0) {
                prep_rfail(r, err, "%s[0] = %llu, expected 0", oobj, (unsigned long long)end);
                goto out;
            }
            continue;
        }
        if (end < prev + min_doc || end > nt) {
            prep_rfail(r, err, "%s[%llu] = %llu: document %llu spans [%llu, %llu) of %llu tokens, expected at least "
                               "<BOS> <EOS> inside the array",
                       oobj, (unsigned long long)d, (unsigned long long)end, (unsigned long long)(d - 1),
                       (unsigned long long)prev, (unsigned long long)end, (unsigned long long)nt);
            goto out;
        }
        if (check_doc_tokens(r, &t, tobj, d, prev, end, vocab, bos, eos, err) != 0) goto out;
        if (shape->max_length) windows += ed_windows_in_doc(end - prev, shape);
        prev = end;
        int block_end = d % ED_WIN_BLOCK == 0 || d == no - 1;
        if (shape->max_length && block_end && check_block(r, &bi.c, bi.obj, d, windows, shape, err) != 0) goto out;
    }
    if (shape->max_length && (uint64_t)bi.n_windows != windows) {
        prep_rfail(r, err, "%s has n_windows = %lld, doc_offsets give %llu windows (--max-length %d --stride %d)",
                   bi.obj, (long long)bi.n_windows, (unsigned long long)windows, shape->max_length, shape->stride);
        goto out;
    }
    if (prev != nt) {
        prep_rfail(r, err, "%s ends at token %llu, %s has %llu", oobj, (unsigned long long)prev, tobj,
                   (unsigned long long)nt);
        goto out;
    }
    *n_docs = no - 1;
    *n_tokens = nt;
    rc = 0;
out:
    free(t.buf);
    free(o.buf);
    free(bi.c.buf);
    if (bi.c.d >= 0) H5Dclose(bi.c.d);
    if (td >= 0) H5Dclose(td);
    if (od >= 0) H5Dclose(od);
    return rc;
}

int ed_prepared_verify(const char *path, ed_prepared_info *info, ed_error *err) {
    if (ed_prepared_info_read(path, info, err) != 0) return -1;
    ed_tokenizer *tok = ed_prepared_tokenizer(path, err); /* parses, and matches vocab_size */
    if (!tok) return -1;
    const int32_t bos = ed_tok_role_id(tok, ED_ROLE_BOS), eos = ed_tok_role_id(tok, ED_ROLE_EOS);
    ed_tok_free(tok);
    prep_reader r;
    int64_t vocab;
    if (prep_open_reader(&r, path, &vocab, err) != 0) return -1;
    int rc = 0;
    for (int s = 0; s < 1 + info->has_val && rc == 0; s++)
        rc = verify_split(&r, s ? "val" : "train", vocab, bos, eos, &info->n_docs[s], &info->n_tokens[s], err);
    prep_close_reader(&r);
    return rc;
}
