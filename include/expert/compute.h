/* compute.h — what the engine multiplies with: the GEMM backend, the precision, and what
 * this machine offers (CPU model, ISA, OpenBLAS's kernel core, oneDNN's ISA).
 *
 * Backends (--gemm): OpenBLAS's cblas_sgemm, split by the engine over its OpenMP threads;
 * oneDNN's matmul primitive (built when libdnnl-dev is found), created once per shape and
 * reused, threaded by oneDNN on the same OpenMP pool. `auto`: train, eval and generate
 * measure both at their own products (ed_trainer_gemm_auto, docs/design.md); --dry-run
 * takes ed_gemm_backend_resolve's guess.
 *
 * Precision (--precision): fp32, or a half precision: bf16 / fp16 = every GEMM input
 * rounded to bfloat16 / IEEE binary16 (round to nearest even, expert/half.h) and
 * multiplied with float32 accumulation and float32 output; everything else (LayerNorm,
 * softmax, GELU, the loss, master weights, gradients, optimizer state, allreduce,
 * checkpoints) stays float32. fp16's small range needs dynamic loss scaling, which the
 * trainer adds (expert/optim.h, ed_loss_scaler). On the oneDNN backend, where oneDNN has a
 * matmul of that half type for the CPU (bf16: AVX512-BF16 or AMX; fp16: AVX512-FP16 or
 * AMX-FP16; asked of oneDNN at run time), the products run in half
 * instructions; elsewhere (always on OpenBLAS, which has no half GEMM in Debian's build),
 * or when the environment sets ED_BF16_EMULATE=1 / ED_FP16_EMULATE=1, they are emulated
 * by the fp32 GEMM on the rounded inputs. A product of two bf16 values (8 x 8 significant
 * bits) or of two fp16 values (11 x 11 bits, exponents from 2^-48 to 2^32) is exact in
 * float32, so both paths compute the same products and differ only in the order of the
 * fp32 sums. */
#ifndef EXPERT_COMPUTE_H
#define EXPERT_COMPUTE_H

#include <stddef.h>

typedef enum { ED_GEMM_AUTO = 0, ED_GEMM_OPENBLAS, ED_GEMM_ONEDNN, ED_GEMM_N } ed_gemm_backend;
typedef enum { ED_PREC_FP32 = 0, ED_PREC_BF16, ED_PREC_FP16 } ed_precision;
/* Their names, index = enum value, NULL-terminated (the --gemm / --precision choices). */
extern const char *const ed_gemm_backend_names[];
extern const char *const ed_precision_names[];

typedef struct {
    char cpu[128];       /* CPU model name (ed_cpu_model), "unknown" if unreadable */
    char isa[64];        /* what the CPU has, e.g. "avx2+fma" or "avx512+avx512bf16+avx512fp16+amx+amxfp16" */
    int avx2, avx512, avx512bf16, avx512fp16, amx, amxfp16;
    char blas_core[32];  /* openblas_get_corename(), e.g. "Zen", "Haswell", "Prescott" */
    int blas_core_low;   /* 1 when that core is far below the CPU's ISA (see machine.c) */
    int have_onednn;     /* this build links oneDNN */
    char onednn_isa[32]; /* the highest ISA oneDNN will use, e.g. "avx2", "avx512_core_amx" */
    char onednn_version[32]; /* "3.5.3" ("" without oneDNN): part of the measurement cache's key */
    int bf16_native;     /* oneDNN offers a non-reference bf16 matmul on this CPU */
    int fp16_native;     /* ... and an fp16 one */
} ed_machine;

/* 1 when oneDNN has a native matmul of half precision p on m (0 for fp32). */
int ed_machine_half_native(const ed_machine *m, ed_precision p);

/* The environment variable that forces precision p onto its emulated path (bf16:
 * ED_BF16_EMULATE, fp16: ED_FP16_EMULATE; NULL for fp32), and whether it does: set, not
 * empty and not "0". The one place both are read (the GEMM context and the trainer's
 * warning). */
const char *ed_precision_emulate_var(ed_precision p);
int ed_precision_emulation_forced(ed_precision p);

/* Fills m (reads /proc/cpuinfo, CPUID, OpenBLAS and oneDNN; a few ms, no side effects). */
void ed_machine_probe(ed_machine *m);

/* The CPU, its ISA and the kernel path the engine runs on it (ed_isa_describe: call after
 * ed_isa_init), the one line every banner prints it in (train's "# cpu:", --version,
 * ed-bench): "AMD EPYC 7B13 (avx2+fma); kernels: avx2 (ED_ISA=auto; this CPU runs:
 * baseline avx2)". */
void ed_machine_cpu_line(const ed_machine *m, char *buf, size_t len);

/* The GEMM libraries on this machine, one line (beside the backend in "# gemm:"):
 * "OpenBLAS core Zen, oneDNN avx2 (no bf16 or fp16 matmul)". */
void ed_machine_describe(const ed_machine *m, char *buf, size_t len);

/* The warning the OpenBLAS backend deserves on this machine, or NULL: a core far below
 * the CPU's ISA (e.g. "Prescott" on an AVX2 CPU) multiplies several times slower. */
const char *ed_machine_blas_warning(const ed_machine *m, char *buf, size_t len);

/* What `auto` is guessed to mean on this machine for this precision, without measuring:
 *   - oneDNN when the build has it and the precision has a native matmul there, or
 *     OpenBLAS's core is far below the CPU;
 *   - else OpenBLAS (also when the build has no oneDNN).
 * A named backend is returned unchanged. Deterministic: it never times anything. A model
 * starts from it (ed_ckpt_model_new); --dry-run and train's closing sample keep it; with
 * `auto`, train, eval and generate then measure (train_compute.c: ed_gpt_gemm_compare
 * and the measurement cache, docs/design.md). */
ed_gemm_backend ed_gemm_backend_resolve(ed_gemm_backend want, ed_precision p, const ed_machine *m);

/* The MFU reference (gemm_peak.c): GFLOPS of ONE thread multiplying 512 x 512 x 512
 * products with backend b (resolved) at precision p while `threads` threads do the same at
 * once (a busy node), the slowest thread's best round over about `seconds`. A rank of T
 * threads can reach T times this. -1 with msg when the backend is not in this build.
 * Not collective; uses `threads` OpenMP threads. */
double ed_gemm_peak_gflops(ed_gemm_backend b, ed_precision p, int threads, double seconds, char *msg,
                           size_t msg_len);

#endif
