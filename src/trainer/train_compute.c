/* train_compute.c — what a command multiplies with, decided by measurement: `--gemm auto`
 * (the backend that is fastest at the command's own products: train, eval and generate
 * all come here, ed_trainer_gemm_auto) and the trainer's MFU reference (the per-core GEMM
 * peak of this CPU), each read from the measurement cache (expert/gemm_cache.h) when this
 * machine has measured it before, else measured now and stored.
 *
 * Both are collective and agreed (a pick without ranks is one process's: generate's
 * rank 0): every rank measures (or reads) at once, as the ranks of a node share it while
 * they run, and the figures are reduced, so every rank takes the same backend even when
 * the nodes' CPUs differ (the pick is the backend whose slowest rank is fastest: a step
 * waits for its slowest rank). One rank per node writes the cache (nodes may keep their
 * own, or share one through a common home: the records are keyed by CPU model). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "expert/gemm_cache.h"
#include "expert/progress.h"
#include "trainer_internal.h"

/* The cache file, or NULL when --gemm-cache off or no home to keep it in. */
static const char *cache_path(int use_cache, char *buf, size_t len) {
    if (!use_cache || ed_gemm_cache_path(buf, len) != 0) return NULL;
    return buf;
}

/* A damaged cache file warns once per node (its first rank) and run, never fails. */
static void cache_warn(int local_rank, int *warned, const char *warn) {
    if (warn[0] && local_rank == 0 && !*warned) fprintf(stderr, "warning: %s\n", warn);
    if (warn[0]) *warned = 1;
}

/* What `--gemm auto` is asked to pick for. */
typedef struct {
    ed_gemm_work work;      /* what the command multiplies (expert/gpt.h) */
    int rows;               /* TRAIN / FORWARD: rows of one pass (batch x window) */
    ed_precision precision;
    int threads;            /* this process's OpenMP threads (part of the cache key) */
    int use_cache;          /* --gemm-cache */
    const ed_machine *mach; /* ed_machine_probe: the cache key's CPU and libraries */
} gemm_auto;

/* What a `gemm` record is measured at: precision (and whether its emulation was forced),
 * threads per rank, the model's widths, the workload and its probe rows. */
static void gemm_what(const ed_gpt *m, const gemm_auto *a, char *buf, size_t len) {
    const ed_model_config *c = ed_gpt_config(m);
    ed_precision p = a->precision;
    snprintf(buf, len, "precision=%s%s threads=%d arch=%s D=%d H=%d KV=%d FF=%d V=%d work=%s rows=%d",
             ed_precision_names[p], ed_precision_emulation_forced(p) ? " (emulation forced)" : "", a->threads,
             ed_arch_names[c->arch], c->d_model, c->n_heads, c->n_kv_heads, c->d_ff, c->vocab_size,
             ed_gemm_work_names[a->work], ed_gpt_gemm_compare_rows(a->work, a->rows));
}

/* The pick: the cache's figures or a measurement now, reduced over the ranks of d (NULL:
 * this process alone); m switched to the winner; note = the banner's account. *warned:
 * a damaged cache line was reported (the caller's once-per-run flag). */
