/* prepared_read.c — reading a prepared token file: its summary, its tokenizer, and a
 * dataset of one split with the same windows ed_dataset_build cuts from text.
 *
 * Start-up cost: the token array is mapped read-only (H5Dget_offset + mmap: uint16 stays
 * uint16, the ranks of a node share the page cache), nothing of it is read at start.
 * doc_offsets (the index, 8 bytes per document) is mapped too, and so is the block index
 * (dataset.h) when `prepare` stored it for the run's window shape (window_blocks): then
 * start-up reads a few entries, whatever the corpus. Otherwise doc_offsets is passed over
 * once with pread to build the block index and check it (and ds->note says so). Each
 * window checks the index entries it reads and its ids when it is used
 * (ed_dataset_locate, ed_dataset_tokens); the full scan of every token and entry is
 * `expert-dist verify` (prepared_verify.c). A chunked or compressed token dataset
 * (rewritten by h5repack, say) cannot be mapped: its windows are read by hyperslab. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prepared_internal.h"

int prep_rfail(prep_reader *r, ed_error *err, const char *fmt, ...) {
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ed_fail(err, "%s: %s", r->path, msg);
}

void prep_close_reader(prep_reader *r) {
    if (r->file >= 0) H5Fclose(r->file);
    r->file = H5I_INVALID_HID;
    ed_h5_quiet_end(&r->quiet);
}

int prep_open_reader(prep_reader *r, const char *path, int64_t *vocab, ed_error *err) {
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
        unsigned long long eof, base, stored;
        if (sscanf(reason, "truncated file: eof = %llu, sblock->base_addr = %llu, stored_eof = %llu", &eof, &base,
                   &stored) == 3)
            return ed_fail(err, "%s: truncated: the file ends at byte offset %llu but its HDF5 superblock says %llu "
                                "(copied or written only in part?)", path, eof, stored);
        return ed_fail(err, "%s: cannot open: %s", path, reason);
    }
    char format[64] = "";
    int64_t version = 0;
    if (prep_attr_read_str(r->file, "format", format, sizeof format) != 0 || strcmp(format, ED_PREPARED_FORMAT) != 0) {
        prep_rfail(r, err, "not a prepared token file (attribute \"format\" is not \"%s\")", ED_PREPARED_FORMAT);
        prep_close_reader(r);
        return -1;
    }
    if (prep_attr_read_i64(r->file, "format_version", &version) != 0 || version != ED_PREPARED_VERSION) {
        prep_rfail(r, err, "prepared file format version %lld, this build reads version %d", (long long)version,
              ED_PREPARED_VERSION);
        prep_close_reader(r);
        return -1;
    }
    if (prep_attr_read_i64(r->file, "vocab_size", vocab) != 0 || *vocab < 1 || *vocab > INT32_MAX) {
        prep_rfail(r, err, "missing or invalid attribute \"vocab_size\"");
        prep_close_reader(r);
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
hid_t prep_open_1d(prep_reader *r, const char *obj, char want, uint64_t *n, ed_error *err) {
    if (H5Lexists(r->file, obj, H5P_DEFAULT) <= 0) {
        prep_rfail(r, err, "%s is missing", obj);
        return -1;
    }
    hid_t d = H5Dopen2(r->file, obj, H5P_DEFAULT);
    if (d < 0) {
        prep_rfail(r, err, "%s is not a dataset", obj);
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
        prep_rfail(r, err, "%s has type %s, expected %s", obj, found, want == 't' ? "uint16 or int32 token ids" : "uint64 offsets");
        H5Dclose(d);
        return -1;
    }
    if (nd != 1) {
        prep_rfail(r, err, "%s has %d dimensions, expected 1", obj, nd);
        H5Dclose(d);
        return -1;
    }
    /* A file cut short (or a forged extent) must not become a huge allocation or a read
     * of fill values: the stored bytes have to cover the extent. */
    hid_t t2 = H5Dget_type(d);
    size_t elem = t2 >= 0 ? H5Tget_size(t2) : 0;
    if (t2 >= 0) H5Tclose(t2);
    hid_t pl = H5Dget_create_plist(d);
    int filtered = pl >= 0 && H5Pget_nfilters(pl) > 0; /* compressed: fewer bytes is the point */
    if (pl >= 0) H5Pclose(pl);
    if (!filtered && dims[0] > 0 && H5Dget_storage_size(d) < dims[0] * elem) {
        prep_rfail(r, err, "%s is truncated: %llu entries declared, %llu bytes stored", obj, (unsigned long long)dims[0],
              (unsigned long long)H5Dget_storage_size(d));
        H5Dclose(d);
        return -1;
    }
    *n = dims[0];
    return d;
}

