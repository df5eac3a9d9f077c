/* ckpt_read.c — the public readers: options, tokenizer, model, optimizer, trainer state
 * and history, each validating what it reads against what the caller built.
 *
 * Each reader works on an open handle (ed_ckpt_open verified the file once), so a
 * resume reads options, tokenizer, weights, moments and state from one open file. On
 * failure the destination (model parameters, moments, state) may be partly
 * overwritten: callers treat a failed read as fatal for that object. */
#include "ckpt_internal.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int get_int_range(ckpt_reader *r, const char *obj, const char *name, int64_t lo, int64_t hi,
                         int64_t *v) {
    if (ckpt_get_i64(r, obj, name, v) < 0) return -1;
    if (*v < lo || *v > hi) {
        char what[600];
        snprintf(what, sizeof what, "%s attribute '%s'", obj, name);
        return ckpt_fail(r, what, "value %lld out of range [%lld, %lld]", (long long)*v, (long long)lo,
                         (long long)hi);
    }
    return 0;
}

static int apply_option(ckpt_reader *r, const ed_option_spec *s, ed_options *opt) {
    char *field = (char *)opt + s->offset;
    int64_t i;
    switch (s->type) {
    case ED_OPT_INT:
        if (get_int_range(r, "/config", s->name, INT_MIN, INT_MAX, &i) < 0) return -1;
        *(int *)field = (int)i;
        return 0;
    case ED_OPT_BOOL:
        if (get_int_range(r, "/config", s->name, 0, 1, &i) < 0) return -1;
        *(int *)field = (int)i;
        return 0;
    case ED_OPT_LONG:
        if (get_int_range(r, "/config", s->name, LONG_MIN, LONG_MAX, &i) < 0) return -1;
        *(long *)field = (long)i;
        return 0;
    case ED_OPT_SIZE:
        if (get_int_range(r, "/config", s->name, 0, INT64_MAX, &i) < 0) return -1;
        *(size_t *)field = (size_t)i;
        return 0;
    case ED_OPT_U64: return ckpt_get_u64(r, "/config", s->name, (uint64_t *)field);
    case ED_OPT_FLOAT: {
        double d;
        if (ckpt_get_f64(r, "/config", s->name, &d) < 0) return -1;
        *(float *)field = (float)d;
        return 0;
    }
    case ED_OPT_STR: {
        char *v;
        if (ckpt_get_str(r, "/config", s->name, &v) < 0) return -1;
        size_t n = strlen(v);
        if (n >= s->size) {
            free(v);
            char what[300];
            snprintf(what, sizeof what, "/config attribute '%s'", s->name);
            return ckpt_fail(r, what, "value longer than %zu bytes", s->size - 1);
        }
        memcpy(field, v, n + 1);
        free(v);
        return 0;
    }
    case ED_OPT_CHOICE: { /* stored by name, like the flag (also in files of every earlier version) */
        char *v;
        if (ckpt_get_str(r, "/config", s->name, &v) < 0) return -1;
        ed_error e = {{0}};
        int rc = ed_options_set(opt, s->name, v, &e);
        free(v);
        if (rc == 0) return 0;
        char what[300];
        snprintf(what, sizeof what, "/config attribute '%s'", s->name);
        return ckpt_fail(r, what, "%s", e.msg);
    }
    }
    return 0;
}

/* The model shape stored with the weights (authoritative: vocab_size comes from the
 * tokenizer that was actually built, not from the --vocab-size request). */
