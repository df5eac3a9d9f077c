/* prepared_read.c — reading a prepared token file: its summary, its tokenizer, and a
 * dataset of one split with the same windows ed_dataset_build cuts from text.
 *
 * Start-up cost: doc_offsets (the index, 8 bytes per document) is read whole; the token
 * array is read in hyperslabs of READ_CHUNK ids straight into ds->tokens (HDF5 widens
 * uint16 to int32 on the way) and range-checked chunk by chunk while it is in cache.
 * Windows come from the offsets alone. Nothing is parsed or tokenized. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepared_internal.h"

enum { READ_CHUNK = 1 << 22 };

typedef struct {
    const char *path;
    hid_t file;
    ed_h5_quiet quiet;
} reader;

static int rfail(reader *r, ed_error *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int rfail(reader *r, ed_error *err, const char *fmt, ...) {
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ed_fail(err, "%s: %s", r->path, msg);
}

static void close_reader(reader *r) {
    if (r->file >= 0) H5Fclose(r->file);
    r->file = H5I_INVALID_HID;
    ed_h5_quiet_end(&r->quiet);
}

static int open_reader(reader *r, const char *path, int64_t *vocab, ed_error *err) {
    r->path = path;
    r->file = H5I_INVALID_HID;
    ed_h5_quiet_begin(&r->quiet);
    FILE *f = fopen(path, "rb");
    if (!f) {
        ed_h5_quiet_end(&r->quiet);
        return ed_fail(err, "%s: cannot open prepared token file", path);
    }
    fclose(f);
    if (H5Fis_hdf5(path) <= 0) {
        ed_h5_quiet_end(&r->quiet);
        return ed_fail(err, "%s: not an HDF5 file (expected a prepared token file from `expert-dist prepare`)", path);
    }
    r->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (r->file < 0) {
        char reason[256];
        ed_h5_reason(reason, sizeof reason, "unknown HDF5 error");
        ed_h5_quiet_end(&r->quiet);
        return ed_fail(err, "%s: cannot open: %s", path, reason);
    }
    char format[64] = "";
    int64_t version = 0;
    if (prep_attr_read_str(r->file, "format", format, sizeof format) != 0 || strcmp(format, ED_PREPARED_FORMAT) != 0) {
        rfail(r, err, "not a prepared token file (attribute \"format\" is not \"%s\")", ED_PREPARED_FORMAT);
        close_reader(r);
        return -1;
    }
    if (prep_attr_read_i64(r->file, "format_version", &version) != 0 || version != ED_PREPARED_VERSION) {
        rfail(r, err, "prepared file format version %lld, this build reads version %d", (long long)version,
              ED_PREPARED_VERSION);
        close_reader(r);
        return -1;
    }
    if (prep_attr_read_i64(r->file, "vocab_size", vocab) != 0 || *vocab < ED_NUM_SPECIAL || *vocab > INT32_MAX) {
        rfail(r, err, "missing or invalid attribute \"vocab_size\"");
        close_reader(r);
        return -1;
    }
    return 0;
}

static void describe_type(hid_t t, char *buf, size_t n) {
    H5T_class_t c = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    if (c == H5T_INTEGER)
        snprintf(buf, n, "%s%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "uint" : "int", 8 * size);
    else if (c == H5T_FLOAT) snprintf(buf, n, "float%zu", 8 * size);
    else if (c == H5T_STRING) snprintf(buf, n, "string");
    else snprintf(buf, n, "a non-numeric type");
}

/* Opens a 1-D integer dataset; want: 't' tokens (uint16/int32), 'o' offsets (64-bit). */
static hid_t open_1d(reader *r, const char *obj, char want, uint64_t *n, ed_error *err) {
    if (H5Lexists(r->file, obj, H5P_DEFAULT) <= 0) {
        rfail(r, err, "%s is missing", obj);
        return -1;
    }
    hid_t d = H5Dopen2(r->file, obj, H5P_DEFAULT);
    if (d < 0) {
        rfail(r, err, "%s is not a dataset", obj);
        return -1;
    }
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    int ok = t >= 0 && sp >= 0;
    char found[32] = "?";
    if (ok) describe_type(t, found, sizeof found);
    int good_type = ok && H5Tget_class(t) == H5T_INTEGER &&
                    (want == 't' ? (H5Tget_size(t) == 2 && H5Tget_sign(t) == H5T_SGN_NONE) ||
                                       (H5Tget_size(t) == 4 && H5Tget_sign(t) == H5T_SGN_2)
                                 : H5Tget_size(t) == 8);
    int nd = ok ? H5Sget_simple_extent_ndims(sp) : -1;
    hsize_t dims[8] = {0};
    if (nd == 1) H5Sget_simple_extent_dims(sp, dims, NULL);
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (!good_type) {
        rfail(r, err, "%s has type %s, expected %s", obj, found, want == 't' ? "uint16 or int32 token ids" : "uint64 offsets");
        H5Dclose(d);
        return -1;
    }
    if (nd != 1) {
        rfail(r, err, "%s has %d dimensions, expected 1", obj, nd);
        H5Dclose(d);
        return -1;
    }
    /* A file cut short (or a forged extent) must not become a huge allocation or a read
     * of fill values: the stored bytes have to cover the extent. */
    hid_t t2 = H5Dget_type(d);
    size_t elem = t2 >= 0 ? H5Tget_size(t2) : 0;
    if (t2 >= 0) H5Tclose(t2);
    if (dims[0] > 0 && H5Dget_storage_size(d) < dims[0] * elem) {
        rfail(r, err, "%s is truncated: %llu entries declared, %llu bytes stored", obj, (unsigned long long)dims[0],
              (unsigned long long)H5Dget_storage_size(d));
        H5Dclose(d);
        return -1;
    }
    *n = dims[0];
    return d;
}

