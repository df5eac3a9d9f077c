/* safetensors.c — parsing and writing the safetensors format (include/expert/safetensors.h).
 * The parser validates in one pass over the header and one sort of the byte ranges, and
 * never touches the data buffer beyond what the header has been proven to describe. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "expert/safetensors.h"

static const struct {
    const char *name;
    size_t size;
} DTYPES[] = {[ED_ST_F32] = {"F32", 4}, [ED_ST_F16] = {"F16", 2}, [ED_ST_BF16] = {"BF16", 2},
              [ED_ST_F64] = {"F64", 8}, [ED_ST_I64] = {"I64", 8}, [ED_ST_I32] = {"I32", 4},
              [ED_ST_I16] = {"I16", 2}, [ED_ST_I8] = {"I8", 1},   [ED_ST_U8] = {"U8", 1},
              [ED_ST_BOOL] = {"BOOL", 1}};
enum { N_DTYPES = sizeof DTYPES / sizeof DTYPES[0] };

const char *ed_st_dtype_name(ed_st_dtype d) { return (unsigned)d < N_DTYPES ? DTYPES[d].name : "?"; }

void ed_st_free(ed_safetensors *st) {
    for (int i = 0; i < st->n; i++) free(st->t[i].name);
    free(st->t);
    free(st->owned);
    memset(st, 0, sizeof *st);
}

/* A JSON integer that is >= 0, as size_t; -1 otherwise. */
static int get_size(const json_t *v, size_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return -1;
    *out = (size_t)json_integer_value(v);
    return 0;
}

/* One header entry into t; returns -1 with err naming the tensor. */
static int parse_entry(ed_st_tensor *t, const char *name, const json_t *e, size_t data_len, const char *origin,
                       ed_error *err) {
    if (!json_is_object(e)) return ed_fail(err, "%s: tensor \"%s\": header entry is not an object", origin, name);
    const json_t *dt = json_object_get(e, "dtype"), *sh = json_object_get(e, "shape"),
                 *off = json_object_get(e, "data_offsets");
    if (!dt || !sh || !off || json_object_size(e) != 3)
        return ed_fail(err, "%s: tensor \"%s\": entry needs exactly dtype, shape and data_offsets", origin, name);
    if (!json_is_string(dt)) return ed_fail(err, "%s: tensor \"%s\": dtype is not a string", origin, name);
    int d = -1;
    for (int k = 0; k < N_DTYPES; k++)
        if (strcmp(json_string_value(dt), DTYPES[k].name) == 0) d = k;
    if (d < 0) return ed_fail(err, "%s: tensor \"%s\": unknown dtype \"%s\"", origin, name, json_string_value(dt));
    t->dtype = (ed_st_dtype)d;
    if (!json_is_array(sh) || json_array_size(sh) > ED_ST_MAX_DIMS)
        return ed_fail(err, "%s: tensor \"%s\": shape must be an array of at most %d sizes", origin, name,
                       ED_ST_MAX_DIMS);
    t->ndim = (int)json_array_size(sh);
    size_t numel = 1;
    for (int k = 0; k < t->ndim; k++) {
        size_t dim;
        if (get_size(json_array_get(sh, (size_t)k), &dim) != 0)
            return ed_fail(err, "%s: tensor \"%s\": shape[%d] is not a non-negative integer", origin, name, k);
        t->shape[k] = (int64_t)dim;
        if (__builtin_mul_overflow(numel, dim, &numel))
            return ed_fail(err, "%s: tensor \"%s\": shape overflows", origin, name);
    }
    t->numel = numel;
    size_t bytes;
    if (__builtin_mul_overflow(numel, DTYPES[d].size, &bytes))
        return ed_fail(err, "%s: tensor \"%s\": shape overflows", origin, name);
    if (!json_is_array(off) || json_array_size(off) != 2 || get_size(json_array_get(off, 0), &t->begin) != 0 ||
        get_size(json_array_get(off, 1), &t->end) != 0)
        return ed_fail(err, "%s: tensor \"%s\": data_offsets must be [begin, end], non-negative integers", origin,
                       name);
    if (t->begin > t->end || t->end > data_len)
        return ed_fail(err, "%s: tensor \"%s\": data_offsets [%zu, %zu] outside the %zu-byte data buffer", origin,
                       name, t->begin, t->end, data_len);
    if (t->end - t->begin != bytes)
        return ed_fail(err, "%s: tensor \"%s\": %zu bytes at data_offsets, but %s x %zu elements need %zu", origin,
                       name, t->end - t->begin, DTYPES[d].name, numel, bytes);
    return 0;
}

