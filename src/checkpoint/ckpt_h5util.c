/* ckpt_h5util.c — typed HDF5 dataset and group writes of checkpoints (attributes and the
 * error-stack helpers are the shared ones of expert/h5util.h). File types are fixed little-endian IEEE/two's complement so a checkpoint
 * reads the same on any machine; memory types are native. */
#include "ckpt_internal.h"

#include <string.h>

hid_t ckpt_group_create(hid_t loc, const char *name) {
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (gcpl < 0) return H5I_INVALID_HID;
    H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    return g;
}

/* Chunks of about 1 MiB, whole rows for matrices, so a reader of one row block touches
 * few chunks and deflate still sees long runs of similar exponents. */
static hid_t chunked_dcpl(int ndim, const hsize_t *dims, int level) {
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl < 0) return H5I_INVALID_HID;
    const hsize_t target = 262144; /* floats per chunk */
    hsize_t chunk[2];
    if (ndim == 1) {
        chunk[0] = dims[0] < target ? dims[0] : target;
    } else {
        hsize_t rows = target / (dims[1] ? dims[1] : 1);
        if (rows < 1) rows = 1;
        chunk[0] = dims[0] < rows ? dims[0] : rows;
        chunk[1] = dims[1];
    }
    if (H5Pset_chunk(dcpl, ndim, chunk) < 0 || H5Pset_shuffle(dcpl) < 0 ||
        H5Pset_deflate(dcpl, (unsigned)level) < 0) {
        H5Pclose(dcpl);
        return H5I_INVALID_HID;
    }
    return dcpl;
}

static int dset_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *data,
                      int ndim, const hsize_t *dims, int compress) {
    hid_t space = H5Screate_simple(ndim, dims, NULL);
    if (space < 0) return -1;
    hsize_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= dims[i];
    hid_t dcpl = H5P_DEFAULT;
    /* A zero-sized dataset cannot be chunked; it has nothing to compress anyway. */
    if (compress > 0 && numel > 0) {
        dcpl = chunked_dcpl(ndim, dims, compress);
        if (dcpl < 0) {
            H5Sclose(space);
            return -1;
        }
    }
    hid_t d = H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int rc = d < 0 ? -1 : 0;
    if (rc == 0 && numel > 0 && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) rc = -1;
    if (d >= 0) H5Dclose(d);
    if (dcpl != H5P_DEFAULT) H5Pclose(dcpl);
    H5Sclose(space);
    return rc;
}

int ckpt_write_f32(hid_t loc, const char *name, const float *data, int ndim, const hsize_t *dims,
                   int compress) {
    return dset_write(loc, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, data, ndim, dims, compress);
}

int ckpt_write_f64(hid_t loc, const char *name, const double *data, hsize_t n) {
    return dset_write(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, data, 1, &n, 0);
}

int ckpt_write_bytes(hid_t loc, const char *name, const char *data, size_t len) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return -1;
    int rc = -1;
    /* NULLPAD (not NULLTERM) keeps every byte: the stored size is exactly len. */
    if (H5Tset_size(t, len ? len : 1) >= 0 && H5Tset_strpad(t, H5T_STR_NULLPAD) >= 0 &&
        H5Tset_cset(t, H5T_CSET_UTF8) >= 0) {
        hid_t space = H5Screate(H5S_SCALAR);
        if (space >= 0) {
            hid_t d = H5Dcreate2(loc, name, t, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            char zero = '\0';
            if (d >= 0 && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, len ? data : &zero) >= 0) rc = 0;
            if (d >= 0) H5Dclose(d);
            H5Sclose(space);
        }
    }
    H5Tclose(t);
    return rc;
}

int ckpt_tensor_dims(const ed_tensor *t, hsize_t dims[2]) {
    if (t->ndim == 1) {
        dims[0] = t->numel;
        return 1;
    }
    dims[0] = (hsize_t)t->shape[0];
    dims[1] = (hsize_t)t->shape[1];
    return 2;
}
