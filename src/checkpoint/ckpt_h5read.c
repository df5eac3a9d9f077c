/* ckpt_h5read.c — the validating reader: opening a checkpoint and reading typed
 * attributes and datasets, every failure turned into one line that names the file and
 * the object ("ckpt.h5: /model/wte.weight: shape [8, 4] does not match ...").
 *
 * A corrupted or foreign file must never crash us: our own files are checksummed before
 * HDF5 parses them (ckpt_seal.c); beyond that every HDF5 call is checked, sizes come
 * from the file only after they were compared with what we expect, and HDF5's own stack
 * printing is off while a reader is open (ed_h5_quiet). */
#include "ckpt_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int ckpt_fail(ckpt_reader *r, const char *what, const char *fmt, ...) {
    char msg[700], reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ed_h5_reason(reason, sizeof reason, "");
    H5Eclear2(H5E_DEFAULT);
    if (reason[0])
        return ed_fail(r->err, "%s: %s: %s (HDF5: %s)", r->path, what, msg, reason);
    return ed_fail(r->err, "%s: %s: %s", r->path, what, msg);
}

int ckpt_open(ckpt_reader *r, const char *path, ed_error *err) {
    r->path = path;
    r->err = err;
    r->file = H5I_INVALID_HID;
    r->format_version = 0;
    struct stat st;
    if (stat(path, &st) != 0) return ed_fail(err, "%s: cannot open checkpoint: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return ed_fail(err, "%s: is a directory, expected a checkpoint file", path);
    /* Before HDF5 sees a byte: it may crash on corrupted metadata instead of failing. */
    if (ckpt_verify(path, err) < 0) return -1;
    ed_h5_quiet_begin(&r->quiet);
    if (H5Fis_hdf5(path) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        ed_h5_quiet_end(&r->quiet);
        return ed_fail(err, "%s: not an HDF5 file (expected an expert-dist checkpoint)", path);
    }
    r->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (r->file < 0) {
        ckpt_fail(r, "/", "cannot open as HDF5 (truncated or corrupted file?)");
        ed_h5_quiet_end(&r->quiet);
        return -1;
    }
    char *format = NULL;
    int64_t version = 0;
    if (!ckpt_has_attr(r, "/", "format")) {
        ckpt_fail(r, "/", "no 'format' attribute: not an expert-dist checkpoint");
        goto fail;
    }
    if (ckpt_get_str(r, "/", "format", &format) < 0) goto fail;
    if (strcmp(format, ED_CKPT_FORMAT) != 0) {
        ckpt_fail(r, "/", "format is '%.100s', expected '%s'", format, ED_CKPT_FORMAT);
        goto fail;
    }
    if (ckpt_get_i64(r, "/", "format_version", &version) < 0) goto fail;
    if (version > ED_CKPT_FORMAT_VERSION) {
        ckpt_fail(r, "/", "format_version %lld is newer than this expert-dist supports (%d); "
                  "upgrade expert-dist to read it", (long long)version, ED_CKPT_FORMAT_VERSION);
        goto fail;
    }
    if (version < 1) {
        ckpt_fail(r, "/", "invalid format_version %lld", (long long)version);
        goto fail;
    }
    free(format);
    r->format_version = (int)version;
    return 0;
fail:
    free(format);
    ckpt_close(r);
    return -1;
}

void ckpt_close(ckpt_reader *r) {
    if (r->file >= 0) {
        H5Fclose(r->file);
        r->file = H5I_INVALID_HID;
        H5Eclear2(H5E_DEFAULT);
        ed_h5_quiet_end(&r->quiet);
    }
}

int ckpt_exists(ckpt_reader *r, const char *obj) {
    if (strcmp(obj, "/") == 0) return 1;
    /* H5Lexists needs every intermediate group to exist: check each prefix in turn. */
    char buf[512];
    size_t n = strlen(obj);
    if (n >= sizeof buf) return 0;
    memcpy(buf, obj, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        htri_t e = H5Lexists(r->file, buf, H5P_DEFAULT);
        buf[i] = c;
        if (e <= 0) {
            H5Eclear2(H5E_DEFAULT);
            return 0;
        }
    }
    return 1;
}

int ckpt_has_attr(ckpt_reader *r, const char *obj, const char *name) {
    if (!ckpt_exists(r, obj)) return 0;
    htri_t e = H5Aexists_by_name(r->file, obj, name, H5P_DEFAULT);
    if (e < 0) H5Eclear2(H5E_DEFAULT);
    return e > 0;
}

/* Opens attribute obj@name and checks its class and that it holds one element. */
static hid_t attr_open(ckpt_reader *r, const char *obj, const char *name, H5T_class_t want,
                       const char *want_name) {
    char what[600];
    snprintf(what, sizeof what, "%s attribute '%s'", obj, name);
    if (!ckpt_has_attr(r, obj, name)) {
        ckpt_fail(r, what, "missing");
        return H5I_INVALID_HID;
    }
    hid_t a = H5Aopen_by_name(r->file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) {
        ckpt_fail(r, what, "cannot open");
        return H5I_INVALID_HID;
    }
    hid_t t = H5Aget_type(a), s = H5Aget_space(a);
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    hssize_t npoints = s >= 0 ? H5Sget_simple_extent_npoints(s) : -1;
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    if (cls != want) {
        H5Aclose(a);
        ckpt_fail(r, what, "expected %s type", want_name);
        return H5I_INVALID_HID;
    }
    if (npoints != 1) {
        H5Aclose(a);
        ckpt_fail(r, what, "expected a single value, found %lld", (long long)npoints);
        return H5I_INVALID_HID;
    }
    return a;
}

static int attr_read(ckpt_reader *r, const char *obj, const char *name, H5T_class_t cls,
                     const char *cls_name, hid_t mtype, void *v) {
    hid_t a = attr_open(r, obj, name, cls, cls_name);
    if (a < 0) return -1;
    herr_t rc = H5Aread(a, mtype, v);
    H5Aclose(a);
    if (rc < 0) {
        char what[600];
        snprintf(what, sizeof what, "%s attribute '%s'", obj, name);
        return ckpt_fail(r, what, "cannot read (value out of range?)");
    }
    return 0;
}

int ckpt_get_i64(ckpt_reader *r, const char *obj, const char *name, int64_t *v) {
    return attr_read(r, obj, name, H5T_INTEGER, "an integer", H5T_NATIVE_INT64, v);
}

int ckpt_get_u64(ckpt_reader *r, const char *obj, const char *name, uint64_t *v) {
    return attr_read(r, obj, name, H5T_INTEGER, "an integer", H5T_NATIVE_UINT64, v);
}

int ckpt_get_f64(ckpt_reader *r, const char *obj, const char *name, double *v) {
    return attr_read(r, obj, name, H5T_FLOAT, "a floating-point", H5T_NATIVE_DOUBLE, v);
}

int ckpt_get_str(ckpt_reader *r, const char *obj, const char *name, char **v) {
    *v = NULL;
    hid_t a = attr_open(r, obj, name, H5T_STRING, "a string");
    if (a < 0) return -1;
    char what[600];
    snprintf(what, sizeof what, "%s attribute '%s'", obj, name);
    int rc = ed_h5_attr_read_str(a, v);
    H5Aclose(a);
    if (rc < 0) return ckpt_fail(r, what, "cannot read string");
    return 0;
}

/* Opens dataset dpath, checks it exists, has type class cls, and returns its dims. */
static hid_t dset_open(ckpt_reader *r, const char *dpath, H5T_class_t cls, const char *cls_name,
                       int *ndim, hsize_t dims[H5S_MAX_RANK]) {
    if (!ckpt_exists(r, dpath)) {
        ckpt_fail(r, dpath, "missing dataset");
        return H5I_INVALID_HID;
    }
    H5O_info_t info;
    if (H5Oget_info_by_name(r->file, dpath, &info, H5P_DEFAULT) < 0 || info.type != H5O_TYPE_DATASET) {
        ckpt_fail(r, dpath, "not a dataset");
        return H5I_INVALID_HID;
    }
    hid_t d = H5Dopen2(r->file, dpath, H5P_DEFAULT);
    if (d < 0) {
        ckpt_fail(r, dpath, "cannot open dataset");
        return H5I_INVALID_HID;
    }
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    H5T_class_t c = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    int nd = s >= 0 ? H5Sget_simple_extent_ndims(s) : -1;
    if (nd >= 0) H5Sget_simple_extent_dims(s, dims, NULL);
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    if (c != cls) {
        H5Dclose(d);
        ckpt_fail(r, dpath, "expected %s dataset", cls_name);
        return H5I_INVALID_HID;
    }
    if (nd < 0) {
        H5Dclose(d);
        ckpt_fail(r, dpath, "cannot read the dataset's shape");
        return H5I_INVALID_HID;
    }
    *ndim = nd;
    return d;
}

static void format_shape(char *buf, size_t len, int ndim, const hsize_t *dims) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int i = 0; i < ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%llu", i ? ", " : "", (unsigned long long)dims[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

/* Reads dataset dpath of type class cls, whose shape must be exactly want[0..ndim), into
 * out as mtype. `expected` says where the expected shape comes from, for the message. */
static int read_shaped(ckpt_reader *r, const char *dpath, H5T_class_t cls, const char *cls_name, hid_t mtype,
                       void *out, int ndim, const hsize_t *want, const char *expected) {
    int nd;
    hsize_t dims[H5S_MAX_RANK];
    hid_t d = dset_open(r, dpath, cls, cls_name, &nd, dims);
    if (d < 0) return -1;
    int same = nd == ndim;
    for (int i = 0; same && i < ndim; i++) same = dims[i] == want[i];
    if (!same) {
        char got[128], exp[128];
        format_shape(got, sizeof got, nd, dims);
        format_shape(exp, sizeof exp, ndim, want);
        H5Dclose(d);
        return ckpt_fail(r, dpath, "shape %s does not match %s %s", got, expected, exp);
    }
    herr_t rc = H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
    H5Dclose(d);
    if (rc < 0) return ckpt_fail(r, dpath, "read failed (corrupted file?)");
    return 0;
}

int ckpt_read_f32(ckpt_reader *r, const char *dpath, float *out, int ndim, const hsize_t *want) {
    return read_shaped(r, dpath, H5T_FLOAT, "a float", H5T_NATIVE_FLOAT, out, ndim, want, "the model config");
}

int ckpt_read_f64_vec(ckpt_reader *r, const char *dpath, double **out, size_t *n) {
    *out = NULL;
    *n = 0;
    int nd;
    hsize_t dims[H5S_MAX_RANK];
    hid_t d = dset_open(r, dpath, H5T_FLOAT, "a float", &nd, dims);
    if (d < 0) return -1;
    if (nd != 1) {
        H5Dclose(d);
        return ckpt_fail(r, dpath, "expected a 1-D dataset, found rank %d", nd);
    }
    size_t len = (size_t)dims[0];
    double *v = ed_malloc((len ? len : 1) * sizeof *v);
    if (len > 0 && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
        free(v);
        H5Dclose(d);
        return ckpt_fail(r, dpath, "read failed (corrupted file?)");
    }
    H5Dclose(d);
    *out = v;
    *n = len;
    return 0;
}

int ckpt_read_bytes(ckpt_reader *r, const char *dpath, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    int nd;
    hsize_t dims[H5S_MAX_RANK];
    hid_t d = dset_open(r, dpath, H5T_STRING, "a string", &nd, dims);
    if (d < 0) return -1;
    hid_t ft = H5Dget_type(d);
    htri_t vlen = ft >= 0 ? H5Tis_variable_str(ft) : -1;
    size_t size = ft >= 0 ? H5Tget_size(ft) : 0;
    hid_t mt = ed_h5_string_mem_type(ft);
    if (ft >= 0) H5Tclose(ft);
    if (nd != 0) {
        H5Dclose(d);
        H5Tclose(mt);
        return ckpt_fail(r, dpath, "expected a scalar string dataset");
    }
    int rc = -1;
    if (vlen > 0) { /* written by another tool (h5py str): accept it */
        char *s = NULL;
        if (H5Tset_size(mt, H5T_VARIABLE) >= 0 && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) >= 0) {
            *len = s ? strlen(s) : 0;
            *out = ed_malloc(*len + 1);
            memcpy(*out, s ? s : "", *len + 1);
            H5free_memory(s);
            rc = 0;
        }
    } else if (vlen == 0 && size > 0) {
        char *s = ed_malloc(size + 1);
        if (H5Tset_size(mt, size) >= 0 && H5Tset_strpad(mt, H5T_STR_NULLPAD) >= 0 &&
            H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) >= 0) {
            s[size] = '\0';
            *out = s;
            *len = size;
            rc = 0;
        } else {
            free(s);
        }
    }
    H5Tclose(mt);
    H5Dclose(d);
    if (rc < 0) return ckpt_fail(r, dpath, "cannot read string (corrupted file?)");
    return 0;
}

