/* h5util.c — the HDF5 helpers of include/expert/h5util.h. */
#include "expert/h5util.h"

#include <stdio.h>

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