static int by_begin(const void *a, const void *b) {
    const ed_st_tensor *x = *(const ed_st_tensor *const *)a, *y = *(const ed_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

int ed_st_parse(ed_safetensors *st, const unsigned char *b, size_t len, const char *origin, ed_error *err) {
    memset(st, 0, sizeof *st);
    if (len < 8) return ed_fail(err, "%s: %zu bytes: too short for a safetensors file (8-byte header length)", origin, len);
    uint64_t n = 0;
    for (int k = 7; k >= 0; k--) n = n << 8 | b[k];
    if (n > len - 8)
        return ed_fail(err, "%s: header length %llu is longer than the file (%zu bytes after the length)", origin,
                       (unsigned long long)n, len - 8);
    if (n > ED_ST_MAX_HEADER) return ed_fail(err, "%s: header length %llu above the %u-byte limit", origin,
                                             (unsigned long long)n, ED_ST_MAX_HEADER);
    if (n < 2 || b[8] != '{') return ed_fail(err, "%s: byte 8: the header is not a JSON object", origin);
    json_error_t je;
    json_t *root = json_loadb((const char *)b + 8, (size_t)n, JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &je);
    if (!root) return ed_fail(err, "%s: header byte %d: %s", origin, 8 + je.position, je.text);
    /* anything after the JSON value must be padding spaces */
    for (size_t i = 8 + (size_t)je.position; i < 8 + n; i++)
        if (b[i] != ' ') {
            json_decref(root);
            return ed_fail(err, "%s: byte %zu: junk after the header JSON", origin, i);
        }
    int rc = 0;
    if (!json_is_object(root)) {
        rc = ed_fail(err, "%s: the header is not a JSON object", origin);
        goto out;
    }
    st->data = b + 8 + n;
    st->data_len = len - 8 - (size_t)n;
    st->t = ed_calloc(json_object_size(root) + 1, sizeof *st->t);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            const char *mk;
            json_t *mv;
            if (!json_is_object(val)) {
                rc = ed_fail(err, "%s: __metadata__ is not an object", origin);
                goto out;
            }
            json_object_foreach(val, mk, mv) if (!json_is_string(mv)) {
                rc = ed_fail(err, "%s: __metadata__ \"%s\" is not a string", origin, mk);
                goto out;
            }
            continue;
        }
        ed_st_tensor *t = &st->t[st->n];
        t->name = ed_strdup(key);
        st->n++;
        if (parse_entry(t, key, val, st->data_len, origin, err) != 0) {
            rc = -1;
            goto out;
        }
    }
    /* the byte ranges tile the buffer: sorted, each starts where the last ended */
    const ed_st_tensor **s = ed_malloc(((size_t)st->n + 1) * sizeof *s);
    for (int i = 0; i < st->n; i++) s[i] = &st->t[i];
    qsort(s, (size_t)st->n, sizeof *s, by_begin);
    size_t at = 0;
    for (int i = 0; i < st->n && rc == 0; i++) {
        if (s[i]->begin < at)
            rc = ed_fail(err, "%s: tensors \"%s\" and \"%s\" overlap (data_offsets %zu < %zu)", origin, s[i - 1]->name,
                         s[i]->name, s[i]->begin, at);
        else if (s[i]->begin > at)
            rc = ed_fail(err, "%s: data bytes %zu..%zu belong to no tensor", origin, at, s[i]->begin);
        at = s[i]->end;
    }
    if (rc == 0 && at != st->data_len)
        rc = ed_fail(err, "%s: data bytes %zu..%zu belong to no tensor", origin, at, st->data_len);
    free(s);
out:
    json_decref(root);
    if (rc != 0) ed_st_free(st);
    return rc;
}

int ed_st_load(ed_safetensors *st, const char *path, ed_error *err) {
    char *data;
    size_t len;
    if (ed_read_file(path, &data, &len, err) != 0) return -1;
    if (ed_st_parse(st, (const unsigned char *)data, len, path, err) != 0) {
        free(data);
        return -1;
    }
    st->owned = (unsigned char *)data;
    return 0;
}

