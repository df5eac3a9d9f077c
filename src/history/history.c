/* history.c — the training history (history.h): growable columns and the JSON + CSV
 * files rank 0 rewrites as training goes. Both files are written to <path>.tmp and renamed,
 * so a reader (a plotting script, a person with `cat`) never sees half a file. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history_internal.h"

void ed_dcol_push(ed_dcol *c, double x) {
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->v = ed_realloc(c->v, c->cap * sizeof *c->v);
    }
    c->v[c->n++] = x;
}

void ed_history_free(ed_history *h) {
    for (size_t i = 0; i < ED_HISTORY_MAX_COLUMNS; i++) free(h->col[i].v);
    memset(h, 0, sizeof *h);
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

static void csv_cell(FILE *f, const ed_dcol *c, ed_col_type type, size_t i) {
    if (i < c->n && isfinite(c->v[i])) {
        if (type == ED_COL_INT)
            fprintf(f, "%ld", (long)c->v[i]);
        else
            fprintf(f, "%.9g", c->v[i]);
    }
}

/* One line per epoch, the kept epoch columns in table order. */
static char *history_csv(const ed_history *h) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ED_CHECK(f, "open_memstream failed");
    size_t rows = 0;
    const char *sep = "";
    for (size_t k = 0; k < ed_ncolumns; k++) {
        const ed_column *c = &ed_columns[k];
        if (c->kind != ED_ROW_EPOCH || !c->kept) continue;
        fprintf(f, "%s%s", sep, c->json);
        sep = ",";
        if (h->col[k].n > rows) rows = h->col[k].n;
    }
    fputc('\n', f);
    for (size_t i = 0; i < rows; i++) {
        sep = "";
        for (size_t k = 0; k < ed_ncolumns; k++) {
            const ed_column *c = &ed_columns[k];
            if (c->kind != ED_ROW_EPOCH || !c->kept) continue;
            fputs(sep, f);
            csv_cell(f, &h->col[k], c->type, i);
            sep = ",";
        }
        fputc('\n', f);
    }
    fclose(f);
    return buf;
}

int ed_history_write(const ed_history *h, const char *json_path, const char *config_json, ed_error *err) {
    json_t *root = json_object();
    /* The epoch columns at the top level (the seed pipeline's keys, so scripts written for
     * it keep working), then one object per other row kind. */
    json_t *obj[ED_ROW_KINDS];
    for (int k = 0; k < ED_ROW_KINDS; k++) {
        obj[k] = ed_row_kind_json[k] ? json_object() : root;
    }
    for (size_t i = 0; i < ed_ncolumns; i++) {
        const ed_column *c = &ed_columns[i];
        if (c->kept) json_object_set_new(obj[c->kind], c->json, column_json(&h->col[i]));
    }
    for (int k = 0; k < ED_ROW_KINDS; k++)
        if (ed_row_kind_json[k]) json_object_set_new(root, ed_row_kind_json[k], obj[k]);
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
