/* hf_weights.c — the weight files of a Hugging Face model directory: one
 * model.safetensors or the shards of model.safetensors.index.json (hf_internal.h). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hf_internal.h"

void hf_index_files_free(char **files, int n) {
    for (int i = 0; i < n; i++) free(files[i]);
    free(files);
}

/* A shard name must be a plain file of the directory: no path, not "." or "..". */
static int plain_name(const char *s) {
    return s[0] && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

int hf_index_files(const char *text, size_t len, const char *origin, char ***files, int *n, ed_error *err) {
    *files = NULL;
    *n = 0;
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return ed_fail(err, "%s:%d: %s", origin, je.line, je.text);
    const json_t *map = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
    int rc = 0;
    if (!json_is_object(root))
        rc = ed_fail(err, "%s: not a JSON object", origin);
    else if (!json_is_object(map))
        rc = ed_fail(err, "%s: \"weight_map\" is missing or not an object", origin);
    else if (json_object_size(map) == 0)
        rc = ed_fail(err, "%s: \"weight_map\" names no tensor", origin);
    const char *key;
    const json_t *v;
    if (rc == 0) {
        *files = ed_calloc(json_object_size(map), sizeof **files);
        json_object_foreach((json_t *)map, key, v) {
            if (!json_is_string(v) || !plain_name(json_string_value(v))) {
                rc = ed_fail(err, "%s: weight_map[\"%s\"] is not a file name of the model directory", origin, key);
                break;
            }
            int seen = 0;
            for (int i = 0; i < *n && !seen; i++) seen = strcmp((*files)[i], json_string_value(v)) == 0;
            if (!seen) (*files)[(*n)++] = strdup(json_string_value(v));
        }
    }
    json_decref(root);
    if (rc != 0) {
        hf_index_files_free(*files, *n);
        *files = NULL;
        *n = 0;
    }
    return rc;
}

void hf_weights_close(hf_weights *w) {
    for (int i = 0; i < w->n; i++) {
        ed_st_free(&w->st[i]);
        free(w->path[i]);
        free(w->used[i]);
    }
    free(w->st);
    free(w->path);
    free(w->used);
    free(w->index);
    memset(w, 0, sizeof *w);
}

static char *join(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = ed_malloc(n);
    snprintf(p, n, "%s/%s", dir, file);
    return p;
}

static int is_file(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 && S_ISREG(s.st_mode);
}

/* Loads files[0..n) of dir into w (w->n counts those loaded, for hf_weights_close). */
static int load_files(hf_weights *w, const char *dir, char **files, int n, ed_error *err) {
    w->st = ed_calloc((size_t)n, sizeof *w->st);
    w->path = ed_calloc((size_t)n, sizeof *w->path);
    w->used = ed_calloc((size_t)n, sizeof *w->used);
    for (int i = 0; i < n; i++) {
        char *p = join(dir, files[i]);
        if (!is_file(p)) {
            int rc = w->index ? ed_fail(err, "%s: shard \"%s\" does not exist", w->index, files[i])
                              : ed_fail(err, "%s: no such file", p);
            free(p);
            return rc;
        }
        if (ed_st_load(&w->st[i], p, err) != 0) {
            free(p);
            return -1;
        }
        w->path[i] = p;
        w->used[i] = ed_calloc((size_t)w->st[i].n + 1, 1);
        w->n = i + 1;
    }
    return 0;
}

/* Every tensor of the index's map is in the shard the map names. */
static int check_map(hf_weights *w, char **files, const char *text, size_t len, ed_error *err) {
    json_t *root = json_loadb(text, len, 0, NULL);
    const json_t *map = json_object_get(root, "weight_map"), *v;
    const char *key;
    int rc = 0;
    json_object_foreach((json_t *)map, key, v) {
        int f = 0;
        while (strcmp(files[f], json_string_value(v)) != 0) f++;
        if (!ed_st_find(&w->st[f], key)) {
            rc = ed_fail(err, "%s: tensor \"%s\" is not in shard \"%s\" as the weight_map says", w->index, key,
                         files[f]);
            break;
        }
    }
    json_decref(root);
    return rc;
}

int hf_weights_open(hf_weights *w, const char *dir, ed_error *err) {
    memset(w, 0, sizeof *w);
    char *single = join(dir, "model.safetensors"), *index = join(dir, "model.safetensors.index.json");
    int rc;
    if (is_file(single) || !is_file(index)) {
        char *files[1] = {"model.safetensors"};
        rc = load_files(w, dir, files, 1, err);
        free(index);
    } else {
        w->index = index;
        char *text = NULL, **files = NULL;
        size_t len = 0;
        int n = 0;
        rc = ed_read_file(index, &text, &len, err);
        if (rc == 0) rc = hf_index_files(text, len, index, &files, &n, err);
        if (rc == 0) rc = load_files(w, dir, files, n, err);
        if (rc == 0) rc = check_map(w, files, text, len, err);
        hf_index_files_free(files, n);
        free(text);
    }
    free(single);
    if (rc != 0) hf_weights_close(w);
    return rc;
}

const ed_st_tensor *hf_find(hf_weights *w, const char *prefix, const char *name, int *shard) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < w->n; i++) {
            const ed_st_tensor *t = ed_st_find(&w->st[i], pass ? name : full);
            if (!t) continue;
            w->used[i][t - w->st[i].t] = 1;
            if (shard) *shard = i;
            return t;
        }
    return NULL;
}

int hf_take(hf_weights *w, const char *prefix, const char *name, int rows, int cols, int transpose, float *dst,
            ed_error *err) {
    int f = 0;
    const ed_st_tensor *t = hf_find(w, prefix, name, &f);
    if (!t) {
        if (!prefix[0]) return ed_fail(err, "%s: tensor \"%s\" is missing", w->index ? w->index : w->path[0], name);
        return ed_fail(err, "%s: tensor \"%s%s\" (or \"%s\") is missing", w->index ? w->index : w->path[0], prefix,
                       name, name);
    }
    int ok = cols ? t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols : t->ndim == 1 && t->shape[0] == rows;
    if (!ok) {
        char got[96] = "";
        for (int k = 0; k < t->ndim && strlen(got) < 70; k++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", k ? ", " : "", (long long)t->shape[k]);
        if (cols)
            return ed_fail(err, "%s: tensor \"%s\" has shape [%s], config.json implies [%d, %d]", w->path[f], t->name,
                           got, rows, cols);
        return ed_fail(err, "%s: tensor \"%s\" has shape [%s], config.json implies [%d]", w->path[f], t->name, got,
                       rows);
    }
    if (!transpose) return ed_st_read_f32(&w->st[f], t, dst, w->path[f], err);
    float *tmp = ed_alloc_floats(t->numel);
    int rc = ed_st_read_f32(&w->st[f], t, tmp, w->path[f], err);
    for (size_t i = 0; rc == 0 && i < (size_t)rows; i++)
        for (size_t j = 0; j < (size_t)cols; j++) dst[j * rows + i] = tmp[i * cols + j];
    free(tmp);
    return rc;
}

int hf_weights_check_used(const hf_weights *w, int (*skip)(const char *name), const char *model, ed_error *err) {
    for (int f = 0; f < w->n; f++)
        for (int i = 0; i < w->st[f].n; i++) {
            const char *n = w->st[f].t[i].name;
            if (!w->used[f][i] && !(skip && skip(n)))
                return ed_fail(err, "%s: unexpected tensor \"%s\" (not part of %s)", w->path[f], n, model);
        }
    return 0;
}
