/* gemm_cache.h — the measurement cache: what `--gemm auto` measured (the GFLOPS of each
 * backend at a step's shapes) and the MFU reference peak (`expert-dist calibrate`), kept
 * per machine so that later runs start without measuring.
 *
 * One text file, $XDG_CACHE_HOME/expert-dist/gemm.tsv (default ~/.cache/expert-dist/):
 *
 *   # expert-dist measurements v1 (docs/design.md, "GEMM backend"); delete to measure again
 *   gemm<TAB>MACHINE<TAB>WHAT<TAB>DATE<TAB>NAME=VALUE NAME=VALUE ...
 *   peak<TAB>MACHINE<TAB>WHAT<TAB>DATE<TAB>NAME=VALUE ...
 *
 * MACHINE names the CPU model and the libraries that multiply (ed_gemm_cache_machine_key:
 * OpenBLAS version and kernel core, oneDNN version and ISA), WHAT the measured setting
 * (precision, threads, shapes ...), DATE the UTC time of the measurement, the values are
 * decimal numbers. A record is found by (kind, MACHINE, WHAT) exactly: another CPU, a
 * library upgrade, another OpenBLAS core (OPENBLAS_CORETYPE) or other shapes miss it and
 * are measured anew, and a node of another CPU model in a multi-node job finds its own
 * records in a shared home directory.
 *
 * Damage never fails a run: a line that does not parse is skipped with ONE warning naming
 * file:line (the first such line), its record counts as missing, and the next
 * ed_gemm_cache_put rewrites the file without it. Writes are atomic (ed_write_file_atomic):
 * a reader sees the old file or the new one. Two processes writing at once (two jobs, or
 * two nodes sharing a home) may lose one of the two new records, which is then measured
 * again by a later run; no reader ever sees a mixture.
 *
 * Nothing here is collective and nothing prints: callers decide which rank reads, writes
 * and says what (the trainer: every rank reads, one rank per node writes, rank 0 warns). */
#ifndef EXPERT_GEMM_CACHE_H
#define EXPERT_GEMM_CACHE_H

#include <stddef.h>

#include "expert/common.h"
#include "expert/compute.h"

typedef struct {
    char kind[16];     /* "gemm" | "peak" */
    char machine[512];
    char what[256];
    char date[32];     /* "2026-12-07 06:40 UTC" */
    char values[256];  /* "openblas=412.5 onednn=655.2" */
    int line;          /* 1-based line of the file it came from (0 when not read from one) */
} ed_gemm_cache_rec;

/* The cache file's path into buf: $XDG_CACHE_HOME/expert-dist/gemm.tsv when XDG_CACHE_HOME
 * is set and absolute (the XDG rule), else $HOME/.cache/expert-dist/gemm.tsv. -1 (buf "")
 * when neither is usable or the path does not fit. */
int ed_gemm_cache_path(char *buf, size_t len);

/* MACHINE of this process: "CPU MODEL | ISA | OpenBLAS CONFIG | oneDNN VERSION ISA". */
void ed_gemm_cache_machine_key(const ed_machine *m, char *buf, size_t len);

/* Looks up (kind, machine, what) in path. 1 = found (*out filled), 0 = not found: no file,
 * no such record, or the record is damaged. When a line of the file is damaged, warn
 * (if non-NULL) receives one line "PATH:LINE: ...: ignored, measuring again" (else ""). */
int ed_gemm_cache_find(const char *path, const char *kind, const char *machine, const char *what,
                       ed_gemm_cache_rec *out, char *warn, size_t warn_len);

/* Stores (kind, machine, what) = values dated now, replacing that record if present and
 * dropping damaged lines; creates the directory. Atomic. -1 with err on failure (a
 * read-only home ...): callers warn and carry on. */
int ed_gemm_cache_put(const char *path, const char *kind, const char *machine, const char *what,
                      const char *values, ed_error *err);

/* WHAT of a `peak` record (the MFU reference of backend b at precision p, per thread):
 * written by `expert-dist calibrate` and by a run that found none, read by train. Its
 * values: gflops_per_thread, threads (how many were busy), calibrated (1 = by calibrate). */
void ed_gemm_cache_peak_what(ed_gemm_backend b, ed_precision p, char *buf, size_t len);

/* The value of `name` in r->values: 0 with *v set, -1 when absent. */
int ed_gemm_cache_value(const ed_gemm_cache_rec *r, const char *name, double *v);

#endif
