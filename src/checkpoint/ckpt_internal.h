/* ckpt_internal.h — what the checkpoint files share: typed HDF5 datasets (attributes and
 * error-stack silencing are expert/h5util.h's), the reader context that turns every
 * HDF5 failure into one line naming the file and the object,
 * and the field tables of /trainer and /history.
 *
 * Every helper here returns 0 / -1 (or a valid hid_t / H5I_INVALID_HID); readers fill
 * the ed_error, writers leave the message to ckpt_write.c which knows what it was doing. */
#ifndef EXPERT_CKPT_INTERNAL_H
#define EXPERT_CKPT_INTERNAL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "expert/checkpoint.h"
#include "expert/h5util.h"

/* ---- writing --------------------------------------------------------------------- */

/* A group whose links remember creation order, so /model lists in state_dict order. */
hid_t ckpt_group_create(hid_t loc, const char *name);

/* float32 dataset of rank ndim (1 or 2); compress 1..9 = chunked + shuffle + deflate. */
int ckpt_write_f32(hid_t loc, const char *name, const float *data, int ndim, const hsize_t *dims,
                   int compress);
int ckpt_write_f64(hid_t loc, const char *name, const double *data, hsize_t n);
/* Scalar fixed-length string dataset holding exactly len bytes (NUL bytes allowed). */
int ckpt_write_bytes(hid_t loc, const char *name, const char *data, size_t len);

/* ---- reading --------------------------------------------------------------------- */

typedef struct {
    const char *path;
    hid_t file;
    ed_error *err;
    int format_version;
    ed_h5_quiet quiet;
} ckpt_reader;

/* Opens path read-only and validates the root: an HDF5 file, format ==
 * ED_CKPT_FORMAT, 1 <= format_version <= ED_CKPT_FORMAT_VERSION. On failure the error
 * names the file; nothing is left open. */
int ckpt_open(ckpt_reader *r, const char *path, ed_error *err);
void ckpt_close(ckpt_reader *r);
/* The open reader of a public handle (checkpoint.h), reporting into err from now on. */
ckpt_reader *ckpt_use(ed_ckpt *c, ed_error *err);

/* 1 if the object (group or dataset, absolute path like "/optimizer/m") exists. */
int ckpt_exists(ckpt_reader *r, const char *obj);
/* Fails with "<file>: <what>: <msg> [(HDF5: reason)]"; always returns -1. */
int ckpt_fail(ckpt_reader *r, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Attributes of object obj (absolute path). Integer attributes must have an integer
 * type, float ones a float type; a missing attribute is an error naming both. */
int ckpt_get_i64(ckpt_reader *r, const char *obj, const char *name, int64_t *v);
int ckpt_get_u64(ckpt_reader *r, const char *obj, const char *name, uint64_t *v);
int ckpt_get_f64(ckpt_reader *r, const char *obj, const char *name, double *v);
/* malloc'd NUL-terminated copy of a string attribute (fixed or variable length). */
int ckpt_get_str(ckpt_reader *r, const char *obj, const char *name, char **v);
int ckpt_has_attr(ckpt_reader *r, const char *obj, const char *name);

/* Reads dataset dpath (float class, shape exactly dims[0..ndim)) into out. */
int ckpt_read_f32(ckpt_reader *r, const char *dpath, float *out, int ndim, const hsize_t *dims);
/* Reads a 1-D dataset of any length (0 allowed) as doubles; *out malloc'd. */
int ckpt_read_f64_vec(ckpt_reader *r, const char *dpath, double **out, size_t *n);
/* A scalar string dataset's bytes; *out malloc'd and NUL-terminated, *len excludes it. */
int ckpt_read_bytes(ckpt_reader *r, const char *dpath, char **out, size_t *len);
/* Number of links in group gpath, and the name of link i (by name order, malloc'd). */
int ckpt_group_count(ckpt_reader *r, const char *gpath, size_t *n);
int ckpt_group_name(ckpt_reader *r, const char *gpath, size_t i, char **name);

/* ---- whole-file checksum (ckpt_seal.c) ------------------------------------------- */

/* Bytes reserved at the start of every checkpoint (an HDF5 user block) for the header. */
#define CKPT_USERBLOCK 512
/* Fills image[0..CKPT_USERBLOCK) with the header for image[0..size). */
void ckpt_seal_image(char *image, size_t size);
/* 0 if path has a valid header and checksum, or no header at all (another tool wrote
 * it), or ED_CKPT_NO_VERIFY=1; else -1 naming the file. */
int ckpt_verify(const char *path, ed_error *err);
/* Recomputes the header of an existing checkpoint in place (tests edit files with HDF5). */
int ckpt_reseal(const char *path, ed_error *err);

/* ---- field tables ---------------------------------------------------------------- */

typedef enum { CKPT_F_INT, CKPT_F_LONG, CKPT_F_U64, CKPT_F_DOUBLE } ckpt_ftype;
typedef struct {
    const char *name;
    ckpt_ftype type;
    size_t offset;
    int since; /* format version that added the field; older files do not have it.
                * ED_SINCE_ANY (history.h): added without a version, any file may lack it:
                * then the caller's value stays */
} ckpt_field;

/* Integer fields of ed_model_config stored as attributes of /model (NULL-terminated). */
extern const ckpt_field ckpt_model_fields[];
/* Scalar fields of ed_train_state stored as attributes of /trainer (NULL-terminated). */
extern const ckpt_field ckpt_state_fields[];
/* /history holds one 1-D float64 dataset per kept column of ed_columns (history.h),
 * named by its `kept` field; `since` is the format version that added it. */

/* The model shape from the /model attributes, range-checked and validated with
 * ed_model_config_check (ckpt_read.c). */
int ckpt_read_model_config(ckpt_reader *r, ed_model_config *c);

/* Shape of a model tensor as HDF5 dims (PyTorch shape); returns ndim. */
int ckpt_tensor_dims(const ed_tensor *t, hsize_t dims[2]);

#endif