int ed_prepared_info_read(const char *path, ed_prepared_info *info, ed_error *err) {
    memset(info, 0, sizeof *info);
    prep_reader r;
    if (prep_open_reader(&r, path, &info->vocab_size, err) != 0) return -1;
    int rc = 0;
    prep_attr_read_str(r.file, "tokenizer_kind", info->tokenizer_kind, sizeof info->tokenizer_kind);
    prep_attr_read_str(r.file, "token_dtype", info->token_dtype, sizeof info->token_dtype);
    prep_attr_read_str(r.file, "created", info->created, sizeof info->created);
    info->has_val = H5Lexists(r.file, "val", H5P_DEFAULT) > 0;
    for (int s = 0; s < 1 + info->has_val && rc == 0; s++) {
        char obj[32];
        uint64_t n;
        snprintf(obj, sizeof obj, "/%s/tokens", s ? "val" : "train");
        hid_t d = prep_open_1d(&r, obj, 't', &info->n_tokens[s], err);
        if (d < 0) { rc = -1; break; }
        H5Dclose(d);
        snprintf(obj, sizeof obj, "/%s/doc_offsets", s ? "val" : "train");
        d = prep_open_1d(&r, obj, 'o', &n, err);
        if (d < 0) { rc = -1; break; }
        H5Dclose(d);
        info->n_docs[s] = n ? n - 1 : 0;
    }
    if (rc == 0 && H5Lexists(r.file, "/train/window_blocks", H5P_DEFAULT) > 0) {
        hid_t d = H5Dopen2(r.file, "/train/window_blocks", H5P_DEFAULT);
        int64_t ml = 0, st = 0;
        if (d >= 0 && prep_attr_read_i64(d, "max_length", &ml) == 0 && prep_attr_read_i64(d, "stride", &st) == 0 &&
            ml > 0 && ml <= INT32_MAX && st > 0 && st <= INT32_MAX)
            info->window_max_length = (int)ml, info->window_stride = (int)st;
        if (d >= 0) H5Dclose(d);
    }
    prep_close_reader(&r);
    return rc;
}

ed_tokenizer *ed_prepared_tokenizer(const char *path, ed_error *err) {
    prep_reader r;
    int64_t vocab;
    if (prep_open_reader(&r, path, &vocab, err) != 0) return NULL;
    ed_tokenizer *tok = NULL;
    if (H5Lexists(r.file, "tokenizer", H5P_DEFAULT) <= 0) {
        prep_rfail(&r, err, "/tokenizer is missing");
        prep_close_reader(&r);
        return NULL;
    }
    hid_t d = H5Dopen2(r.file, "tokenizer", H5P_DEFAULT);
    hid_t t = d >= 0 ? H5Dget_type(d) : -1;
    if (t < 0 || H5Tget_class(t) != H5T_STRING) {
        prep_rfail(&r, err, "/tokenizer is not a string dataset");
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
            prep_rfail(&r, err, "/tokenizer cannot be read");
        } else {
            ed_error sub;
            tok = ed_tok_deserialize(s, len, &sub);
            if (!tok) prep_rfail(&r, err, "/tokenizer: %s", sub.msg);
            else if (ed_tok_vocab_size(tok) != vocab) {
                prep_rfail(&r, err, "/tokenizer has %d tokens but the file's vocab_size is %lld", ed_tok_vocab_size(tok),
                      (long long)vocab);
                ed_tok_free(tok);
                tok = NULL;
            }
            free(s);
        }
    }
    if (t >= 0) H5Tclose(t);
    if (d >= 0) H5Dclose(d);
    prep_close_reader(&r);
    return tok;
}

