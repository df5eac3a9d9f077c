/* progress.c — formatting of rank 0's progress output (see progress.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expert/progress.h"

int ed_progress_bar_wanted(FILE *f) {
    const char *p = getenv("ED_PROGRESS");
    if (p && strcmp(p, "bar") == 0) return 1;
    if (p && strcmp(p, "plain") == 0) return 0;
    const char *term = getenv("TERM");
    if (term && strcmp(term, "dumb") == 0) return 0;
    return isatty(fileno(f)) && !getenv("OMPI_COMM_WORLD_SIZE");
}

void ed_format_duration(double s, char *buf, size_t len) {
    if (!(s >= 0) || !isfinite(s)) {
        snprintf(buf, len, "?");
        return;
    }
    long t = lround(s);
    if (t >= 3600)
        snprintf(buf, len, "%ldh%02ldm", t / 3600, t % 3600 / 60);
    else if (t >= 60)
        snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, len, "%lds", t);
}

double ed_flops_per_token(const ed_model_config *c, size_t n_params, int T) {
    double n = (double)n_params;
    if (!ed_model_tied(c)) n -= (double)c->vocab_size * c->d_model;
    return 6.0 * n + 12.0 * c->n_layers * (double)T * c->d_model;
}

double ed_ref_gflops(float flag) {
    if (flag > 0) return flag;
    const char *env = getenv("ED_REF_GFLOPS");
    if (env) {
        double v = strtod(env, NULL);
        if (v > 0) return v;
    }
    return 0.0;
}

void ed_mfu_format(double mfu, char *buf, size_t len) {
    if (!(mfu >= 0))
        snprintf(buf, len, "?");
    else if (mfu > 1.0)
        snprintf(buf, len, ">100%%?");
    else
        snprintf(buf, len, "%.1f%%", 100.0 * mfu);
}

void ed_progress_format(const ed_progress *p, char *buf, size_t len) {
    char el[32], eta[32], mfu[32], scale[64] = "";
    ed_format_duration(p->elapsed, el, sizeof el);
    ed_format_duration(p->eta, eta, sizeof eta);
    ed_mfu_format(p->mfu, mfu, sizeof mfu);
    if (p->loss_scale > 0) snprintf(scale, sizeof scale, " scale %.10g skipped %ld", p->loss_scale, p->scale_skipped);
    snprintf(buf, len,
             "epoch %d/%d step %ld/%ld loss %.4f lr %.2e gnorm %.3f%s tok/s %.0f mfu %s elapsed %s eta %s",
             p->epoch, p->epochs, p->step, p->steps, p->loss, p->lr, p->grad_norm, scale, p->tokens_per_s, mfu,
             el, eta);
}

void ed_progress_print(FILE *f, const ed_progress *p, int tty, int final) {
    char line[512];
    ed_progress_format(p, line, sizeof line);
    if (!tty) {
        if (final) fprintf(f, "%s\n", line);
        fflush(f);
        return;
    }
    enum { W = 20 };
    char bar[W + 1];
    long filled = p->total_steps > 0 ? (long)((double)W * p->global_step / p->total_steps) : 0;
    if (filled > W) filled = W;
    for (int i = 0; i < W; i++) bar[i] = i < filled ? '#' : '.';
    bar[W] = '\0';
    /* \033[K clears what a longer previous line left behind. */
    fprintf(f, "\r[%s] %s\033[K%s", bar, line, final ? "\n" : "");
    fflush(f);
}