int ed_prepared_info_read(const char *path, ed_prepared_info *info, ed_error *err) {
    memset(info, 0, sizeof *info);
    reader r;
    if (open_reader(&r, path, &info->vocab_size, err) != 0) return -1;
    int rc = 0;
    prep_attr_read_str(r.file, "tokenizer_kind", info->tokenizer_kind, sizeof info->tokenizer_kind);
    prep_attr_read_str(r.file, "token_dtype", info->token_dtype, sizeof info->token_dtype);
    prep_attr_read_str(r.file, "created", info->created, sizeof info->created);
    info->has_val = H5Lexists(r.file, "val", H5P_DEFAULT) > 0;
    for (int s = 0; s < 1 + info->has_val && rc == 0; s++) {
        char obj[32];
        uint64_t n;
        snprintf(obj, sizeof obj, "/%s/tokens", s ? "val" : "train");
        hid_t d = open_1d(&r, obj, 't', &info->n_tokens[s], err);
        if (d < 0) { rc = -1; break; }
        H5Dclose(d);
        snprintf(obj, sizeof obj, "/%s/doc_offsets", s ? "val" : "train");
        d = open_1d(&r, obj, 'o', &n, err);
        if (d < 0) { rc = -1; break; }
        H5Dclose(d);
        info->n_docs[s] = n ? n - 1 : 0;
    }
    close_reader(&r);
    return rc;
}

ed_tokenizer *ed_prepared_tokenizer(const char *path, ed_error *err) {
    reader r;
    int64_t vocab;
    if (open_reader(&r, path, &vocab, err) != 0) return NULL;
    ed_tokenizer *tok = NULL;
    if (H5Lexists(r.file, "tokenizer", H5P_DEFAULT) <= 0) {
        rfail(&r, err, "/tokenizer is missing");
        close_reader(&r);
        return NULL;
    }
    hid_t d = H5Dopen2(r.file, "tokenizer", H5P_DEFAULT);
    hid_t t = d >= 0 ? H5Dget_type(d) : -1;
    if (t < 0 || H5Tget_class(t) != H5T_STRING) {
        rfail(&r, err, "/tokenizer is not a string dataset");
    } else {
        char *s = NULL;
        size_t len = 0;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_cset(mt, H5Tget_cset(t)); /* HDF5 will not convert between ASCII and UTF-8 */
        if (H5Tis_variable_str(t) > 0) { /* rewritten by h5py: accept it */
            char *v = NULL;
            H5Tset_size(mt, H5T_VARIABLE);
            if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) >= 0 && v) {
                s = ed_strdup(v);
                len = strlen(s);
                H5free_memory(v);
            }
        } else {
            size_t size = H5Tget_size(t);
            s = ed_malloc(size + 1);
            H5Tset_size(mt, size);
            H5Tset_strpad(mt, H5T_STR_NULLPAD);
            if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) < 0) {
                free(s);
                s = NULL;
            } else {
                s[size] = '\0';
                len = strlen(s);
            }
        }
        H5Tclose(mt);
        if (!s) {
            rfail(&r, err, "/tokenizer cannot be read");
        } else {
            ed_error sub;
            tok = ed_tok_deserialize(s, len, &sub);
            if (!tok) rfail(&r, err, "/tokenizer: %s", sub.msg);
            else if (ed_tok_vocab_size(tok) != vocab) {
                rfail(&r, err, "/tokenizer has %d tokens but the file's vocab_size is %lld", ed_tok_vocab_size(tok),
                      (long long)vocab);
                ed_tok_free(tok);
                tok = NULL;
            }
            free(s);
        }
    }
    if (t >= 0) H5Tclose(t);
    if (d >= 0) H5Dclose(d);
    close_reader(&r);
    return tok;
}