/* ---- mapping --------------------------------------------------------------------------- */

/* File offset of a dataset HDF5 stores as one plain run of bytes (contiguous layout, no
 * filters, no external file), in little-endian order on a little-endian host: what mmap
 * can serve as is. 0 otherwise (chunked, compressed, or another byte order). */
static int plain_offset(hid_t d, haddr_t *at) {
    static const uint16_t one = 1;
    if (*(const unsigned char *)&one != 1) return 0;
    hid_t pl = H5Dget_create_plist(d), t = H5Dget_type(d);
    int ok = pl >= 0 && t >= 0 && H5Pget_layout(pl) == H5D_CONTIGUOUS && H5Pget_nfilters(pl) == 0 &&
             H5Pget_external_count(pl) == 0 && H5Tget_order(t) == H5T_ORDER_LE;
    if (pl >= 0) H5Pclose(pl);
    if (t >= 0) H5Tclose(t);
    *at = ok ? H5Dget_offset(d) : HADDR_UNDEF;
    return ok && *at != HADDR_UNDEF;
}

/* Maps bytes [at, at + n) of fd read-only; *base and *len are what munmap needs. */
static const void *map_range(int fd, uint64_t at, uint64_t n, void **base, size_t *len) {
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), lo = at - at % page;
    *len = (size_t)(at + n - lo);
    void *p = mmap(NULL, *len, PROT_READ, MAP_SHARED, fd, (off_t)lo);
    if (p == MAP_FAILED) {
        *base = NULL;
        return NULL;
    }
    *base = p;
    return (const char *)p + (at - lo);
}

typedef struct {
    int fd;
    uint64_t at; /* file offset of doc_offsets[0] */
} pread_ctx;

/* The index scan at start reads the offsets with pread, not through the mapping, so the
 * pages it passes over do not stay in the rank's resident set. */
static int pread_off(void *ctx, uint64_t first, size_t n, uint64_t *out) {
    const pread_ctx *c = ctx;
    size_t want = n * sizeof *out, got = 0;
    while (got < want) {
        ssize_t k = pread(c->fd, (char *)out + got, want - got, (off_t)(c->at + first * sizeof *out + got));
        if (k <= 0) return -1;
        got += (size_t)k;
    }
    return 0;
}

/* Tokens read by hyperslab when they cannot be mapped (chunked or compressed). */
typedef struct {
    hid_t dset;
    char origin[600];
} slab_ctx;

static int slab_read(void *ctx, uint64_t at, size_t n, int32_t *out, ed_error *err) {
    slab_ctx *c = ctx;
    ed_h5_quiet q;
    ed_h5_quiet_begin(&q);
    int rc = prep_read_slab(c->dset, H5T_NATIVE_INT32, out, at, n);
    if (rc != 0) {
        char reason[256];
        ed_h5_reason(reason, sizeof reason, "unknown HDF5 error");
        ed_fail(err, "%s[%llu..%llu] cannot be read: %s", c->origin, (unsigned long long)at,
                (unsigned long long)(at + n), reason);
    }
    ed_h5_quiet_end(&q);
    return rc;
}

static void slab_close(void *ctx) {
    slab_ctx *c = ctx;
    ed_h5_quiet q;
    ed_h5_quiet_begin(&q);
    H5Dclose(c->dset); /* the file closes with its last object (HDF5's weak close degree) */
    ed_h5_quiet_end(&q);
    free(c);
}

#define INDEX_DAMAGED "the window index is damaged (`expert-dist verify` checks it; `prepare` rewrites it)"

static uint64_t load_u64(const void *base, size_t i) { /* mapped: may be misaligned */
    uint64_t x;
    memcpy(&x, (const char *)base + i * sizeof x, sizeof x);
    return x;
}

/* The window index `prepare` stored for opt's shape, mapped read-only like the tokens:
 * 1 when ds now holds it (block_win, n_blocks, n_windows), 0 when the file has none for
 * this shape or it cannot be mapped (*why says which, for ds->note), -1 with err when it
 * is there for this shape but damaged. O(1): attributes, sizes, and the first and last
 * entries of window_blocks and doc_offsets (ds->doc_off, ds->n_docs set); the entries in
 * between are checked by each window that reads them (ed_dataset_locate). */
