/* progress.h — what rank 0 prints while training: the progress line, throughput and the
 * MFU-style fraction of a reference sgemm speed.
 *
 * MFU here = achieved model FLOP/s / reference FLOP/s, where
 *   achieved  = tokens/s x (6 x params + 12 x L x T x D)   (forward + backward)
 *   reference = world x ref_gflops, ref_gflops per rank = --ref-gflops, else
 *               $ED_REF_GFLOPS, else threads x the per-core peak of a 512^3 GEMM on the
 *               run's backend and precision with every core busy (src/gemm/gemm_peak.c),
 *               cached per CPU (`expert-dist calibrate` redoes it on an idle machine).
 * It says how close the step comes to what this machine's GEMM can do. */
#ifndef EXPERT_PROGRESS_H
#define EXPERT_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

#include "expert/gpt.h"

typedef struct {
    int epoch, epochs;         /* epoch is 1-based for printing */
    long step, steps;          /* global step (the one validation lines and history use) of the run's total */
    long global_step, total_steps;
    double loss, lr, grad_norm;
    double tokens_per_s;       /* global (all ranks) */
    double mfu;                /* fraction, see above; < 0 = unknown */
    double elapsed, eta;       /* seconds; eta < 0 = unknown */
    double loss_scale;         /* fp16's loss scale; 0 = none (not shown) */
    long scale_skipped;        /* ... and the steps it skipped for an overflow */
} ed_progress;

/* One line, no newline: "epoch 2/3 step 130/360 loss 5.1234 lr 5.00e-04 gnorm 1.23 ...";
 * in fp16 "gnorm 1.23 scale 65536 skipped 2 tok/s ...". */
void ed_progress_format(const ed_progress *p, char *buf, size_t len);
/* On a TTY: "\r[#####.....] <line>" overwriting itself (final = 1 ends it with a newline);
 * otherwise the plain line with a newline, and only when final = 1. */
void ed_progress_print(FILE *f, const ed_progress *p, int tty, int final);

/* Whether rank 0 draws the self-overwriting bar on f (train: stdout; prepare: stderr) or
 * prints plain lines: ED_PROGRESS=bar forces the bar, =plain plain lines; otherwise the
 * bar only when f is a terminal, TERM is not "dumb" and no mpirun launched us (Open MPI
 * gives every rank a pseudo-terminal even when its own output goes to a file, so
 * isatty() cannot be trusted under it). The one rule for every command that draws one. */
int ed_progress_bar_wanted(FILE *f);
/* An MFU for people: "25.6%", "?" when unknown (< 0), and ">100%?" above 1: no run
 * multiplies faster than the reference peak, so a figure above it says the reference is
 * too low (measured on a busy machine), not that the run is fast. */
void ed_mfu_format(double mfu, char *buf, size_t len);
/* "1h02m", "3m05s", "12s" */
void ed_format_duration(double seconds, char *buf, size_t len);
/* Model FLOPs per trained token at sequence length T (forward + backward):
 * 6 x the parameters that multiply (all of them, except an untied llama's embedding,
 * which is only looked up) + 12 L T D for attention. */
double ed_flops_per_token(const ed_model_config *c, size_t n_params, int T);
/* Per-rank reference GFLOPS given by the user: flag if > 0, else $ED_REF_GFLOPS if set
 * and > 0, else 0 (= measure it). */
double ed_ref_gflops(float flag);

#endif
