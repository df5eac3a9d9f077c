/* h5util.h — the HDF5 helpers checkpoints and prepared token files share
 * (src/common/h5util.c): silencing HDF5's own error printing, the one-line reason of a
 * failure, and typed scalar attributes.
 *
 * File types are fixed little-endian (IEEE, two's complement) so a file reads the same on
 * any machine; memory types are native. Strings are variable-length UTF-8 (h5py reads
 * them as str, h5dump prints them quoted). Every helper returns 0 / -1; the caller names
 * the file and object and adds ed_h5_reason(). */
#ifndef EXPERT_H5UTIL_H
#define EXPERT_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/* HDF5 prints its whole error stack to stderr by default; a user with a bad file should
 * see our one line instead. begin saves the caller's handler and switches printing off;
 * end clears the stack and restores the handler, so no process-wide change is left. */
typedef struct {
    H5E_auto2_t func;
    void *data;
} ed_h5_quiet;
void ed_h5_quiet_begin(ed_h5_quiet *q);
void ed_h5_quiet_end(const ed_h5_quiet *q);

/* What actually went wrong, e.g. "truncated file: eof = ...": the description of the
 * innermost entry of the current error stack that has one. The stack is walked in ONE
 * direction, H5E_WALK_UPWARD, which starts at the innermost frame (where the error was
 * detected) and ends at the API call; the first description found wins. `none` when the
 * stack holds no description. */
void ed_h5_reason(char *buf, size_t len, const char *none);

/* A C-string memory type in file type ft's character set (HDF5 will not convert between
 * ASCII and UTF-8, so the memory side must match; h5py writes either); the caller closes it. */
hid_t ed_h5_string_mem_type(hid_t ft);
/* The value of an open string attribute, fixed or variable length, ASCII or UTF-8 (what
 * h5py and h5dump-edited files hold), as a malloc'd NUL-terminated copy; -1 when it is
 * not a string or cannot be read. */
int ed_h5_attr_read_str(hid_t attr, char **value);

int ed_h5_attr_str(hid_t obj, const char *name, const char *value);
int ed_h5_attr_i64(hid_t obj, const char *name, int64_t v);
int ed_h5_attr_u64(hid_t obj, const char *name, uint64_t v);
int ed_h5_attr_f64(hid_t obj, const char *name, double v);

#endif