static int map_stored_index(prep_reader *r, ed_dataset *ds, const char *split, const ed_window_options *opt, int fd,
                            uint64_t file_size, int omap, char *why, size_t why_n, ed_error *err) {
    char bobj[40];
    snprintf(bobj, sizeof bobj, "/%s/window_blocks", split);
    if (H5Lexists(r->file, bobj, H5P_DEFAULT) <= 0) {
        snprintf(why, why_n, "the file stores none");
        return 0;
    }
    uint64_t n = 0;
    hid_t bd = prep_open_1d(r, bobj, 'o', &n, err);
    if (bd < 0) return -1;
    int64_t ml = 0, stride = 0, bdocs = 0, nw = 0;
    size_t n_blocks = (ds->n_docs + ED_WIN_BLOCK - 1) / ED_WIN_BLOCK;
    haddr_t at = 0;
    int rc = -1;
    if (prep_attr_read_i64(bd, "max_length", &ml) | prep_attr_read_i64(bd, "stride", &stride) |
        prep_attr_read_i64(bd, "block_docs", &bdocs) | prep_attr_read_i64(bd, "n_windows", &nw))
        prep_rfail(r, err, "%s lacks one of its attributes max_length, stride, block_docs, n_windows: " INDEX_DAMAGED,
                   bobj);
    else if (ml != opt->max_length || stride != opt->stride)
        rc = 0, snprintf(why, why_n, "the file stores it for --max-length %lld --stride %lld", (long long)ml,
                         (long long)stride);
    else if (bdocs != ED_WIN_BLOCK)
        rc = 0, snprintf(why, why_n, "the file stores it in blocks of %lld documents, this build uses %d",
                         (long long)bdocs, ED_WIN_BLOCK);
    else if (!omap || !plain_offset(bd, &at))
        rc = 0, snprintf(why, why_n, "the file's index datasets are chunked or compressed (h5repack?): not mapped");
    else if (n != n_blocks + 1)
        prep_rfail(r, err, "%s has %llu entries, %zu documents need %zu: " INDEX_DAMAGED, bobj, (unsigned long long)n,
                   ds->n_docs, n_blocks + 1);
    else if (at + n * 8 > file_size)
        prep_rfail(r, err, "truncated: %s needs bytes up to offset %llu, the file ends at %llu", bobj,
                   (unsigned long long)(at + n * 8), (unsigned long long)file_size);
    else if (nw > (int64_t)UINT32_MAX)
        prep_rfail(r, err, "%lld windows, more than the 2^32-1 supported (raise --stride)", (long long)nw);
    else if (!(ds->block_win = map_range(fd, at, n * 8, &ds->map[2], &ds->map_len[2])))
        prep_rfail(r, err, "cannot map %s: %s", bobj, strerror(errno));
    else if (load_u64(ds->block_win, 0) != 0 || load_u64(ds->block_win, n_blocks) != (uint64_t)nw || nw < 1)
        prep_rfail(r, err, "%s[0] = %llu, [%zu] = %llu, expected 0 and n_windows = %lld: " INDEX_DAMAGED, bobj,
                   (unsigned long long)load_u64(ds->block_win, 0), n_blocks,
                   (unsigned long long)load_u64(ds->block_win, n_blocks), (long long)nw);
    else if (load_u64(ds->doc_off, 0) != 0 || load_u64(ds->doc_off, ds->n_docs) != ds->n_tokens)
        prep_rfail(r, err, "/%s/doc_offsets[0] = %llu, [%zu] = %llu, expected 0 and the %zu tokens: the document index "
                           "is damaged (`expert-dist verify` checks it)",
                   split, (unsigned long long)load_u64(ds->doc_off, 0), ds->n_docs,
                   (unsigned long long)load_u64(ds->doc_off, ds->n_docs), ds->n_tokens);
    else {
        /* like the tokens: windows are looked up at random */
        madvise(ds->map[2], ds->map_len[2], MADV_RANDOM);
        ds->n_blocks = n_blocks;
        ds->n_windows = (size_t)nw;
        ds->max_length = opt->max_length;
        ds->stride = opt->stride;
        ds->pack = 0;
        rc = 1;
    }
    if (rc != 1) ds->block_win = NULL; /* a mapping made stays in map[2] for ed_dataset_free */
    H5Dclose(bd);
    return rc;
}

