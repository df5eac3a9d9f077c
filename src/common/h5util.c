/* h5util.c — the HDF5 helpers of include/expert/h5util.h. */
#include "expert/h5util.h"

#include <stdio.h>
#include <stdlib.h>

#include "expert/common.h"

void ed_h5_quiet_begin(ed_h5_quiet *q) {
    if (H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data) < 0) {
        q->func = NULL;
        q->data = NULL;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void ed_h5_quiet_end(const ed_h5_quiet *q) {
    H5Eclear2(H5E_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

typedef struct {
    char *buf;
    size_t len;
    int found;
} reason_ctx;

static herr_t reason_walk(unsigned n, const H5E_error2_t *e, void *ctx) {
    (void)n;
    reason_ctx *r = ctx;
    if (!r->found && e->desc && e->desc[0]) {
        snprintf(r->buf, r->len, "%s", e->desc);
        r->found = 1;
    }
    return 0;
}

void ed_h5_reason(char *buf, size_t len, const char *none) {
    if (len == 0) return;
    reason_ctx r = {buf, len, 0};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, reason_walk, &r);
    if (!r.found) snprintf(buf, len, "%s", none);
}

hid_t ed_h5_string_mem_type(hid_t ft) {
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5T_cset_t cset = ft >= 0 ? H5Tget_cset(ft) : H5T_CSET_ASCII;
    if (mt >= 0 && cset != H5T_CSET_ERROR) H5Tset_cset(mt, cset);
    return mt;
}

int ed_h5_attr_read_str(hid_t a, char **v) {
    *v = NULL;
    hid_t ft = H5Aget_type(a);
    if (ft < 0) return -1;
    int is_str = H5Tget_class(ft) == H5T_STRING;
    htri_t vlen = H5Tis_variable_str(ft);
    size_t size = H5Tget_size(ft);
    hid_t mt = ed_h5_string_mem_type(ft);
    H5Tclose(ft);
    int rc = -1;
    if (!is_str || mt < 0) {
        /* not a string */
    } else if (vlen > 0) {
        char *s = NULL;
        if (H5Tset_size(mt, H5T_VARIABLE) >= 0 && H5Aread(a, mt, &s) >= 0) {
            *v = ed_strdup(s ? s : "");
            H5free_memory(s);
            rc = 0;
        }
    } else if (vlen == 0 && size > 0 && size < (1u << 24)) {
        char *s = ed_calloc(size + 1, 1);
        if (H5Tset_size(mt, size + 1) >= 0 && H5Tset_strpad(mt, H5T_STR_NULLTERM) >= 0 && H5Aread(a, mt, s) >= 0) {
            *v = s;
            rc = 0;
        } else {
            free(s);
        }
    }
    if (mt >= 0) H5Tclose(mt);
    return rc;
}

static int attr_write(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *v) {
    hid_t space = H5Screate(H5S_SCALAR);
    if (space < 0) return -1;
    hid_t a = H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || H5Awrite(a, mtype, v) < 0 ? -1 : 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    return rc;
}

int ed_h5_attr_i64(hid_t obj, const char *name, int64_t v) {
    return attr_write(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

int ed_h5_attr_u64(hid_t obj, const char *name, uint64_t v) {
    return attr_write(obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
}

int ed_h5_attr_f64(hid_t obj, const char *name, double v) {
    return attr_write(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

int ed_h5_attr_str(hid_t obj, const char *name, const char *value) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return -1;
    int rc = -1;
    if (H5Tset_size(t, H5T_VARIABLE) >= 0 && H5Tset_cset(t, H5T_CSET_UTF8) >= 0)
        rc = attr_write(obj, name, t, t, &value);
    H5Tclose(t);
    return rc;
}