static int group_open_check(ckpt_reader *r, const char *gpath, hid_t *g) {
    if (!ckpt_exists(r, gpath)) return ckpt_fail(r, gpath, "missing group");
    *g = H5Gopen2(r->file, gpath, H5P_DEFAULT);
    if (*g < 0) return ckpt_fail(r, gpath, "not a group");
    return 0;
}

int ckpt_group_count(ckpt_reader *r, const char *gpath, size_t *n) {
    hid_t g = H5I_INVALID_HID;
    if (group_open_check(r, gpath, &g) < 0) return -1;
    H5G_info_t info;
    herr_t rc = H5Gget_info(g, &info);
    H5Gclose(g);
    if (rc < 0) return ckpt_fail(r, gpath, "cannot list group");
    *n = (size_t)info.nlinks;
    return 0;
}

int ckpt_group_name(ckpt_reader *r, const char *gpath, size_t i, char **name) {
    *name = NULL;
    ssize_t len = H5Lget_name_by_idx(r->file, gpath, H5_INDEX_NAME, H5_ITER_INC, i, NULL, 0, H5P_DEFAULT);
    if (len < 0) return ckpt_fail(r, gpath, "cannot list group");
    *name = ed_malloc((size_t)len + 1);
    if (H5Lget_name_by_idx(r->file, gpath, H5_INDEX_NAME, H5_ITER_INC, i, *name, (size_t)len + 1,
                           H5P_DEFAULT) < 0) {
        free(*name);
        *name = NULL;
        return ckpt_fail(r, gpath, "cannot list group");
    }
    return 0;
}

/* The public handle is the reader plus its own copy of the path (the reader borrows it). */
struct ed_ckpt {
    ckpt_reader r;
    char *path;
};

ed_ckpt *ed_ckpt_open(const char *path, ed_error *err) {
    ed_ckpt *c = ed_calloc(1, sizeof *c);
    c->path = ed_strdup(path);
    if (ckpt_open(&c->r, c->path, err) < 0) {
        free(c->path);
        free(c);
        return NULL;
    }
    return c;
}

void ed_ckpt_close(ed_ckpt *c) {
    if (!c) return;
    ckpt_close(&c->r);
    free(c->path);
    free(c);
}

const char *ed_ckpt_path(const ed_ckpt *c) { return c->path; }

ckpt_reader *ckpt_use(ed_ckpt *c, ed_error *err) {
    c->r.err = err;
    return &c->r;
}
