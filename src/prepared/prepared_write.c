/* prepared_write.c — tokenizing documents and writing the prepared file (serial path).
 *
 * The writer knows nothing about ranks: it creates the datasets at their final size and
 * takes pieces at given offsets (hyperslabs), so the MPI driver can write each rank's
 * part as it arrives and the serial path is the one-rank case of the same calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <omp.h>
#include <unistd.h>

#include "prepared_internal.h"

enum { IDX_BUF = 1 << 16 }; /* window_blocks entries buffered before a write: 512 KiB */

void prep_split_range(const ed_docs *docs, size_t first, size_t last, int k, int parts, size_t *a, size_t *b) {
    uint64_t total = 0;
    for (size_t d = first; d < last; d++) total += docs->len[d] + 1; /* +1: empty docs still count */
    size_t cut[2];
    for (int j = 0; j < 2; j++) {
        int r = k + j;
        if (r == 0) cut[j] = first;
        else if (r == parts) cut[j] = last;
        else {
            /* boundary r = first document whose preceding bytes reach total * r / parts */
            uint64_t goal = (uint64_t)((double)total * r / parts), acc = 0;
            size_t d = first;
            while (d < last && acc < goal) acc += docs->len[d++] + 1;
            cut[j] = d;
        }
    }
    *a = cut[0];
    *b = cut[1];
}

static void tokenize_serial(prep_part *p, const ed_docs *docs, size_t first, size_t last, const ed_tokenizer *tok) {
    memset(p, 0, sizeof *p);
    p->n_docs = last - first;
    p->ends = ed_malloc((p->n_docs + 1) * sizeof *p->ends);
    size_t bytes = 0;
    for (size_t d = first; d < last; d++) bytes += docs->len[d];
    ed_ivec_reserve(&p->ids, bytes / 3 + 2 * p->n_docs + 16);
    for (size_t d = first; d < last; d++) {
        ed_tok_encode(tok, docs->text[d], docs->len[d], 1, &p->ids);
        p->ends[d - first] = p->ids.len;
    }
}

/* The OpenMP threads of this rank (ed_set_threads) share the documents the same way the
 * ranks do; the tokenizer is safe to share (its encode cache never blocks). */
void prep_tokenize(prep_part *p, const ed_docs *docs, size_t first, size_t last, const ed_tokenizer *tok) {
    int parts = omp_get_max_threads();
    if ((size_t)parts > (last - first) / 64) parts = (int)((last - first) / 64); /* not worth it for a few docs */
    if (parts <= 1) {
        tokenize_serial(p, docs, first, last, tok);
        return;
    }
    prep_part *sub = ed_calloc((size_t)parts, sizeof *sub);
#pragma omp parallel for schedule(static, 1) num_threads(parts)
    for (int k = 0; k < parts; k++) {
        size_t a, b;
        prep_split_range(docs, first, last, k, parts, &a, &b);
        tokenize_serial(&sub[k], docs, a, b, tok);
    }
    memset(p, 0, sizeof *p);
    p->n_docs = last - first;
    p->ends = ed_malloc((p->n_docs + 1) * sizeof *p->ends);
    size_t total = 0;
    for (int k = 0; k < parts; k++) total += sub[k].ids.len;
    ed_ivec_reserve(&p->ids, total + 1);
    size_t d = 0;
    for (int k = 0; k < parts; k++) {
        for (size_t i = 0; i < sub[k].n_docs; i++) p->ends[d++] = p->ids.len + sub[k].ends[i];
        memcpy(p->ids.data + p->ids.len, sub[k].ids.data, sub[k].ids.len * sizeof *p->ids.data);
        p->ids.len += sub[k].ids.len;
        prep_part_free(&sub[k]);
    }
    free(sub);
}

void prep_part_free(prep_part *p) {
    ed_ivec_free(&p->ids);
    free(p->ends);
    memset(p, 0, sizeof *p);
}

/* ---- the writer --------------------------------------------------------------------- */

static void wfail(prep_writer *w, const char *what) {
    if (w->failed) return;
    char reason[256];
    ed_h5_reason(reason, sizeof reason, "unknown HDF5 error");
    ed_fail(&w->err, "%s: cannot write %s: %s", w->path, what, reason);
    w->failed = 1;
}

