/* hf_internal.h — helpers shared by the Hugging Face import/export files (src/hf/). */
#ifndef ED_HF_INTERNAL_H
#define ED_HF_INTERNAL_H

#include <stddef.h>

#include "expert/common.h"

/* Writes data to path atomically: <path>.tmp, fsync, rename, fsync of the directory.
 * On failure path is untouched and the .tmp removed. */
int hf_write_atomic(const char *path, const void *data, size_t len, ed_error *err);

#endif