int ckpt_read_model_config(ckpt_reader *r, ed_model_config *c) {
    for (const ckpt_field *f = ckpt_model_fields; f->name; f++) {
        int64_t v;
        if (get_int_range(r, "/model", f->name, 1, INT_MAX, &v) < 0) return -1;
        *(int *)((char *)c + f->offset) = (int)v;
    }
    double dropout;
    if (ckpt_get_f64(r, "/model", "dropout", &dropout) < 0) return -1;
    c->dropout = (float)dropout;
    /* The architecture (format 2 files written before it existed are GPT-2s) and, for a
     * llama, its fields; a GPT-2's are zero as in ed_gpt_config. */
    c->arch = ED_ARCH_GPT2;
    c->n_kv_heads = c->tie_embeddings = 0;
    c->rope_theta = c->rms_eps = 0.0f;
    if (ckpt_has_attr(r, "/model", "arch")) {
        char *v;
        if (ckpt_get_str(r, "/model", "arch", &v) < 0) return -1;
        int a = ed_name_index(ed_arch_names, v);
        if (a < 0) {
            ckpt_fail(r, "/model attribute 'arch'", "unknown architecture '%s' (expected gpt2 or llama)", v);
            free(v);
            return -1;
        }
        free(v);
        c->arch = (ed_arch)a;
    }
    if (c->arch == ED_ARCH_LLAMA) {
        int64_t kv, tie;
        double theta, eps;
        if (get_int_range(r, "/model", "n_kv_heads", 1, INT_MAX, &kv) < 0 ||
            get_int_range(r, "/model", "tie_embeddings", 0, 1, &tie) < 0 ||
            ckpt_get_f64(r, "/model", "rope_theta", &theta) < 0 || ckpt_get_f64(r, "/model", "rms_eps", &eps) < 0)
            return -1;
        c->n_kv_heads = (int)kv;
        c->tie_embeddings = (int)tie;
        c->rope_theta = (float)theta;
        c->rms_eps = (float)eps;
    }
    char msg[256];
    if (ed_model_config_check(c, msg, sizeof msg) < 0) return ckpt_fail(r, "/model", "invalid model config: %s", msg);
    return 0;
}

int ed_ckpt_read_options(ed_ckpt *c, unsigned uses, ed_options *opt, ed_error *err) {
    ckpt_reader *r = ckpt_use(c, err);
    int rc = 0;
    if (!ckpt_exists(r, "/config")) rc = ckpt_fail(r, "/config", "missing group");
    size_t n = 0;
    const ed_option_spec *tab = ed_option_table(&n);
    /* Attributes unknown to this version are ignored and options missing from the file
     * keep their current value: both happen across versions and neither is an error. */
    for (size_t i = 0; rc == 0 && i < n && tab[i].name; i++)
        if ((tab[i].ckpt & uses) && ckpt_has_attr(r, "/config", tab[i].name)) rc = apply_option(r, &tab[i], opt);
    if (rc == 0) rc = ckpt_read_model_config(r, &opt->model);
    return rc;
}

ed_tokenizer *ed_ckpt_read_tokenizer(ed_ckpt *c, ed_error *err) {
    ckpt_reader *r = ckpt_use(c, err);
    char *data = NULL;
    size_t len = 0;
    ed_tokenizer *t = NULL;
    if (ckpt_read_bytes(r, "/tokenizer", &data, &len) == 0) {
        ed_error e = {{0}};
        t = ed_tok_deserialize(data, len, &e);
        if (!t) ckpt_fail(r, "/tokenizer", "%s", e.msg);
    }
    free(data);
    return t;
}

static int check_finite(ckpt_reader *r, const char *dpath, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return ckpt_fail(r, dpath, "%s at element %zu (the run that wrote it diverged?)",
                             isnan(x[i]) ? "NaN" : "Inf", i);
    return 0;
}

/* Every dataset of group gpath must be one of the model's tensors: an extra one means
 * the checkpoint has a different architecture (e.g. more layers). */
static int check_no_extra(ckpt_reader *r, const char *gpath, const ed_gpt *m) {
    size_t n;
    if (ckpt_group_count(r, gpath, &n) < 0) return -1;
    if (n == (size_t)ed_gpt_num_tensors(m)) return 0; /* equal count + each found = same set */
    for (size_t i = 0; i < n; i++) {
        char *name;
        if (ckpt_group_name(r, gpath, i, &name) < 0) return -1;
        int known = ed_gpt_find_tensor(m, name) != NULL;
        if (!known) {
            char what[600];
            snprintf(what, sizeof what, "%s/%s", gpath, name);
            free(name);
            return ckpt_fail(r, what, "not a parameter of the configured model (different architecture?)");
        }
        free(name);
    }
    return 0;
}

/* The shape attributes must match the model exactly: n_heads, for one, changes the
 * computation without changing any tensor's shape. */