int prep_open(prep_writer *w, const char *path, const ed_tokenizer *tok, const ed_window_options *win,
              ed_error *err) {
    memset(w, 0, sizeof *w);
    w->file = w->group = w->tokens = w->offsets = w->blocks = H5I_INVALID_HID;
    if (win && (win->max_length < 2 || win->stride < 1))
        return ed_fail(err, "%s: the window index needs max_length >= 2 and stride >= 1, got %d and %d", path,
                       win->max_length, win->stride);
    if (win) w->win = (ed_window_options){.max_length = win->max_length, .stride = win->stride};
    if (strlen(path) >= sizeof w->path) return ed_fail(err, "%s: path too long", path);
    snprintf(w->path, sizeof w->path, "%s", path);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp", path);
    int64_t vocab = ed_tok_vocab_size(tok);
    w->tok_type = vocab <= 65536 ? H5T_STD_U16LE : H5T_STD_I32LE;
    ed_h5_quiet_begin(&w->quiet);
    w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->file < 0) {
        char reason[256];
        ed_h5_reason(reason, sizeof reason, "unknown HDF5 error");
        ed_h5_quiet_end(&w->quiet);
        return ed_fail(err, "%s: cannot create: %s", w->tmp, reason);
    }
    char created[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int rc = ed_h5_attr_str(w->file, "format", ED_PREPARED_FORMAT) |
             ed_h5_attr_i64(w->file, "format_version", ED_PREPARED_VERSION) |
             ed_h5_attr_str(w->file, "tokenizer_kind", ed_tok_kind_names[ed_tok_kind_of(tok)]) |
             ed_h5_attr_i64(w->file, "vocab_size", vocab) |
             ed_h5_attr_str(w->file, "token_dtype", vocab <= 65536 ? "uint16" : "int32") |
             ed_h5_attr_str(w->file, "created", created) | ed_h5_attr_str(w->file, "expert_dist_version", ED_VERSION) |
             ed_h5_attr_str(w->file, "git_commit", ED_GIT_COMMIT);
    if (rc) wfail(w, "the file attributes");
    /* The tokenizer as a scalar string, as checkpoints store it: one JSON, one parser. */
    size_t len;
    char *json = ed_tok_serialize(tok, &len);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, len ? len : 1);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(w->file, "tokenizer", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0 || H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, json) < 0 ||
        (ed_h5_attr_str(d, "kind", ed_tok_kind_names[ed_tok_kind_of(tok)]) |
         ed_h5_attr_i64(d, "vocab_size", vocab)))
        wfail(w, "/tokenizer");
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
    free(json);
    return 0;
}

static hid_t make_1d(prep_writer *w, const char *name, hid_t type, uint64_t n) {
    hsize_t dims = n;
    hid_t sp = H5Screate_simple(1, &dims, NULL);
    /* contiguous (no chunks, no filters): a reader's hyperslab is one plain file read */
    hid_t d = sp < 0 ? -1 : H5Dcreate2(w->group, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (sp >= 0) H5Sclose(sp);
    return d;
}

void prep_split_begin(prep_writer *w, const char *name, uint64_t n_tokens, uint64_t n_docs, const prep_source *src) {
    if (w->failed) return;
    char what[64];
    snprintf(what, sizeof what, "/%s", name);
    w->group = H5Gcreate2(w->file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (w->group < 0) {
        wfail(w, what);
        return;
    }
    if (ed_h5_attr_str(w->group, "source", src->path) | ed_h5_attr_i64(w->group, "source_bytes", (int64_t)src->bytes) |
        ed_h5_attr_str(w->group, "source_sha256", src->sha256) | ed_h5_attr_i64(w->group, "n_docs", (int64_t)n_docs) |
        ed_h5_attr_i64(w->group, "n_tokens", (int64_t)n_tokens)) {
        wfail(w, what);
        return;
    }
    w->tokens = make_1d(w, "tokens", w->tok_type, n_tokens);
    w->offsets = make_1d(w, "doc_offsets", H5T_STD_U64LE, n_docs + 1);
    if (w->tokens < 0 || w->offsets < 0) {
        wfail(w, what);
        return;
    }
    uint64_t zero = 0;
    if (prep_write_slab(w->offsets, H5T_NATIVE_UINT64, &zero, 0, 1) < 0) wfail(w, what);
    w->n_tokens = n_tokens;
    w->n_docs = n_docs;
    w->next_doc = 1;
    w->prev_end = 0;
    w->windows = 0;
    w->idx_at = 0;
    w->idx_fill = 0;
    if (!w->win.max_length) return;
    /* the window index for one shape; n_windows is added at prep_split_end */
    w->blocks = make_1d(w, "window_blocks", H5T_STD_U64LE, (n_docs + ED_WIN_BLOCK - 1) / ED_WIN_BLOCK + 1);
    if (w->blocks < 0 || ed_h5_attr_i64(w->blocks, "max_length", w->win.max_length) |
                             ed_h5_attr_i64(w->blocks, "stride", w->win.stride) |
                             ed_h5_attr_i64(w->blocks, "block_docs", ED_WIN_BLOCK)) {
        wfail(w, "window_blocks");
        return;
    }
    if (!w->idx_buf) w->idx_buf = ed_malloc(IDX_BUF * sizeof *w->idx_buf);
    w->idx_buf[w->idx_fill++] = 0; /* no windows before block 0 */
}

static void idx_flush(prep_writer *w) {
    if (!w->failed && w->idx_fill &&
        prep_write_slab(w->blocks, H5T_NATIVE_UINT64, w->idx_buf, w->idx_at, w->idx_fill) < 0)
        wfail(w, "window_blocks");
    w->idx_at += w->idx_fill;
    w->idx_fill = 0;
}

static void idx_push(prep_writer *w, uint64_t windows) {
    if (w->idx_fill == IDX_BUF) idx_flush(w);
    w->idx_buf[w->idx_fill++] = windows;
}

/* Document ends off[0..n) for entries [at, at + n) of doc_offsets, in order: checked
 * (the trainer trusts the stored index and checks only what each window reads), and
 * counted into the window index. */
static void index_offsets(prep_writer *w, const uint64_t *off, size_t n, uint64_t at) {
    if (at != w->next_doc) {
        ed_fail(&w->err, "%s: doc_offsets written out of order (entry %llu, expected %llu)", w->path,
                (unsigned long long)at, (unsigned long long)w->next_doc);
        w->failed = 1;
        return;
    }
    for (size_t i = 0; i < n && !w->failed; i++) {
        uint64_t d = at + i, e = off[i]; /* document d - 1 ends at e */
        if (d > w->n_docs || e < w->prev_end + 2 || e > w->n_tokens) {
            ed_fail(&w->err, "%s: doc_offsets[%llu] = %llu after %llu: document %llu is not at least <BOS> <EOS> "
                             "inside the %llu tokens",
                    w->path, (unsigned long long)d, (unsigned long long)e, (unsigned long long)w->prev_end,
                    (unsigned long long)(d - 1), (unsigned long long)w->n_tokens);
            w->failed = 1;
            return;
        }
        if (w->win.max_length) {
            w->windows += ed_windows_in_doc(e - w->prev_end, &w->win);
            if (d % ED_WIN_BLOCK == 0) idx_push(w, w->windows);
        }
        w->prev_end = e;
    }
    w->next_doc = at + n;
}

void prep_put_tokens(prep_writer *w, const int32_t *ids, size_t n, uint64_t at) {
    if (!w->failed && prep_write_slab(w->tokens, H5T_NATIVE_INT32, ids, at, n) < 0) wfail(w, "tokens");
}

void prep_put_raw(prep_writer *w, const char *what, hid_t memtype, const void *ids, size_t n, uint64_t at) {
    if (!w->failed && prep_write_slab(w->tokens, memtype, ids, at, n) < 0) wfail(w, what);
}

void prep_fail(prep_writer *w, const char *what) { wfail(w, what); }

void prep_put_string(prep_writer *w, const char *name, const char *text) {
    if (w->failed) return;
    size_t len = strlen(text);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, len ? len : 1);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(w->group, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0 || H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, len ? text : "") < 0) wfail(w, name);
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
}

