/* machine.c — what this machine offers for the GEMMs (expert/compute.h): CPU model and
 * ISA from /proc/cpuinfo and CPUID, OpenBLAS's kernel core, oneDNN's ISA and its bf16 /
 * fp16 support; the names of backends and precisions, the emulation switches, and what
 * `--gemm auto` means. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#ifdef ED_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

#include "expert/common.h"
#include "expert/compute.h"
#include "expert/isa.h"
#include "gemm.h"

/* CPUID feature bits the OS has enabled (XGETBV for the AVX / AVX-512 / AMX state). */
static void cpu_features(ed_machine *m) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    unsigned long long xcr0 = 0;
    if (osxsave) {
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        xcr0 = ((unsigned long long)hi << 32) | lo;
    }
    int ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xe6) == 0xe6, tiles = (xcr0 & 0x60000) == 0x60000;
    if (__get_cpuid_max(0, NULL) < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    m->avx2 = avx && ymm && fma && ((b >> 5) & 1);
    m->avx512 = m->avx2 && zmm && ((b >> 16) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1); /* F, BW, VL */
    /* AMX: the OS enables tile state per process on request (oneDNN asks), so the tile
     * bits of XCR0 may still be clear here; CPUID says whether the CPU has it. */
    m->amx = m->avx512 && ((d >> 22) & 1) && ((d >> 24) & 1);
    m->avx512fp16 = m->avx512 && ((d >> 23) & 1);
    (void)tiles;
    __cpuid_count(7, 1, a, b, c, d);
    m->avx512bf16 = m->avx512 && ((a >> 5) & 1);
    m->amxfp16 = m->amx && ((a >> 21) & 1);
#else
    (void)m;
#endif
}

void ed_machine_probe(ed_machine *m) {
    memset(m, 0, sizeof *m);
    ed_cpu_model(m->cpu, sizeof m->cpu);
    cpu_features(m);
    snprintf(m->isa, sizeof m->isa, "%s%s%s%s%s", m->avx512 ? "avx512" : m->avx2 ? "avx2+fma" : "baseline x86-64",
             m->avx512bf16 ? "+avx512bf16" : "", m->avx512fp16 ? "+avx512fp16" : "", m->amx ? "+amx" : "",
             m->amxfp16 ? "+amxfp16" : "");
    snprintf(m->blas_core, sizeof m->blas_core, "%s", openblas_get_corename());
    /* Cores OpenBLAS has for AVX2-class and newer CPUs. On an AVX2 CPU any other core
     * (Prescott, Core2, Nehalem, Sandybridge, Barcelona, ... or a generic fallback) uses
     * SSE/AVX kernels without FMA: several times slower. */
    static const char *const modern[] = {"haswell", "zen", "skylakex", "cooperlake", "sapphirerapids",
                                         "excavator", NULL};
    if (m->avx2) {
        m->blas_core_low = 1;
        for (int i = 0; modern[i]; i++)
            if (strcasecmp(m->blas_core, modern[i]) == 0) m->blas_core_low = 0;
    }
    char msg[256];
    ed_onednn *d = ed_onednn_create(msg, sizeof msg);
    if (d) {
        m->have_onednn = 1;
        snprintf(m->onednn_isa, sizeof m->onednn_isa, "%s", ed_onednn_isa_name());
#ifdef ED_HAVE_ONEDNN
        const dnnl_version_t *v = dnnl_version();
        snprintf(m->onednn_version, sizeof m->onednn_version, "%d.%d.%d", v->major, v->minor, v->patch);
#endif
        m->bf16_native = ed_onednn_native(d, ED_PREC_BF16);
        m->fp16_native = ed_onednn_native(d, ED_PREC_FP16);
        ed_onednn_free(d);
    }
}

void ed_machine_cpu_line(const ed_machine *m, char *buf, size_t len) {
    char kernels[160];
    ed_isa_describe(kernels, sizeof kernels);
    snprintf(buf, len, "%s (%s); kernels: %s", m->cpu, m->isa, kernels);
}

int ed_machine_half_native(const ed_machine *m, ed_precision p) {
    return p == ED_PREC_BF16 ? m->bf16_native : p == ED_PREC_FP16 ? m->fp16_native : 0;
}

const char *ed_precision_emulate_var(ed_precision p) {
    return p == ED_PREC_BF16 ? "ED_BF16_EMULATE" : p == ED_PREC_FP16 ? "ED_FP16_EMULATE" : NULL;
}

int ed_precision_emulation_forced(ed_precision p) {
    const char *var = ed_precision_emulate_var(p), *v = var ? getenv(var) : NULL;
    return v && v[0] && strcmp(v, "0") != 0;
}

void ed_machine_describe(const ed_machine *m, char *buf, size_t len) {
    const char *half = m->bf16_native && m->fp16_native ? " (bf16 and fp16 native)"
                       : m->bf16_native                 ? " (bf16 native, no fp16 matmul)"
                       : m->fp16_native                 ? " (fp16 native, no bf16 matmul)"
                                                        : " (no bf16 or fp16 matmul)";
    snprintf(buf, len, "OpenBLAS core %s, oneDNN %s%s", m->blas_core, m->have_onednn ? m->onednn_isa : "not built",
             m->have_onednn ? half : "");
}

const char *ed_machine_blas_warning(const ed_machine *m, char *buf, size_t len) {
    if (!m->blas_core_low) return NULL;
    const char *env = getenv("OPENBLAS_CORETYPE");
    /* No advice to set OPENBLAS_CORETYPE: a user's environment may pin it for reasons of
     * its own, and --gemm auto measures whatever it gives. */
    snprintf(buf, len,
             "warning: OpenBLAS uses its '%s' kernels on this %s CPU%s%s%s: its GEMMs may run several times "
             "slower than the CPU can; --gemm auto measures both backends and takes the faster%s",
             m->blas_core, m->avx512 ? "AVX-512" : "AVX2", env ? " (OPENBLAS_CORETYPE=" : "", env ? env : "",
             env ? ")" : "", m->have_onednn ? "" : " (oneDNN needs a build with libdnnl-dev)");
    return buf;
}

const char *const ed_gemm_backend_names[] = {"auto", "openblas", "onednn", NULL};
const char *const ed_precision_names[] = {"fp32", "bf16", "fp16", NULL};

ed_gemm_backend ed_gemm_backend_resolve(ed_gemm_backend want, ed_precision p, const ed_machine *m) {
    if (want != ED_GEMM_AUTO) return want;
    if (!m->have_onednn) return ED_GEMM_OPENBLAS;
    if (ed_machine_half_native(m, p)) return ED_GEMM_ONEDNN;
    return m->blas_core_low ? ED_GEMM_ONEDNN : ED_GEMM_OPENBLAS;
}
