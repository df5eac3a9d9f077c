/* isa.h — which instruction-set path the hand-written kernels run on.
 *
 * The default build is a portable x86-64 binary: the GEMMs dispatch by themselves
 * (OpenBLAS, oneDNN), and the engine's own hot loops — LayerNorm, GELU, softmax inside
 * attention, cross-entropy, embeddings, residual dropout, AdamW (src/kernels/kernels.h lists
 * them) — are compiled several times from the same source, once per path, and one copy
 * is chosen at start-up:
 *
 *   baseline  x86-64 (SSE2): runs on every x86-64 CPU
 *   avx2      AVX2 + FMA (Haswell, Zen 1 and later)
 *   avx512    AVX-512 F/VL/BW/DQ, 512-bit vectors (Skylake-SP, Zen 4 and later)
 *
 * A `-DED_NATIVE=ON` build compiles the kernels once with -march=native instead; its
 * only path is `native` (and the binary runs only on CPUs like the build machine).
 *
 * Choice: the environment variable ED_ISA = auto (default: the widest path the CPU and
 * the OS support) | baseline | avx2 | avx512 | native. Forcing a path the CPU lacks, or
 * one this build does not contain, is an error (one line, exit 2 from the CLI), never a
 * SIGILL. The paths compute the same functions; results agree to fp32 rounding (vector
 * width changes the order of the reductions), not bit for bit, so a run resumed on a CPU
 * that takes another path continues within fp32 tolerance rather than bit-exactly.
 *
 * The choice is made once per process, on first use (or by ed_isa_init), and is
 * read-only afterwards: like a loader-resolved ifunc it is a fact of the process, not of
 * a model, so callers do not pass it around. */
#ifndef EXPERT_ISA_H
#define EXPERT_ISA_H

#include <stddef.h>

typedef enum { ED_ISA_BASELINE, ED_ISA_AVX2, ED_ISA_AVX512, ED_ISA_NATIVE, ED_ISA_COUNT } ed_isa;

/* "baseline", "avx2", "avx512", "native". */
const char *ed_isa_name(ed_isa isa);
/* 1 when this binary contains the path's kernels. */
int ed_isa_built(ed_isa isa);
/* 1 when the path is built and this CPU (and OS) can run it. */
int ed_isa_runs(ed_isa isa);
/* The paths ed_isa_runs, by name, space-separated: "baseline avx2". */
void ed_isa_list_runs(char *buf, size_t len);
/* The widest path that ed_isa_runs. */
ed_isa ed_isa_best(void);

/* The path for a request ("auto", NULL and "" mean ed_isa_best). Returns 0, or -1 with a
 * one-line reason in msg: an unknown name, a path not built, or one the CPU lacks. */
int ed_isa_choose(const char *request, ed_isa *out, char *msg, size_t msg_len);

/* Makes the process-wide choice now from ED_ISA (it is otherwise made on the first kernel
 * call). Returns 0, or -1 with msg: the CLI calls it at start-up so a bad ED_ISA is a
 * usage error instead of an abort in the middle of a run. */
int ed_isa_init(char *msg, size_t msg_len);
/* The path the kernels run on (makes the choice if not yet made; aborts on a bad ED_ISA). */
ed_isa ed_isa_active(void);

/* One line for banners and benchmarks: "avx2 (ED_ISA=auto; CPU runs baseline avx2)". */
void ed_isa_describe(char *buf, size_t len);
/* The CPU's model name from /proc/cpuinfo with its family and model numbers, e.g.
 * "AMD EPYC, family 25 model 1" ("unknown" when there is none). */
void ed_cpu_model(char *buf, size_t len);

#endif