static int check_model_attrs(ckpt_reader *r, const ed_gpt *m) {
    ed_model_config c;
    if (ckpt_read_model_config(r, &c) < 0) return -1;
    const ed_model_config *g = ed_gpt_config(m);
    for (const ckpt_field *f = ckpt_model_fields; f->name; f++) {
        int have = *(const int *)((const char *)&c + f->offset), want = *(const int *)((const char *)g + f->offset);
        if (have != want)
            return ckpt_fail(r, "/model", "checkpoint has %s = %d but the model was created with %d", f->name, have,
                             want);
    }
    /* a llama's fields change the computation, some without changing a shape */
    if (c.arch != g->arch)
        return ckpt_fail(r, "/model", "checkpoint has arch = %s but the model was created with %s",
                         ed_arch_names[c.arch], ed_arch_names[g->arch]);
    if (c.arch == ED_ARCH_LLAMA &&
        (c.n_kv_heads != g->n_kv_heads || c.tie_embeddings != g->tie_embeddings || c.rope_theta != g->rope_theta ||
         c.rms_eps != g->rms_eps))
        return ckpt_fail(r, "/model",
                         "checkpoint has n_kv_heads %d, tie_embeddings %d, rope_theta %g, rms_eps %g but the model "
                         "was created with %d, %d, %g, %g",
                         c.n_kv_heads, c.tie_embeddings, (double)c.rope_theta, (double)c.rms_eps, g->n_kv_heads,
                         g->tie_embeddings, (double)g->rope_theta, (double)g->rms_eps);
    return 0;
}

int ed_ckpt_read_model(ed_ckpt *c, ed_gpt *m, ed_error *err) {
    ckpt_reader *r = ckpt_use(c, err);
    int rc = 0;
    if (!ckpt_exists(r, "/model")) rc = ckpt_fail(r, "/model", "missing group");
    if (rc == 0) rc = check_model_attrs(r, m);
    if (rc == 0) rc = check_no_extra(r, "/model", m);
    float *p = ed_gpt_params(m);
    const ed_tensor *t = ed_gpt_tensors(m);
    for (int i = 0; rc == 0 && i < ed_gpt_num_tensors(m); i++) {
        char dpath[128];
        snprintf(dpath, sizeof dpath, "/model/%s", t[i].name);
        hsize_t dims[2];
        int nd = ckpt_tensor_dims(&t[i], dims);
        rc = ckpt_read_f32(r, dpath, p + t[i].offset, nd, dims);
        if (rc == 0) rc = check_finite(r, dpath, p + t[i].offset, t[i].numel);
    }
    return rc;
}

/* Reads the part of group gpath (moments laid out like the parameters) that falls in
 * [lo, hi) into dst (indexed from lo). Tensors wholly inside the slice are read in place;
 * the at most two that straddle a boundary go through a scratch buffer. */
static int read_moment_slice(ckpt_reader *r, const char *gpath, const ed_gpt *m, size_t lo, size_t hi, float *dst) {
    if (check_no_extra(r, gpath, m) < 0) return -1;
    const ed_tensor *t = ed_gpt_tensors(m);
    for (int i = 0; i < ed_gpt_num_tensors(m); i++) {
        size_t a = t[i].offset, b = t[i].offset + t[i].numel;
        if (b <= lo || a >= hi) continue;
        char dpath[160];
        snprintf(dpath, sizeof dpath, "%s/%s", gpath, t[i].name);
        hsize_t dims[2];
        int nd = ckpt_tensor_dims(&t[i], dims);
        int whole = a >= lo && b <= hi;
        float *buf = whole ? dst + (a - lo) : ed_alloc_floats(t[i].numel);
        int rc = ckpt_read_f32(r, dpath, buf, nd, dims);
        if (rc == 0) rc = check_finite(r, dpath, buf, t[i].numel);
        if (rc == 0 && !whole) {
            size_t from = a > lo ? a : lo, to = b < hi ? b : hi;
            memcpy(dst + (from - lo), buf + (from - a), (to - from) * sizeof *buf);
        }
        if (!whole) free(buf);
        if (rc < 0) return -1;
    }
    return 0;
}