/* One of a split's two datasets (tokens, doc_offsets) as the loader sees it. */
typedef struct {
    char obj[32];   /* "/train/tokens", ... for messages */
    hid_t id;
    uint64_t n;     /* elements */
    int plain;      /* contiguous and allocated: mappable at byte offset `at` */
    haddr_t at;
    uint64_t bytes;
} split_dset;

/* The token array: mapped read-only when plain, else read through a hyperslab reader that
 * takes over t->id. */
static int attach_tokens(prep_reader *r, ed_dataset *ds, int fd, split_dset *t, ed_error *err) {
    if (t->plain) {
        ds->tokens = map_range(fd, t->at, t->bytes, &ds->map[0], &ds->map_len[0]);
        if (!ds->tokens) return prep_rfail(r, err, "cannot map %s: %s", t->obj, strerror(errno));
        /* windows are drawn at random: read-ahead would only fill the cache with pages no
         * step asks for */
        madvise(ds->map[0], ds->map_len[0], MADV_RANDOM);
        return 0;
    }
    slab_ctx *c = ed_calloc(1, sizeof *c);
    c->dset = t->id;
    snprintf(c->origin, sizeof c->origin, "%s", ds->origin);
    t->id = H5I_INVALID_HID; /* owned by the reader now */
    ds->reader = (ed_token_reader){.ctx = c, .read = slab_read, .close = slab_close};
    return 0;
}

/* The document index: mapped when plain, else read whole (8 bytes a document). */
static int attach_offsets(prep_reader *r, ed_dataset *ds, int fd, const split_dset *o, ed_error *err) {
    if (o->plain) {
        ds->doc_off = map_range(fd, o->at, o->bytes, &ds->map[1], &ds->map_len[1]);
        if (!ds->doc_off) return prep_rfail(r, err, "cannot map %s: %s", o->obj, strerror(errno));
        /* read at random too (a window's 64-document block): without the advice each
         * fault reads ahead up to the device's read_ahead_kb (docs/memory.md) */
        madvise(ds->map[1], ds->map_len[1], MADV_RANDOM);
        return 0;
    }
    ds->own_off = ed_malloc(o->n * sizeof *ds->own_off);
    ds->doc_off = ds->own_off;
    if (prep_read_slab(o->id, H5T_NATIVE_UINT64, ds->own_off, 0, o->n) < 0) {
        char reason[256];
        ed_h5_reason(reason, sizeof reason, "unknown HDF5 error");
        return prep_rfail(r, err, "%s cannot be read: %s", o->obj, reason);
    }
    return 0;
}

/* The window index: the stored one for opt's shape when the file has it, else computed
 * in one pass over doc_offsets (pread when mapped), with ds->note saying why. */
static int attach_index(prep_reader *r, ed_dataset *ds, const char *path, const char *split,
                        const ed_window_options *opt, int fd, uint64_t file_size, const split_dset *o, ed_error *err) {
    char why[200] = "";
    int stored = opt->pack ? 0 : map_stored_index(r, ds, split, opt, fd, file_size, o->plain, why, sizeof why, err);
    if (stored < 0) return -1;
    if (stored) return 0;
    pread_ctx pc = {fd, o->plain ? o->at : 0};
    char oname[sizeof ds->origin];
    snprintf(oname, sizeof oname, "%s", ds->origin);
    snprintf(ds->origin, sizeof ds->origin, "%s: %s", path, o->obj); /* index errors name the index */
    int irc = ed_dataset_index(ds, ds->n_docs, opt, o->plain ? pread_off : NULL, &pc, err);
    snprintf(ds->origin, sizeof ds->origin, "%s", oname);
    if (irc != 0) return -1;
    if (!opt->pack)
        snprintf(ds->note, sizeof ds->note,
                 "%s: the window index of /%s was computed in one pass over %zu documents because %s; "
                 "`expert-dist prepare ... --max-length %d --stride %d` stores it for these windows",
                 path, split, ds->n_docs, why, opt->max_length, opt->stride);
    return 0;
}

