/* ckpt_print.c — ed_ckpt_print: a readable dump of everything a checkpoint stores.
 * Generic over attributes (prints whatever /config and /trainer hold, so it needs no
 * change when options are added) and reads no tensor data except history tails. */
#include "ckpt_internal.h"

#include <stdlib.h>
#include <string.h>

/* Prints every scalar attribute of obj as "  name = value", in name order. */
static int print_attrs(ckpt_reader *r, const char *obj, FILE *out) {
    H5O_info_t info;
    if (H5Oget_info_by_name(r->file, obj, &info, H5P_DEFAULT) < 0) return ckpt_fail(r, obj, "cannot list attributes");
    for (hsize_t i = 0; i < info.num_attrs; i++) {
        char name[256];
        if (H5Aget_name_by_idx(r->file, obj, H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT) < 0)
            return ckpt_fail(r, obj, "cannot list attributes");
        hid_t a = H5Aopen_by_name(r->file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
        if (a < 0) return ckpt_fail(r, obj, "cannot open attribute '%s'", name);
        hid_t t = H5Aget_type(a);
        H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
        H5T_sign_t sign = cls == H5T_INTEGER ? H5Tget_sign(t) : H5T_SGN_ERROR;
        if (t >= 0) H5Tclose(t);
        H5Aclose(a);
        int rc = 0;
        if (cls == H5T_INTEGER && sign == H5T_SGN_NONE) {
            uint64_t v;
            if ((rc = ckpt_get_u64(r, obj, name, &v)) == 0) fprintf(out, "  %-24s = %llu\n", name, (unsigned long long)v);
        } else if (cls == H5T_INTEGER) {
            int64_t v;
            if ((rc = ckpt_get_i64(r, obj, name, &v)) == 0) fprintf(out, "  %-24s = %lld\n", name, (long long)v);
        } else if (cls == H5T_FLOAT) {
            double v;
            if ((rc = ckpt_get_f64(r, obj, name, &v)) == 0) fprintf(out, "  %-24s = %.9g\n", name, v);
        } else if (cls == H5T_STRING) {
            char *v;
            if ((rc = ckpt_get_str(r, obj, name, &v)) == 0) fprintf(out, "  %-24s = %s\n", name, v);
            free(v);
        } else {
            fprintf(out, "  %-24s = (unsupported type)\n", name);
        }
        if (rc < 0) return -1;
    }
    return 0;
}

static int print_shapes(ckpt_reader *r, const char *gpath, FILE *out) {
    size_t n;
    if (ckpt_group_count(r, gpath, &n) < 0) return -1;
    for (size_t i = 0; i < n; i++) {
        char *name;
        if (ckpt_group_name(r, gpath, i, &name) < 0) return -1;
        char dpath[512];
        snprintf(dpath, sizeof dpath, "%s/%s", gpath, name);
        hid_t d = H5Dopen2(r->file, dpath, H5P_DEFAULT);
        if (d >= 0) {
            hid_t s = H5Dget_space(d);
            hsize_t dims[H5S_MAX_RANK];
            int nd = s >= 0 ? H5Sget_simple_extent_dims(s, dims, NULL) : -1;
            fprintf(out, "  %-32s [", name);
            for (int k = 0; k < nd; k++) fprintf(out, "%s%llu", k ? ", " : "", (unsigned long long)dims[k]);
            fprintf(out, "]\n");
            if (s >= 0) H5Sclose(s);
            H5Dclose(d);
        } else {
            H5Eclear2(H5E_DEFAULT);
        }
        free(name);
    }
    return 0;
}

int ed_ckpt_print(ed_ckpt *c, FILE *out, ed_error *err) {
    ed_ckpt_info info;
    if (ed_ckpt_read_info(c, &info, err) < 0) return -1;
    ckpt_reader *r = ckpt_use(c, err);
    fprintf(out, "checkpoint %s\n", ed_ckpt_path(c));
    fprintf(out, "  format %s v%d, created %s by expert-dist %s (%s)\n", ED_CKPT_FORMAT, info.format_version,
            info.created, info.expert_dist_version, info.git_commit);
    fprintf(out, "  model: %s, vocab %d, d_model %d, %d layers, %d heads, d_ff %d, max_seq_len %d, %ld parameters\n",
            ed_arch_names[info.model.arch], info.model.vocab_size, info.model.d_model, info.model.n_layers,
            info.model.n_heads, info.model.d_ff, info.model.max_seq_len, info.num_params);
    if (info.model.arch == ED_ARCH_LLAMA)
        fprintf(out, "  llama: %d key/value heads, %s embeddings, rope_theta %g, rms_eps %g\n", info.model.n_kv_heads,
                info.model.tie_embeddings ? "tied" : "untied", (double)info.model.rope_theta,
                (double)info.model.rms_eps);
    int rc = 0;
    fprintf(out, "[config]\n");
    if (ckpt_exists(r, "/config")) rc = print_attrs(r, "/config", out);
    if (rc == 0) {
        fprintf(out, "[model]\n");
        rc = print_shapes(r, "/model", out);
    }
    if (rc == 0 && info.has_optimizer) {
        fprintf(out, "[optimizer]\n");
        rc = print_attrs(r, "/optimizer", out);
    }
    if (rc == 0 && info.has_trainer) {
        fprintf(out, "[trainer]\n");
        rc = print_attrs(r, "/trainer", out);
    }
    if (rc == 0 && info.has_history) {
        fprintf(out, "[history]\n");
        for (size_t i = 0; rc == 0 && i < ed_ncolumns; i++) {
            const char *name = ed_columns[i].kept;
            if (!name) continue;
            char dpath[96];
            snprintf(dpath, sizeof dpath, "/history/%s", name);
            double *v;
            size_t n;
            if (!ckpt_exists(r, dpath)) continue;
            if ((rc = ckpt_read_f64_vec(r, dpath, &v, &n)) < 0) break;
            if (n)
                fprintf(out, "  %-24s %zu values, last %.6g\n", name, n, v[n - 1]);
            else
                fprintf(out, "  %-24s empty\n", name);
            free(v);
        }
    }
    if (rc == 0 && info.has_tokenizer) {
        fprintf(out, "[tokenizer]\n");
        rc = print_attrs(r, "/tokenizer", out);
    }
    return rc;
}
