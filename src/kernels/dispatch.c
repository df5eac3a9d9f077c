/* dispatch.c — the process-wide choice of kernel path and the plain-named kernel entry
 * points (kernels.h) that forward to it.
 *
 * The choice is the library's one piece of process state besides the signal flag: made
 * once (pthread_once, so OpenMP threads calling kernels concurrently are safe) from
 * ED_ISA and the CPU, read-only afterwards. The alternative — a table pointer carried by
 * the model, the optimizer and every caller of ed_sumsq — would change public signatures
 * to pass around a value that cannot differ within a process. GCC's target_clones was
 * not used: its loader-run resolvers pick by CPUID alone, so a path could not be forced
 * (tests must run each path on one machine, and a user must be able to rule a path out),
 * nor refused with a clear message. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "expert/common.h"
#include "expert/isa.h"
#include "expert/optim.h"
#include "kernels.h"

const ed_kernels *ed_kernels_for(int isa) {
    if (!ed_isa_built((ed_isa)isa)) return NULL;
    switch (isa) {
#ifdef ED_NATIVE_BUILD
    case ED_ISA_NATIVE:
        return &ed_kernels_native;
#else
    case ED_ISA_BASELINE:
        return &ed_kernels_baseline;
#ifdef ED_X86_PATHS
    case ED_ISA_AVX2:
        return &ed_kernels_avx2;
    case ED_ISA_AVX512:
        return &ed_kernels_avx512;
#endif
#endif
    default:
        return NULL;
    }
}

static struct {
    pthread_once_t once;
    int status; /* 0 chosen, -1 ED_ISA was bad (msg says why) */
    ed_isa isa;
    const ed_kernels *k;
    char msg[256];
} choice = {PTHREAD_ONCE_INIT, 0, ED_ISA_BASELINE, NULL, ""};

static void choose_once(void) {
    choice.status = ed_isa_choose(getenv("ED_ISA"), &choice.isa, choice.msg, sizeof choice.msg);
    if (choice.status == 0) choice.k = ed_kernels_for(choice.isa);
}

int ed_isa_init(char *msg, size_t msg_len) {
    pthread_once(&choice.once, choose_once);
    if (choice.status != 0) snprintf(msg, msg_len, "%s", choice.msg);
    return choice.status;
}

const ed_kernels *ed_kernels_active(void) {
    pthread_once(&choice.once, choose_once);
    if (choice.status != 0) ED_DIE("%s", choice.msg);
    return choice.k;
}

ed_isa ed_isa_active(void) {
    ed_kernels_active();
    return choice.isa;
}

void ed_isa_describe(char *buf, size_t len) {
    char runs[64];
    ed_isa_list_runs(runs, sizeof runs);
    const char *req = getenv("ED_ISA");
    snprintf(buf, len, "%s (ED_ISA=%s; this CPU runs: %s)", ed_isa_name(ed_isa_active()), req && req[0] ? req : "auto",
             runs);
}

/* The entry points the engine calls: one indirect call per kernel invocation (each works
 * on whole tensors, so the call costs nothing measurable). */
#define ED_KWRAP_V(name, params, args) \
    void name params { ed_kernels_active()->name args; }
#define ED_KWRAP_R(type, name, params, args) \
    type name params { return ed_kernels_active()->name args; }
ED_KERNELS(ED_KWRAP_V, ED_KWRAP_R)
