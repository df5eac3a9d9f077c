/* ckpt_find.c — looking at checkpoints without loading them: ed_ckpt_read_info and
 * ed_ckpt_find_latest (--resume auto). */
#include "ckpt_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void copy_attr(ckpt_reader *r, const char *name, char *dst, size_t len) {
    char *v = NULL;
    dst[0] = '\0';
    if (ckpt_has_attr(r, "/", name) && ckpt_get_str(r, "/", name, &v) == 0) snprintf(dst, len, "%s", v);
    free(v);
}

int ed_ckpt_read_info(ed_ckpt *c, ed_ckpt_info *info, ed_error *err) {
    memset(info, 0, sizeof *info);
    ckpt_reader *r = ckpt_use(c, err);
    info->format_version = r->format_version;
    copy_attr(r, "created", info->created, sizeof info->created);
    copy_attr(r, "expert_dist_version", info->expert_dist_version, sizeof info->expert_dist_version);
    copy_attr(r, "git_commit", info->git_commit, sizeof info->git_commit);
    int64_t num_params = 0;
    int rc = ckpt_read_model_config(r, &info->model);
    if (rc == 0) rc = ckpt_get_i64(r, "/model", "num_params", &num_params);
    info->num_params = (long)num_params;
    info->has_optimizer = ckpt_exists(r, "/optimizer");
    info->has_trainer = ckpt_exists(r, "/trainer");
    info->has_history = ckpt_exists(r, "/history");
    info->has_tokenizer = ckpt_exists(r, "/tokenizer");
    info->global_step = -1;
    info->epoch = -1;
    if (rc == 0 && info->has_trainer) {
        int64_t step, epoch;
        rc = ckpt_get_i64(r, "/trainer", "global_step", &step);
        if (rc == 0) rc = ckpt_get_i64(r, "/trainer", "epoch", &epoch);
        if (rc == 0 && (step < 0 || epoch < 0)) rc = ckpt_fail(r, "/trainer", "negative global_step or epoch");
        if (rc == 0) {
            info->global_step = (long)step;
            info->epoch = (int)epoch;
        }
    }
    return rc;
}

/* "last.h5", "step-<digits>.h5" or "epoch-<digits>.h5", nothing else (best.h5 is the
 * best, not the newest; *.tmp is an unfinished write). */
static int is_candidate(const char *name) {
    if (strcmp(name, "last.h5") == 0) return 1;
    const char *p;
    if (strncmp(name, "step-", 5) == 0) p = name + 5;
    else if (strncmp(name, "epoch-", 6) == 0) p = name + 6;
    else return 0;
    if (*p < '0' || *p > '9') return 0;
    while (*p >= '0' && *p <= '9') p++;
    return strcmp(p, ".h5") == 0;
}

int ed_ckpt_find_latest(const char *dir, char *path, size_t path_len, ed_error *err) {
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        return ed_fail(err, "%s: cannot list checkpoint directory: %s", dir, strerror(errno));
    }
    long best_step = -1;
    int best_is_last = 0, bad = 0;
    ed_error first_bad = {{0}};
    char cand[ED_PATH_MAX + 300];
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_candidate(e->d_name)) continue;
        snprintf(cand, sizeof cand, "%s/%s", dir, e->d_name);
        ed_ckpt_info info;
        ed_error e2;
        ed_ckpt *c = ed_ckpt_open(cand, &e2);
        int rc = c ? ed_ckpt_read_info(c, &info, &e2) : -1;
        ed_ckpt_close(c);
        if (rc == 0 && !info.has_trainer) rc = ed_fail(&e2, "%s: no /trainer group, cannot resume from it", cand);
        if (rc < 0) {
            if (!bad++) first_bad = e2;
            continue;
        }
        int is_last = strcmp(e->d_name, "last.h5") == 0;
        if (info.global_step > best_step || (info.global_step == best_step && is_last && !best_is_last)) {
            if (strlen(cand) >= path_len) {
                closedir(d);
                return ed_fail(err, "%s: path too long", cand);
            }
            memcpy(path, cand, strlen(cand) + 1);
            best_step = info.global_step;
            best_is_last = is_last;
        }
    }
    closedir(d);
    if (best_step >= 0) return 1;
    if (bad) return ed_fail(err, "%s", first_bad.msg);
    return 0;
}