static int pick_gemm(ed_gpt *m, const gemm_auto *a, const ed_dist *d, int *warned, char *note, size_t note_len,
                     ed_error *err) {
    char path[ED_PATH_MAX], machine[512], what[256], warn[ED_PATH_MAX + 128] = "";
    const char *file = cache_path(a->use_cache, path, sizeof path);
    int local_rank = d ? d->local_rank : 0;
    ed_gemm_cache_machine_key(a->mach, machine, sizeof machine);
    gemm_what(m, a, what, sizeof what);
    double gf[ED_GEMM_N] = {0}, spent = 0.0;
    ed_gemm_cache_rec rec;
    int cached = file && ed_gemm_cache_find(file, "gemm", machine, what, &rec, warn, sizeof warn);
    cache_warn(local_rank, warned, warn);
    for (int b = ED_GEMM_OPENBLAS; cached && b < ED_GEMM_N; b++)
        if (ed_gemm_cache_value(&rec, ed_gemm_backend_names[b], &gf[b]) != 0) cached = 0; /* another build's */
    if (!cached) {
        ed_gemm_comparison cmp;
        ed_gpt_gemm_compare(m, a->work, a->rows, a->precision, &cmp);
        spent = cmp.seconds;
        /* The figures are compared as the cache stores them (0.1 GFLOPS), so a later run
         * that reads them picks what this one picked. */
        for (int b = ED_GEMM_OPENBLAS; b < ED_GEMM_N; b++) gf[b] = round(cmp.gflops[b] * 10.0) / 10.0;
    }
    /* The slowest rank's figure of each backend (min = -max of the negatives), the
     * longest measurement, and how many ranks measured now. */
    double agree[ED_GEMM_N + 2];
    for (int b = 0; b < ED_GEMM_N; b++) agree[b] = -gf[b];
    agree[ED_GEMM_N] = spent;
    agree[ED_GEMM_N + 1] = cached ? 0.0 : 1.0;
    if (d) {
        ed_dist_max(d, agree, ED_GEMM_N + 1);
        ed_dist_sum(d, agree + ED_GEMM_N + 1, 1);
    }
    ed_gemm_backend pick = ED_GEMM_OPENBLAS;
    for (int b = ED_GEMM_OPENBLAS; b < ED_GEMM_N; b++) {
        gf[b] = -agree[b];
        if (gf[b] > gf[pick]) pick = (ed_gemm_backend)b; /* a tie keeps OpenBLAS */
    }
    /* The cache keeps the agreed figures, not this rank's own: a resume or a rerun of the
     * same job (`-c config.ini`) then picks the same backend and repeats the run bit for bit. */
    if (!cached && file && local_rank == 0) {
        char values[256] = "";
        for (int b = ED_GEMM_OPENBLAS; b < ED_GEMM_N; b++)
            snprintf(values + strlen(values), sizeof values - strlen(values), "%s%s=%.1f", b > 1 ? " " : "",
                     ed_gemm_backend_names[b], gf[b]);
        ed_error werr;
        if (ed_gemm_cache_put(file, "gemm", machine, what, values, &werr) != 0)
            fprintf(stderr, "warning: %s (--gemm auto measures again next time)\n", werr.msg);
    }
    char msg[512] = "";
    int status = ed_gpt_set_compute(m, pick, a->precision, msg, sizeof msg);
    if (status != 0) ed_fail(err, "--gemm auto: %s", msg);
    if (d ? ed_dist_agree(d, status, err) != 0 : status != 0) return -1;
    int n = snprintf(note, note_len, "auto picked %s:", ed_gemm_backend_names[pick]);
    for (int b = ED_GEMM_OPENBLAS; b < ED_GEMM_N && n > 0 && (size_t)n < note_len; b++)
        if (gf[b] > 0) n += snprintf(note + n, note_len - (size_t)n, " %s %.0f", ed_gemm_backend_names[b], gf[b]);
    if (n > 0 && (size_t)n < note_len) {
        n += snprintf(note + n, note_len - (size_t)n, " GFLOPS on the %s products at %s%d rows", ed_gemm_work_names[a->work],
                      a->work == ED_GEMM_WORK_DECODE ? "1 and " : "", ed_gpt_gemm_compare_rows(a->work, a->rows));
        if (n > 0 && (size_t)n < note_len) {
            if (agree[ED_GEMM_N + 1] == 0)
                snprintf(note + n, note_len - (size_t)n, " (cached %s, %s)", rec.date, file);
            else
                snprintf(note + n, note_len - (size_t)n, " (measured now in %.0f ms%s%s)", 1e3 * agree[ED_GEMM_N],
                         file ? ", stored in " : "; --gemm-cache off", file ? file : "");
        }
    }
    return 0;
}

int trainer_pick_gemm(ed_trainer *t, ed_error *err) {
    const ed_options *o = t->o;
    t->gemm_note[0] = '\0';
    if (o->gemm != ED_GEMM_AUTO) return 0;
    if (o->dry_run) { /* nothing runs: the rule's guess is enough (ed_gemm_backend_resolve) */
        snprintf(t->gemm_note, sizeof t->gemm_note, "auto: guessed, not measured (--dry-run)");
        return 0;
    }
    gemm_auto a = {.work = ED_GEMM_WORK_TRAIN, .rows = o->batch_size * (o->max_length - 1),
                   .precision = o->precision, .threads = t->threads, .use_cache = o->gemm_cache, .mach = &t->mach};
    return pick_gemm(t->model, &a, t->d, &t->cache_warned, t->gemm_note, sizeof t->gemm_note, err);
}