int ed_dataset_load_prepared(ed_dataset *ds, const char *path, const char *split, const ed_window_options *opt,
                             ed_error *err) {
    memset(ds, 0, sizeof *ds);
    if (opt->max_length < 2)
        return ed_fail(err, "max_length must be >= 2 (one input and one target), got %d", opt->max_length);
    if (opt->stride < 1) return ed_fail(err, "stride must be >= 1, got %d", opt->stride);
    if (strcmp(split, "train") != 0 && strcmp(split, "val") != 0)
        return ed_fail(err, "%s: unknown split \"%s\" (expected train or val)", path, split);
    prep_reader r;
    int64_t vocab;
    if (prep_open_reader(&r, path, &vocab, err) != 0) return -1;
    if (H5Lexists(r.file, split, H5P_DEFAULT) <= 0) {
        prep_rfail(&r, err, "no /%s split in this file%s", split,
              strcmp(split, "val") == 0 ? " (it was prepared without validation documents)" : "");
        prep_close_reader(&r);
        return -1;
    }
    split_dset t = {.id = H5I_INVALID_HID}, o = {.id = H5I_INVALID_HID};
    snprintf(t.obj, sizeof t.obj, "/%s/tokens", split);
    snprintf(o.obj, sizeof o.obj, "/%s/doc_offsets", split);
    int rc = -1, fd = -1;
    t.id = prep_open_1d(&r, t.obj, 't', &t.n, err);
    o.id = t.id < 0 ? -1 : prep_open_1d(&r, o.obj, 'o', &o.n, err);
    if (t.id < 0 || o.id < 0) goto out;
    if (o.n < 2) {
        prep_rfail(&r, err, "%s has %llu entries, expected n_docs + 1 >= 2", o.obj, (unsigned long long)o.n);
        goto out;
    }
    ds->vocab_size = vocab;
    ds->n_tokens = (size_t)t.n;
    hid_t tt = H5Dget_type(t.id);
    ds->token_bytes = (int)H5Tget_size(tt);
    H5Tclose(tt);
    snprintf(ds->origin, sizeof ds->origin, "%s: %s", path, t.obj);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        prep_rfail(&r, err, "cannot open: %s", strerror(errno));
        goto out;
    }
    /* A file cut short after prepare: the bytes the datasets claim must exist, or the
     * mapping would fault (SIGBUS) at first touch instead of failing here. */
    t.plain = plain_offset(t.id, &t.at), o.plain = plain_offset(o.id, &o.at);
    t.bytes = t.n * (uint64_t)ds->token_bytes, o.bytes = o.n * 8;
    uint64_t size = (uint64_t)st.st_size;
    int t_short = t.plain && t.at + t.bytes > size, o_short = o.plain && o.at + o.bytes > size;
    if (t_short || o_short) {
        prep_rfail(&r, err, "truncated: %s needs bytes up to offset %llu, the file ends at %llu",
                   t_short ? t.obj : o.obj, (unsigned long long)(t_short ? t.at + t.bytes : o.at + o.bytes),
                   (unsigned long long)size);
        goto out;
    }
    if (attach_tokens(&r, ds, fd, &t, err) != 0 || attach_offsets(&r, ds, fd, &o, err) != 0) goto out;
    ds->n_docs = (size_t)(o.n - 1);
    snprintf(ds->index_origin, sizeof ds->index_origin, "%s: /%s", path, split);
    if (attach_index(&r, ds, path, split, opt, fd, size, &o, err) != 0) goto out;
    rc = 0;
out:
    if (rc != 0) ed_dataset_free(ds);
    if (fd >= 0) close(fd);
    if (t.id >= 0) H5Dclose(t.id);
    if (o.id >= 0) H5Dclose(o.id);
    prep_close_reader(&r);
    return rc;
}
