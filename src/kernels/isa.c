/* isa.c — which ISA paths this binary holds and this CPU runs, and the choice from a
 * request (isa.h). Pure functions of the build and the CPU: no state. */
#include "expert/isa.h"

#include <stdio.h>
#include <string.h>

static const char *const NAMES[ED_ISA_COUNT] = {"baseline", "avx2", "avx512", "native"};

const char *ed_isa_name(ed_isa isa) { return isa >= 0 && isa < ED_ISA_COUNT ? NAMES[isa] : "?"; }

/* ED_NATIVE_BUILD and ED_X86_PATHS come from CMakeLists.txt: a native build holds only
 * `native`; a portable x86-64 build holds baseline, avx2 and avx512; a portable build for
 * another architecture only baseline. */
int ed_isa_built(ed_isa isa) {
#ifdef ED_NATIVE_BUILD
    return isa == ED_ISA_NATIVE;
#elif defined(ED_X86_PATHS)
    return isa == ED_ISA_BASELINE || isa == ED_ISA_AVX2 || isa == ED_ISA_AVX512;
#else
    return isa == ED_ISA_BASELINE;
#endif
}

/* What the CPU offers and the OS has enabled: libgcc's __builtin_cpu_supports reads
 * CPUID and, for AVX and AVX-512, checks XGETBV that the OS saves the vector state. The
 * feature sets are the ones the paths are compiled with (CMakeLists.txt ED_ISA_FLAGS_*). */
static int cpu_has(ed_isa isa) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    switch (isa) {
    case ED_ISA_BASELINE:
    case ED_ISA_NATIVE: /* built for this machine's kind: trusted, like any -march=native binary */
        return 1;
    case ED_ISA_AVX2:
        return avx2;
    case ED_ISA_AVX512:
        return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
    default:
        return 0;
    }
#else
    return isa == ED_ISA_BASELINE || isa == ED_ISA_NATIVE;
#endif
}

int ed_isa_runs(ed_isa isa) { return ed_isa_built(isa) && cpu_has(isa); }

ed_isa ed_isa_best(void) {
    static const ed_isa order[] = {ED_ISA_NATIVE, ED_ISA_AVX512, ED_ISA_AVX2, ED_ISA_BASELINE};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (ed_isa_runs(order[i])) return order[i];
    return ED_ISA_BASELINE;
}

void ed_isa_list_runs(char *buf, size_t len) {
    buf[0] = '\0';
    for (int i = 0; i < ED_ISA_COUNT; i++)
        if (ed_isa_runs((ed_isa)i)) {
            size_t u = strlen(buf);
            snprintf(buf + u, len - u, "%s%s", u ? " " : "", NAMES[i]);
        }
}

int ed_isa_choose(const char *request, ed_isa *out, char *msg, size_t msg_len) {
    char runs[64];
    if (!request || !request[0] || strcmp(request, "auto") == 0) {
        *out = ed_isa_best();
        return 0;
    }
    for (int i = 0; i < ED_ISA_COUNT; i++) {
        if (strcmp(request, NAMES[i]) != 0) continue;
        ed_isa_list_runs(runs, sizeof runs);
        if (!ed_isa_built((ed_isa)i)) {
            snprintf(msg, msg_len, "ED_ISA=%s: this binary has no %s kernels (%s build; its paths: %s)", request,
                     request, ed_isa_built(ED_ISA_NATIVE) ? "an -DED_NATIVE=ON" : "a portable", runs);
            return -1;
        }
        if (!cpu_has((ed_isa)i)) {
            snprintf(msg, msg_len, "ED_ISA=%s: this CPU cannot run the %s kernels (%s); paths it runs: %s", request,
                     request, i == ED_ISA_AVX512 ? "needs AVX-512 F/VL/BW/DQ" : "needs AVX2 and FMA", runs);
            return -1;
        }
        *out = (ed_isa)i;
        return 0;
    }
    snprintf(msg, msg_len, "ED_ISA=%s: unknown kernel path (expected auto, baseline, avx2, avx512 or native)",
             request);
    return -1;
}

/* The value after "key<spaces/tabs>: " on a /proc/cpuinfo line, or NULL for another key. */
static const char *cpuinfo_value(const char *line, const char *key) {
    size_t k = strlen(key);
    if (strncmp(line, key, k) != 0) return NULL;
    const char *v = line + k;
    while (*v == ' ' || *v == '\t') v++;
    if (*v != ':') return NULL; /* "model" must not match "model name" */
    v++;
    while (*v == ' ' || *v == '\t') v++;
    return v;
}

void ed_cpu_model(char *buf, size_t len) {
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    /* the name alone does not tell CPUs apart (a VM may show just "AMD EPYC" for Zen 3
     * and Zen 5 alike), so family and model numbers follow it */
    char line[512], name[256] = "", family[32] = "", model[32] = "";
    while (fgets(line, sizeof line, f)) {
        const char *v;
        if (line[0] == '\n') break; /* end of the first processor's block */
        if ((v = cpuinfo_value(line, "model name"))) snprintf(name, sizeof name, "%.*s", (int)strcspn(v, "\n"), v);
        else if ((v = cpuinfo_value(line, "cpu family"))) snprintf(family, sizeof family, "%.*s", (int)strcspn(v, "\n"), v);
        else if ((v = cpuinfo_value(line, "model"))) snprintf(model, sizeof model, "%.*s", (int)strcspn(v, "\n"), v);
    }
    fclose(f);
    if (!name[0]) return;
    if (family[0] && model[0]) snprintf(buf, len, "%s, family %s model %s", name, family, model);
    else snprintf(buf, len, "%s", name);
}
