/* history.c — the training history (history.h): growable columns and the JSON + CSV
 * files rank 0 rewrites as training goes. Both files are written to <path>.tmp and renamed,
 * so a reader (a plotting script, a person with `cat`) never sees half a file. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expert/history.h"

void ed_dcol_push(ed_dcol *c, double x) {
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->v = ed_realloc(c->v, c->cap * sizeof *c->v);
    }
    c->v[c->n++] = x;
}

static void dcol_free(ed_dcol *c) {
    free(c->v);
    memset(c, 0, sizeof *c);
}

void ed_history_free(ed_history *h) {
    ed_dcol *cols[] = {&h->epoch, &h->train_loss, &h->val_loss, &h->perplexity, &h->val_accuracy,
                       &h->lr, &h->epoch_seconds, &h->log_step, &h->log_epoch, &h->log_loss,
                       &h->log_lr, &h->log_grad_norm, &h->log_tokens_per_s, &h->log_elapsed,
                       &h->eval_step, &h->eval_epoch, &h->eval_loss, &h->eval_perplexity, &h->eval_accuracy};
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) dcol_free(cols[i]);
}

/* JSON has no NaN: a missing value (no validation set) becomes null. */
static json_t *column_json(const ed_dcol *c) {
    json_t *a = json_array();
    for (size_t i = 0; i < c->n; i++)
        json_array_append_new(a, isfinite(c->v[i]) ? json_real(c->v[i]) : json_null());
    return a;
}

/* Through the common atomic write (common.h), so a crash never leaves half a file. */
static int write_atomic(const char *path, const char *text, ed_error *err) {
    return ed_write_file_atomic(path, text, strlen(text), "history", err);
}

static void csv_cell(FILE *f, const ed_dcol *c, size_t i, const char *sep) {
    if (i < c->n && isfinite(c->v[i])) fprintf(f, "%.9g", c->v[i]);
    fputs(sep, f);
}

static char *history_csv(const ed_history *h) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ED_CHECK(f, "open_memstream failed");
    fputs("epoch,train_loss,val_loss,perplexity,val_accuracy,lr,epoch_seconds\n", f);
    for (size_t i = 0; i < h->epoch.n; i++) {
        fprintf(f, "%d,", (int)h->epoch.v[i]);
        csv_cell(f, &h->train_loss, i, ",");
        csv_cell(f, &h->val_loss, i, ",");
        csv_cell(f, &h->perplexity, i, ",");
        csv_cell(f, &h->val_accuracy, i, ",");
        csv_cell(f, &h->lr, i, ",");
        csv_cell(f, &h->epoch_seconds, i, "\n");
    }
    fclose(f);
    return buf;
}

int ed_history_write(const ed_history *h, const char *json_path, const char *config_json, ed_error *err) {
    json_t *root = json_object();
    /* The seed pipeline's keys first, so scripts written for it keep working. */
    json_object_set_new(root, "train_loss", column_json(&h->train_loss));
    json_object_set_new(root, "val_loss", column_json(&h->val_loss));
    json_object_set_new(root, "perplexity", column_json(&h->perplexity));
    json_object_set_new(root, "val_accuracy", column_json(&h->val_accuracy));
    json_object_set_new(root, "lr", column_json(&h->lr));
    json_object_set_new(root, "epoch", column_json(&h->epoch));
    json_object_set_new(root, "epoch_seconds", column_json(&h->epoch_seconds));
    json_t *steps = json_object();
    json_object_set_new(steps, "step", column_json(&h->log_step));
    json_object_set_new(steps, "epoch", column_json(&h->log_epoch));
    json_object_set_new(steps, "loss", column_json(&h->log_loss));
    json_object_set_new(steps, "lr", column_json(&h->log_lr));
    json_object_set_new(steps, "grad_norm", column_json(&h->log_grad_norm));
    json_object_set_new(steps, "tokens_per_s", column_json(&h->log_tokens_per_s));
    json_object_set_new(steps, "elapsed", column_json(&h->log_elapsed));
    json_object_set_new(root, "steps", steps);
    json_t *evals = json_object();
    json_object_set_new(evals, "step", column_json(&h->eval_step));
    json_object_set_new(evals, "epoch", column_json(&h->eval_epoch));
    json_object_set_new(evals, "val_loss", column_json(&h->eval_loss));
    json_object_set_new(evals, "perplexity", column_json(&h->eval_perplexity));
    json_object_set_new(evals, "accuracy", column_json(&h->eval_accuracy));
    json_object_set_new(root, "evals", evals);
    if (config_json) {
        json_error_t jerr;
        json_t *cfg = json_loads(config_json, 0, &jerr);
        if (!cfg) {
            json_decref(root);
            return ed_fail(err, "%s: config is not valid JSON: %s", json_path, jerr.text);
        }
        json_object_set_new(root, "config", cfg);
    }
    char *text = json_dumps(root, JSON_PRESERVE_ORDER | JSON_INDENT(1) | JSON_REAL_PRECISION(9));
    json_decref(root);
    ED_CHECK(text, "cannot serialize the history");
    /* One trailing newline makes the file friendlier to shell tools. */
    size_t tl = strlen(text);
    char *withnl = ed_malloc(tl + 2);
    memcpy(withnl, text, tl);
    memcpy(withnl + tl, "\n", 2);
    free(text);
    int rc = write_atomic(json_path, withnl, err);
    free(withnl);
    if (rc != 0) return -1;

    /* CSV next to the JSON: history.json -> history.csv, anything else -> <path>.csv */
    size_t n = strlen(json_path);
    char *csv_path = ed_malloc(n + 5);
    if (n > 5 && strcmp(json_path + n - 5, ".json") == 0)
        snprintf(csv_path, n + 5, "%.*s.csv", (int)(n - 5), json_path);
    else
        snprintf(csv_path, n + 5, "%s.csv", json_path);
    char *csv = history_csv(h);
    rc = write_atomic(csv_path, csv, err);
    free(csv);
    free(csv_path);
    return rc;
}
