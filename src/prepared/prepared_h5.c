/* prepared_h5.c — the few HDF5 reads and slab writes the prepared file needs (attribute
 * writers, silencing and the failure reason are expert/h5util.h's), each returning -1 on
 * failure so callers can turn it into one line naming the file and object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prepared_internal.h"

int prep_attr_read_str(hid_t obj, const char *name, char *buf, size_t n) {
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    char *v = NULL;
    int rc = ed_h5_attr_read_str(a, &v);
    H5Aclose(a);
    if (rc == 0) snprintf(buf, n, "%s", v);
    free(v);
    return rc;
}

int prep_attr_read_i64(hid_t obj, const char *name, int64_t *value) {
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t ft = H5Aget_type(a);
    int rc = ft >= 0 && H5Tget_class(ft) == H5T_INTEGER && H5Aread(a, H5T_NATIVE_INT64, value) >= 0 ? 0 : -1;
    if (ft >= 0) H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

static int slab(hid_t dset, hid_t memtype, void *buf, uint64_t at, size_t n, int write) {
    if (n == 0) return 0;
    hsize_t start = at, count = n;
    hid_t fs = H5Dget_space(dset);
    if (fs < 0) return -1;
    hid_t ms = H5Screate_simple(1, &count, NULL);
    int rc = -1;
    if (ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL) >= 0)
        rc = (write ? H5Dwrite(dset, memtype, ms, fs, H5P_DEFAULT, buf) : H5Dread(dset, memtype, ms, fs, H5P_DEFAULT, buf)) >= 0
                 ? 0
                 : -1;
    if (ms >= 0) H5Sclose(ms);
    H5Sclose(fs);
    return rc;
}

int prep_write_slab(hid_t dset, hid_t memtype, const void *buf, uint64_t at, size_t n) {
    return slab(dset, memtype, (void *)buf, at, n, 1);
}

int prep_read_slab(hid_t dset, hid_t memtype, void *buf, uint64_t at, size_t n) {
    return slab(dset, memtype, buf, at, n, 0);
}
