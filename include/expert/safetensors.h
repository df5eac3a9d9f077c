/* safetensors.h — the safetensors file format (Hugging Face), read and written.
 *
 * Layout: 8 bytes little-endian unsigned N, then N bytes of JSON header, then the data
 * buffer. The header is an object: "__metadata__" (optional, string -> string) and one
 * entry per tensor, {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]},
 * offsets relative to the data buffer; data is raw little-endian, row-major.
 *
 * Reading trusts nothing: the header length must fit the file, the JSON must parse
 * (jansson) and be an object, every entry must have exactly those three fields with the
 * right types, a known dtype, non-negative dimensions, numel x dtype size == end - begin
 * without overflow, offsets inside the buffer, no two tensors overlapping and no bytes of
 * the buffer left unclaimed (the format forbids holes). Any violation is one line naming
 * the file and the tensor or byte offset; nothing is read out of bounds (tests/fuzz). */
#ifndef EXPERT_SAFETENSORS_H
#define EXPERT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "expert/common.h"

#define ED_ST_MAX_DIMS 8
/* Header sizes above this are refused (the format's reference reader uses 100 MB). */
#define ED_ST_MAX_HEADER (100u << 20)

typedef enum { ED_ST_F32, ED_ST_F16, ED_ST_BF16, ED_ST_F64, ED_ST_I64, ED_ST_I32, ED_ST_I16, ED_ST_I8,
               ED_ST_U8, ED_ST_BOOL } ed_st_dtype;

typedef struct {
    char *name;
    ed_st_dtype dtype;
    int ndim;
    int64_t shape[ED_ST_MAX_DIMS];
    size_t numel;
    size_t begin, end; /* byte range inside the data buffer */
} ed_st_tensor;

typedef struct {
    ed_st_tensor *t; /* in header order */
    int n;
    const unsigned char *data; /* the data buffer (points into bytes) */
    size_t data_len;
    unsigned char *owned;      /* the file's bytes when read by ed_st_load */
} ed_safetensors;

/* Parses bytes[0..len) (not copied: must outlive st). origin names the source in errors. */
int ed_st_parse(ed_safetensors *st, const unsigned char *bytes, size_t len, const char *origin, ed_error *err);
/* Reads and parses a file. */
int ed_st_load(ed_safetensors *st, const char *path, ed_error *err);
void ed_st_free(ed_safetensors *st);
const char *ed_st_dtype_name(ed_st_dtype d);
/* NULL when absent. */
const ed_st_tensor *ed_st_find(const ed_safetensors *st, const char *name);
/* Copies a floating-point tensor (F32, F16, BF16, F64) into out[numel] as float32;
 * -1 for other dtypes or a non-finite value (naming the tensor and element). */
int ed_st_read_f32(const ed_safetensors *st, const ed_st_tensor *t, float *out, const char *origin, ed_error *err);

/* One tensor to write: float32 data, row-major. */
typedef struct {
    const char *name;
    int ndim;
    int64_t shape[ED_ST_MAX_DIMS];
    const float *data;
} ed_st_out;

/* Writes F32 tensors in the given order (offsets ascending, no gaps), the header padded
 * with spaces to a multiple of 8 bytes, "__metadata__": {"format": "pt"}. Atomic: a temp
 * file, fsync, rename, fsync of the directory. */
int ed_st_write(const char *path, const ed_st_out *t, int n, ed_error *err);

#endif
