/* metrics.c — metrics.jsonl, the append-only live log of a run (include/expert/history.h):
 * opening (with the cut of a resumed run) and one line per row, from the column table. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expert/tensorboard.h"
#include "history_internal.h"

/* The kept part of an existing file: lines whose "step" is <= last (a line that does not
 * parse, e.g. the torn last line of a killed run, is dropped too). */
static char *kept_rows(const char *data, size_t len, long last, size_t *out_len) {
    char *out = ed_malloc(len + 1);
    size_t n = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;
        json_t *row = nl ? json_loadb(data + pos, end - pos, 0, NULL) : NULL; /* no '\n': torn */
        const json_t *st = row ? json_object_get(row, "step") : NULL;
        if (st && json_is_integer(st) && json_integer_value(st) <= last) {
            memcpy(out + n, data + pos, end - pos + 1);
            n += end - pos + 1;
        }
        json_decref(row);
        pos = end + 1;
    }
    *out_len = n;
    return out;
}

int ed_metrics_open(ed_metrics *m, const char *path, long resume_step, ed_error *err) {
    memset(m, 0, sizeof *m);
    snprintf(m->path, sizeof m->path, "%s", path);
    if (resume_step >= 0 && access(path, F_OK) == 0) {
        char *data;
        size_t len, kl;
        if (ed_read_file(path, &data, &len, err) != 0) return -1;
        char *kept = kept_rows(data, len, resume_step, &kl);
        free(data);
        char tmp[1200];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *f = fopen(tmp, "wb");
        int ok = f && fwrite(kept, 1, kl, f) == kl && fflush(f) == 0 && fsync(fileno(f)) == 0;
        if (f && fclose(f) != 0) ok = 0;
        free(kept);
        if (!ok || rename(tmp, path) != 0) {
            int e = errno;
            unlink(tmp);
            return ed_fail(err, "%s: cannot rewrite: %s", path, strerror(e));
        }
    }
    m->f = fopen(path, resume_step >= 0 ? "ab" : "wb");
    if (!m->f) return ed_fail(err, "%s: cannot open for writing: %s", path, strerror(errno));
    return 0;
}

void ed_metrics_close(ed_metrics *m) {
    if (m->f) fclose(m->f);
    m->f = NULL;
    ed_tb_close(m->tb);
    m->tb = NULL;
}

void metrics_write_row(ed_metrics *m, const ed_row *r) {
    if (!m->f) return;
    fprintf(m->f, "{\"type\": \"%s\"", ed_row_kind_names[r->kind]);
    for (size_t i = 0; i < ed_ncolumns; i++) {
        const ed_column *c = &ed_columns[i];
        if (c->kind != r->kind || !c->jsonl) continue;
        double x = ed_row_value(r, c);
        if (c->type == ED_COL_BOOL)
            fprintf(m->f, ", \"%s\": %s", c->jsonl, x != 0 ? "true" : "false");
        else if (!isfinite(x)) /* JSON has no NaN or Inf */
            fprintf(m->f, ", \"%s\": null", c->jsonl);
        else if (c->type == ED_COL_INT)
            fprintf(m->f, ", \"%s\": %ld", c->jsonl, (long)x);
        else
            fprintf(m->f, ", \"%s\": %.9g", c->jsonl, x);
    }
    fputs("}\n", m->f);
    fflush(m->f);
}