void prep_put_offsets(prep_writer *w, const uint64_t *off, size_t n, uint64_t at) {
    if (w->failed) return;
    index_offsets(w, off, n, at);
    if (!w->failed && prep_write_slab(w->offsets, H5T_NATIVE_UINT64, off, at, n) < 0) wfail(w, "doc_offsets");
}

void prep_split_end(prep_writer *w) {
    if (w->group >= 0 && !w->failed && (w->next_doc != w->n_docs + 1 || w->prev_end != w->n_tokens)) {
        ed_fail(&w->err, "%s: doc_offsets ends at entry %llu, token %llu; expected %llu documents, %llu tokens",
                w->path, (unsigned long long)w->next_doc - 1, (unsigned long long)w->prev_end,
                (unsigned long long)w->n_docs, (unsigned long long)w->n_tokens);
        w->failed = 1;
    }
    if (w->blocks >= 0 && !w->failed) {
        if (w->n_docs % ED_WIN_BLOCK != 0) idx_push(w, w->windows); /* the end of the last, partial block */
        idx_flush(w);
        if (!w->failed && ed_h5_attr_i64(w->blocks, "n_windows", (int64_t)w->windows)) wfail(w, "window_blocks");
    }
    if (w->blocks >= 0) H5Dclose(w->blocks);
    if (w->tokens >= 0) H5Dclose(w->tokens);
    if (w->offsets >= 0) H5Dclose(w->offsets);
    if (w->group >= 0) H5Gclose(w->group);
    w->tokens = w->offsets = w->group = w->blocks = H5I_INVALID_HID;
}

int prep_close(prep_writer *w, ed_error *err) {
    prep_split_end(w);
    free(w->idx_buf);
    w->idx_buf = NULL;
    if (w->file >= 0) {
        if (!w->failed && H5Fflush(w->file, H5F_SCOPE_GLOBAL) < 0) wfail(w, "(flush)");
        if (H5Fclose(w->file) < 0) wfail(w, "(close)");
        w->file = H5I_INVALID_HID;
    }
    ed_h5_quiet_end(&w->quiet);
    /* "complete or not at all" (prepared.h): the common atomic commit (common.h) */
    if (!w->failed && ed_commit_written_file(w->tmp, w->path, &w->err) != 0) w->failed = 1;
    if (w->failed) {
        unlink(w->tmp);
        if (err) *err = w->err;
        return -1;
    }
    return 0;
}
