/* cmd_calibrate.c — `expert-dist calibrate`: the MFU reference of every backend and
 * precision, measured with every core busy and stored in the measurement cache, so that
 * train reads it instead of measuring at its start on a machine that may be busy.
 * Rank 0 measures (with all the cores of its node unless -t); the others only learn the
 * verdict. Run it once per CPU model, on an idle machine. */
#include <stdio.h>
#include <string.h>

#include "expert/commands.h"
#include "expert/compute.h"
#include "expert/gemm_cache.h"
#include "expert/isa.h"

/* Seconds of repetitions per backend x precision: long enough that a rate settles. */
#define CALIBRATE_SECONDS 0.5

static int calibrate(const ed_options *o, int threads, ed_error *err) {
    ed_machine m;
    ed_machine_probe(&m);
    char path[ED_PATH_MAX], machine[512], what[256], cpu[512];
    if (ed_gemm_cache_path(path, sizeof path) != 0)
        return ed_fail(err, "calibrate: no place for the measurement cache (set HOME or XDG_CACHE_HOME)");
    ed_gemm_cache_machine_key(&m, machine, sizeof machine);
    ed_machine_cpu_line(&m, cpu, sizeof cpu);
    int given_prec = o->given[ed_option_index(ed_option_find("precision"))] != 0;
    if (!o->quiet) {
        printf("# cpu: %s\n# %d thread(s) busy, %.1f s each; GFLOPS per thread (x %d = per node)\n", cpu, threads,
               CALIBRATE_SECONDS, threads);
        printf("%-9s %-9s %12s %12s  %s\n", "backend", "precision", "GFLOPS/core", "GFLOPS/node", "path");
        fflush(stdout);
    }
    int stored = 0;
    for (int b = ED_GEMM_OPENBLAS; b < ED_GEMM_N; b++) {
        if (o->gemm != ED_GEMM_AUTO && o->gemm != (ed_gemm_backend)b) continue;
        if (b == ED_GEMM_ONEDNN && !m.have_onednn) {
            if (o->gemm == ED_GEMM_ONEDNN) return ed_fail(err, "calibrate: this build has no oneDNN");
            continue;
        }
        for (int p = 0; p < ED_PREC_FP16 + 1; p++) {
            if (given_prec && o->precision != (ed_precision)p) continue;
            char msg[256];
            double gf = ed_gemm_peak_gflops((ed_gemm_backend)b, (ed_precision)p, threads, CALIBRATE_SECONDS, msg,
                                            sizeof msg);
            if (gf < 0) return ed_fail(err, "calibrate: --gemm %s: %s", ed_gemm_backend_names[b], msg);
            int native = b == ED_GEMM_ONEDNN && p != ED_PREC_FP32 && !ed_precision_emulation_forced((ed_precision)p) &&
                         ed_machine_half_native(&m, (ed_precision)p);
            if (!o->quiet) {
                printf("%-9s %-9s %12.1f %12.1f  %s\n", ed_gemm_backend_names[b], ed_precision_names[p], gf,
                       gf * threads, p == ED_PREC_FP32 ? "fp32" : native ? "native" : "emulated");
                fflush(stdout);
            }
            char values[128];
            snprintf(values, sizeof values, "gflops_per_thread=%.2f threads=%d calibrated=1", gf, threads);
            ed_gemm_cache_peak_what((ed_gemm_backend)b, (ed_precision)p, what, sizeof what);
            if (ed_gemm_cache_put(path, "peak", machine, what, values, err) != 0) return -1;
            stored++;
        }
    }
    if (!o->quiet) printf("stored %d reference(s) in %s\n", stored, path);
    return 0;
}

int ed_calibrate(const ed_options *o, const ed_dist *d) {
    ed_error err = {{0}};
    int over = 0;
    int threads = ed_dist_threads(d, o->threads, &over);
    ed_set_threads(threads);
    int status = d->rank == 0 ? calibrate(o, threads, &err) : 0;
    if (ed_dist_agree(d, status, &err) != 0) {
        if (d->rank == 0) fprintf(stderr, "expert-dist: %s\n", err.msg);
        return ED_EXIT_FAILURE;
    }
    return ED_EXIT_OK;
}