int ed_dataset_load_prepared(ed_dataset *ds, const char *path, const char *split, const ed_window_options *opt,
                             ed_error *err) {
    memset(ds, 0, sizeof *ds);
    if (opt->max_length < 2)
        return ed_fail(err, "max_length must be >= 2 (one input and one target), got %d", opt->max_length);
    if (opt->stride < 1) return ed_fail(err, "stride must be >= 1, got %d", opt->stride);
    if (strcmp(split, "train") != 0 && strcmp(split, "val") != 0)
        return ed_fail(err, "%s: unknown split \"%s\" (expected train or val)", path, split);
    reader r;
    int64_t vocab;
    if (open_reader(&r, path, &vocab, err) != 0) return -1;
    if (H5Lexists(r.file, split, H5P_DEFAULT) <= 0) {
        rfail(&r, err, "no /%s split in this file%s", split,
              strcmp(split, "val") == 0 ? " (it was prepared without validation documents)" : "");
        close_reader(&r);
        return -1;
    }
    char tobj[32], oobj[32];
    snprintf(tobj, sizeof tobj, "/%s/tokens", split);
    snprintf(oobj, sizeof oobj, "/%s/doc_offsets", split);
    uint64_t n_tokens = 0, n_off = 0;
    int32_t *tokens = NULL;
    uint64_t *off = NULL;
    int rc = -1;
    hid_t td = open_1d(&r, tobj, 't', &n_tokens, err);
    hid_t od = td < 0 ? -1 : open_1d(&r, oobj, 'o', &n_off, err);
    if (td < 0 || od < 0) goto out;
    if (n_off < 2) {
        rfail(&r, err, "%s has %llu entries, expected n_docs + 1 >= 2", oobj, (unsigned long long)n_off);
        goto out;
    }
    size_t n_docs = (size_t)(n_off - 1);
    off = ed_malloc(n_off * sizeof *off);
    if (prep_read_slab(od, H5T_NATIVE_UINT64, off, 0, n_off) < 0) {
        char reason[256];
        ed_h5_reason(reason, sizeof reason, "unknown HDF5 error");
        rfail(&r, err, "%s cannot be read: %s", oobj, reason);
        goto out;
    }
    if (off[0] != 0 || off[n_docs] != n_tokens) {
        rfail(&r, err, "%s must run from 0 to the %llu tokens, found %llu .. %llu", oobj,
              (unsigned long long)n_tokens, (unsigned long long)off[0], (unsigned long long)off[n_docs]);
        goto out;
    }
    for (size_t d = 0; d < n_docs; d++)
        if (off[d + 1] < off[d] + 2) {
            rfail(&r, err, "%s: document %zu has %lld tokens, expected at least 2 ([BOS] ... [EOS])", oobj, d,
                  (long long)(off[d + 1] - off[d]));
            goto out;
        }
    tokens = ed_malloc((n_tokens ? n_tokens : 1) * sizeof *tokens);
    for (uint64_t at = 0; at < n_tokens; at += READ_CHUNK) {
        size_t k = n_tokens - at < READ_CHUNK ? (size_t)(n_tokens - at) : READ_CHUNK;
        if (prep_read_slab(td, H5T_NATIVE_INT32, tokens + at, at, k) < 0) {
            char reason[256];
            ed_h5_reason(reason, sizeof reason, "unknown HDF5 error");
            rfail(&r, err, "%s cannot be read: %s", tobj, reason);
            goto out;
        }
        for (size_t i = 0; i < k; i++)
            if (tokens[at + i] < 0 || tokens[at + i] >= vocab) {
                rfail(&r, err, "%s[%llu] = %d is outside the vocabulary (0..%lld)", tobj,
                      (unsigned long long)(at + i), tokens[at + i], (long long)vocab - 1);
                goto out;
            }
    }
    for (size_t d = 0; d < n_docs; d++)
        if (tokens[off[d]] != ED_BOS || tokens[off[d + 1] - 1] != ED_EOS) {
            rfail(&r, err, "%s: document %zu does not start with <BOS> and end with <EOS>", tobj, d);
            goto out;
        }
    /* the same window rule as the text path (windows.c), so the two cannot drift */
    ds->tokens = tokens;
    ds->n_tokens = (size_t)n_tokens;
    tokens = NULL;
    ed_dataset_cut_windows(ds, off, n_docs, opt);
    if (ds->n_windows == 0 || ds->n_windows > UINT32_MAX) {
        rfail(&r, err, "/%s: %zu windows (need 1 .. 2^32-1)", split, ds->n_windows);
        ed_dataset_free(ds);
        goto out;
    }
    rc = 0;
out:
    if (td >= 0) H5Dclose(td);
    if (od >= 0) H5Dclose(od);
    close_reader(&r);
    free(tokens);
    free(off);
    return rc;
}