int ed_trainer_gemm_auto(ed_gpt *m, const ed_options *o, ed_gemm_work w, int rows, const ed_dist *d, FILE *out,
                         ed_error *err) {
    if (o->gemm != ED_GEMM_AUTO || o->dry_run) return 0; /* --dry-run: ed_gemm_backend_resolve's guess */
    ed_machine mach;
    ed_machine_probe(&mach);
    gemm_auto a = {.work = w, .rows = rows, .precision = o->precision, .threads = omp_get_max_threads(),
                   .use_cache = o->gemm_cache, .mach = &mach};
    char note[ED_PATH_MAX + 256];
    int warned = 0;
    if (pick_gemm(m, &a, d, &warned, note, sizeof note, err) != 0) return -1;
    if ((!d || d->rank == 0) && !o->quiet) {
        char gemm[256], libs[256];
        ed_gpt_compute_describe(m, gemm, sizeof gemm);
        ed_machine_describe(&mach, libs, sizeof libs);
        fprintf(out, "# gemm: %s; %s; %s\n", gemm, note, libs);
        fflush(out);
    }
    return 0;
}

void trainer_mfu_reference(ed_trainer *t) {
    const ed_options *o = t->o;
    trainer_timing *m = &t->timing;
    m->ref_gflops = ed_ref_gflops(o->ref_gflops);
    if (m->ref_gflops > 0) {
        snprintf(m->ref_source, sizeof m->ref_source, "given by %s", o->ref_gflops > 0 ? "--ref-gflops" : "$ED_REF_GFLOPS");
        return;
    }
    if (o->dry_run) return;
    char path[ED_PATH_MAX], machine[512], what[256], warn[ED_PATH_MAX + 128] = "";
    const char *file = cache_path(o->gemm_cache, path, sizeof path);
    ed_gemm_backend b = ed_gpt_backend(t->model);
    ed_gemm_cache_machine_key(&t->mach, machine, sizeof machine);
    ed_gemm_cache_peak_what(b, o->precision, what, sizeof what);
    ed_gemm_cache_rec rec;
    double per_thread = 0.0, calibrated = 0.0;
    int cached = file && ed_gemm_cache_find(file, "peak", machine, what, &rec, warn, sizeof warn) &&
                 ed_gemm_cache_value(&rec, "gflops_per_thread", &per_thread) == 0 && per_thread > 0;
    cache_warn(t->d->local_rank, &t->cache_warned, warn);
    if (cached) {
        ed_gemm_cache_value(&rec, "calibrated", &calibrated);
        snprintf(m->ref_source, sizeof m->ref_source, "%s %s, %s", calibrated > 0 ? "calibrated" : "measured at a start",
                 rec.date, file);
    } else {
        char msg[256];
        per_thread = ed_gemm_peak_gflops(b, o->precision, t->threads, 0.2, msg, sizeof msg);
        if (per_thread < 0) per_thread = 0.0; /* cannot happen: the model runs on b */
        if (file && t->d->local_rank == 0 && per_thread > 0) {
            char values[128];
            snprintf(values, sizeof values, "gflops_per_thread=%.2f threads=%d calibrated=0", per_thread, t->threads);
            ed_error werr;
            if (ed_gemm_cache_put(file, "peak", machine, what, values, &werr) != 0)
                fprintf(stderr, "warning: %s (the MFU reference is measured again next time)\n", werr.msg);
        }
        snprintf(m->ref_source, sizeof m->ref_source, "measured now%s%s; `expert-dist calibrate` on an idle machine "
                 "refines it", file ? ", stored in " : "", file ? file : "");
    }
    /* Nodes of different CPUs have different peaks: the job's reference is their sum, kept
     * as the mean per rank (mfu_at multiplies by the world size). */
    double sum = per_thread * t->threads;
    ed_dist_sum(t->d, &sum, 1);
    m->ref_gflops = sum / t->d->world;
}
