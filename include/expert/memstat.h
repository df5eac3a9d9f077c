/* memstat.h — a process's resident memory by kind, for the end-of-run memory report.
 *
 * The resident set (RSS) of a rank that maps a token file mixes two things: the memory
 * the rank owns (heap, stacks, anonymous mappings: RssAnon — what `--dry-run` predicts)
 * and page-cache pages of mapped files (RssFile: the token file, the libraries' code;
 * RssShmem: shared memory, e.g. Open MPI's shared-memory transport). Mapped file pages are
 * shared with other processes and dropped by the kernel under pressure, so they are
 * reported apart (docs/memory.md, "Private memory and mapped file pages").
 *
 * The kernel keeps a high-water mark only for the whole RSS (VmHWM), so the peaks by kind
 * are the largest values seen by ed_mem_sample, which the caller calls where the memory
 * it cares about is at its largest (the trainer: at every step boundary and while a
 * checkpoint image exists). One sample reads /proc/self/status (40-55 us measured).
 * Linux only: elsewhere, or without /proc, only the whole peak is known (getrusage) and
 * the kinds read as negative ("unknown"). No state outside the caller's struct. */
#ifndef EXPERT_MEMSTAT_H
#define EXPERT_MEMSTAT_H

#include <stdio.h>

/* In MB as the rest of the output prints memory (kB / 1024); negative: unknown. */
typedef struct {
    double hwm;   /* VmHWM: the peak of the whole resident set (the kernel's own) */
    double anon;  /* RssAnon: private memory */
    double file;  /* RssFile: mapped file pages */
    double shmem; /* RssShmem: shared memory pages */
} ed_mem_usage;

#define ED_MEM_FIELDS 4 /* doubles in an ed_mem_usage (gathered as an array) */

/* An ed_mem_usage with nothing seen yet: the start value of a peak. */
ed_mem_usage ed_mem_none(void);

/* This process's memory now (hwm: the peak so far). Returns 0, or -1 when
 * /proc/self/status cannot be read (then hwm comes from getrusage, the kinds are -1). */
int ed_mem_read(ed_mem_usage *now);

/* Reads the memory now and raises each field of *peak to it. */
void ed_mem_sample(ed_mem_usage *peak);

/* Raises each field of *peak to the one of *seen (a peak recorded elsewhere). */
void ed_mem_fold(ed_mem_usage *peak, const ed_mem_usage *seen);

/* The report, every rank's peaks (all[0..world), rank 0 first), in MB, as `train` and
 * `prepare` end:
 *   peak memory by rank (MB): 484.8
 *   peak private memory (RssAnon) by rank (MB): 58.1
 *   peak mapped file pages (RssFile) by rank (MB): 426.7
 * and a "peak shared memory (RssShmem)" line when any rank has some. The kinds peak at
 * different moments: they need not add up to the first line. An unknown figure prints
 * as "?". */
void ed_mem_print(FILE *f, const ed_mem_usage *all, int world);

#endif