const ed_st_tensor *ed_st_find(const ed_safetensors *st, const char *name) {
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->t[i].name, name) == 0) return &st->t[i];
    return NULL;
}

static float half_to_float(uint16_t h) {
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff, f;
    if (e == 0) {
        if (m == 0) {
            f = s;
        } else { /* subnormal: normalise */
            int k = -1;
            do {
                k++;
                m <<= 1;
            } while (!(m & 0x400));
            f = s | (uint32_t)(127 - 15 - k) << 23 | (m & 0x3ff) << 13;
        }
    } else if (e == 31) {
        f = s | 0x7f800000u | m << 13;
    } else {
        f = s | (e + 127 - 15) << 23 | m << 13;
    }
    float x;
    memcpy(&x, &f, 4);
    return x;
}

int ed_st_read_f32(const ed_safetensors *st, const ed_st_tensor *t, float *out, const char *origin, ed_error *err) {
    const unsigned char *p = st->data + t->begin;
    for (size_t i = 0; i < t->numel; i++) {
        float x;
        switch (t->dtype) {
        case ED_ST_F32: {
            uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
                         (uint32_t)p[4 * i + 3] << 24;
            memcpy(&x, &u, 4);
            break;
        }
        case ED_ST_BF16: {
            uint32_t u = ((uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8) << 16;
            memcpy(&x, &u, 4);
            break;
        }
        case ED_ST_F16: x = half_to_float((uint16_t)(p[2 * i] | p[2 * i + 1] << 8)); break;
        case ED_ST_F64: {
            uint64_t u = 0;
            for (int k = 7; k >= 0; k--) u = u << 8 | p[8 * i + (size_t)k];
            double dv;
            memcpy(&dv, &u, 8);
            x = (float)dv;
            break;
        }
        default:
            return ed_fail(err, "%s: tensor \"%s\" has dtype %s; weights must be F32, F16, BF16 or F64", origin,
                           t->name, ed_st_dtype_name(t->dtype));
        }
        if (!isfinite(x)) return ed_fail(err, "%s: tensor \"%s\" element %zu is %g", origin, t->name, i, (double)x);
        out[i] = x;
    }
    return 0;
}

int ed_st_write(const char *path, const ed_st_out *t, int n, ed_error *err) {
    json_t *root = json_object(), *meta = json_object();
    json_object_set_new(meta, "format", json_string("pt"));
    json_object_set_new(root, "__metadata__", meta);
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        json_t *e = json_object(), *sh = json_array(), *off = json_array();
        size_t numel = 1;
        for (int k = 0; k < t[i].ndim; k++) {
            json_array_append_new(sh, json_integer(t[i].shape[k]));
            numel *= (size_t)t[i].shape[k];
        }
        json_array_append_new(off, json_integer((json_int_t)at));
        json_array_append_new(off, json_integer((json_int_t)(at + 4 * numel)));
        at += 4 * numel;
        json_object_set_new(e, "dtype", json_string("F32"));
        json_object_set_new(e, "shape", sh);
        json_object_set_new(e, "data_offsets", off);
        json_object_set_new(root, t[i].name, e);
    }
    char *h = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    size_t hl = strlen(h), padded = (hl + 7) / 8 * 8, total = 8 + padded + at;
    unsigned char *buf = ed_malloc(total);
    for (int k = 0; k < 8; k++) buf[k] = (unsigned char)((uint64_t)padded >> (8 * k));
    memcpy(buf + 8, h, hl);
    memset(buf + 8 + hl, ' ', padded - hl);
    free(h);
    unsigned char *d = buf + 8 + padded;
    for (int i = 0; i < n; i++) {
        size_t numel = 1;
        for (int k = 0; k < t[i].ndim; k++) numel *= (size_t)t[i].shape[k];
        for (size_t j = 0; j < numel; j++) { /* little-endian whatever the host */
            uint32_t u;
            memcpy(&u, &t[i].data[j], 4);
            for (int k = 0; k < 4; k++) *d++ = (unsigned char)(u >> (8 * k));
        }
    }
    int rc = ed_write_file_atomic(path, buf, total, "model file", err);
    free(buf);
    return rc;
}