int ed_ckpt_read_optim(ed_ckpt *c, ed_optim *o, const ed_gpt *m, ed_error *err) {
    ckpt_reader *r = ckpt_use(c, err);
    int rc = 0;
    char *kind = NULL;
    int64_t step = 0;
    if (!ckpt_exists(r, "/optimizer")) rc = ckpt_fail(r, "/optimizer", "missing group (a model-only checkpoint cannot be resumed: start a run from it with --init-from)");
    if (rc == 0) rc = ckpt_get_str(r, "/optimizer", "kind", &kind);
    if (rc == 0) {
        const char *want = ed_opt_kind_names[o->kind];
        if (strcmp(kind, want) != 0)
            rc = ckpt_fail(r, "/optimizer", "optimizer is '%.32s' in the checkpoint but '%s' is configured", kind, want);
    }
    if (rc == 0) rc = get_int_range(r, "/optimizer", "step", 0, LONG_MAX, &step);
    if (rc == 0 && o->hi > ed_gpt_num_params(m))
        rc = ckpt_fail(r, "/optimizer", "slice [%zu, %zu) exceeds the model's %zu parameters", o->lo, o->hi,
                       ed_gpt_num_params(m));
    if (rc == 0) rc = read_moment_slice(r, "/optimizer/m", m, o->lo, o->hi, o->m);
    if (rc == 0 && o->kind == ED_OPT_ADAMW) rc = read_moment_slice(r, "/optimizer/v", m, o->lo, o->hi, o->v);
    if (rc == 0) o->step = (long)step;
    free(kind);
    return rc;
}

/* The number of rows of kind k: the length of its step column (the table lists it before
 * the kind's other columns, so it is read first). */
static size_t kind_rows(const ed_history *h, ed_row_kind k) {
    for (size_t i = 0; i < ed_ncolumns; i++)
        if (ed_columns[i].kind == k && ed_columns[i].kept && ed_columns[i].value == offsetof(ed_row, step))
            return h->col[i].n;
    return 0;
}

static int read_history(ckpt_reader *r, ed_history *h) {
    for (size_t i = 0; i < ed_ncolumns; i++) {
        const ed_column *c = &ed_columns[i];
        if (!c->kept) continue;
        ed_dcol *col = &h->col[i];
        if (c->since > r->format_version) { /* newer than the file: an empty column */
            free(col->v);
            memset(col, 0, sizeof *col);
            continue;
        }
        char dpath[96];
        snprintf(dpath, sizeof dpath, "/history/%s", c->kept);
        if (c->since == ED_SINCE_ANY && !ckpt_exists(r, dpath)) {
            /* written before the column existed: that run did not record it */
            free(col->v);
            memset(col, 0, sizeof *col);
            for (size_t n = kind_rows(h, c->kind); n > 0; n--) ed_dcol_push(col, NAN);
            continue;
        }
        double *v;
        size_t n;
        if (ckpt_read_f64_vec(r, dpath, &v, &n) < 0) return -1;
        free(col->v);
        col->v = v;
        col->n = n;
        col->cap = n ? n : 1;
    }
    return 0;
}

int ed_ckpt_read_state(ed_ckpt *c, ed_train_state *s, ed_history *h, ed_error *err) {
    ckpt_reader *r = ckpt_use(c, err);
    int rc = 0;
    if (!ckpt_exists(r, "/trainer")) rc = ckpt_fail(r, "/trainer", "missing group (a model-only checkpoint cannot be resumed: start a run from it with --init-from)");
    for (const ckpt_field *f = ckpt_state_fields; rc == 0 && f->name; f++) {
        if (f->since > r->format_version) continue; /* newer than the file: the caller's value stays */
        if (f->since == ED_SINCE_ANY && !ckpt_has_attr(r, "/trainer", f->name)) continue; /* ... the same */
        char *p = (char *)s + f->offset;
        int64_t i;
        switch (f->type) {
        case CKPT_F_INT:
            rc = get_int_range(r, "/trainer", f->name, 0, INT_MAX, &i);
            if (rc == 0) *(int *)p = (int)i;
            break;
        case CKPT_F_LONG:
            rc = get_int_range(r, "/trainer", f->name, 0, LONG_MAX, &i);
            if (rc == 0) *(long *)p = (long)i;
            break;
        case CKPT_F_U64: rc = ckpt_get_u64(r, "/trainer", f->name, (uint64_t *)p); break;
        case CKPT_F_DOUBLE: rc = ckpt_get_f64(r, "/trainer", f->name, (double *)p); break;
        }
    }
    if (rc == 0 && s->world_size < 1) rc = ckpt_fail(r, "/trainer attribute 'world_size'", "must be >= 1");
    /* Format 1 also held /trainer/dropout_rng, a generator the trainer never drew from:
     * it is ignored (dropout masks depend on seed and step only). */
    if (rc == 0 && h) rc = read_history(r, h);
    return rc;
}
