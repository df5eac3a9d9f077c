/* ckpt_write.c — ed_ckpt_write: lays out one checkpoint (docs/checkpoint-format.md) in
 * memory, puts the checksum header in front and replaces <path> with it through the
 * common atomic write (common.h: <path>.tmp, fsync, rename, fsync of the directory).
 *
 * No MPI here: the caller passes the full state (a ZeRO-sharded optimizer is gathered
 * first); ckpt_dist.c wraps this for the trainer. */
#include "ckpt_internal.h"
#include "expert/memstat.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int write_root(hid_t file) {
    char created[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return ed_h5_attr_str(file, "format", ED_CKPT_FORMAT) | ed_h5_attr_i64(file, "format_version", ED_CKPT_FORMAT_VERSION) |
           ed_h5_attr_str(file, "created", created) | ed_h5_attr_str(file, "expert_dist_version", ED_VERSION) |
           ed_h5_attr_str(file, "git_commit", ED_GIT_COMMIT);
}

static int write_config(hid_t file, const ed_options *opt) {
    hid_t g = H5Gcreate2(file, "config", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    int rc = 0;
    size_t n = 0;
    const ed_option_spec *tab = opt ? ed_option_table(&n) : NULL;
    for (size_t i = 0; i < n && tab[i].name && rc == 0; i++) {
        const ed_option_spec *s = &tab[i];
        const char *field = (const char *)opt + s->offset;
        switch (s->type) {
        case ED_OPT_INT:
        case ED_OPT_BOOL: rc = ed_h5_attr_i64(g, s->name, *(const int *)field); break;
        case ED_OPT_LONG: rc = ed_h5_attr_i64(g, s->name, *(const long *)field); break;
        case ED_OPT_SIZE: rc = ed_h5_attr_i64(g, s->name, (int64_t) * (const size_t *)field); break;
        case ED_OPT_U64: rc = ed_h5_attr_u64(g, s->name, *(const uint64_t *)field); break;
        case ED_OPT_FLOAT: rc = ed_h5_attr_f64(g, s->name, ed_float_decimal(*(const float *)field)); break;
        case ED_OPT_STR: {
            /* Bounded copy: a field that somehow lost its NUL must not run off the struct. */
            char *v = ed_malloc(s->size + 1);
            memcpy(v, field, s->size);
            v[s->size] = '\0';
            rc = ed_h5_attr_str(g, s->name, v);
            free(v);
            break;
        }
        case ED_OPT_CHOICE: { /* by name: h5dump shows it, and enum values may be renumbered */
            char v[128];
            ed_options_format(opt, s, v, sizeof v);
            rc = ed_h5_attr_str(g, s->name, v);
            break;
        }
        }
    }
    H5Gclose(g);
    return rc;
}

/* One dataset per tensor of the table (state_dict names and shapes) from a buffer laid out
 * like the parameters: the weights themselves, or an optimizer moment. */
static int write_tensors(hid_t g, const float *buf, const ed_gpt *m, int compress) {
    int rc = 0;
    const ed_tensor *t = ed_gpt_tensors(m);
    for (int i = 0; i < ed_gpt_num_tensors(m) && rc == 0; i++) {
        hsize_t dims[2];
        int nd = ckpt_tensor_dims(&t[i], dims);
        rc = ckpt_write_f32(g, t[i].name, buf + t[i].offset, nd, dims, compress);
    }
    return rc;
}

static int write_model(hid_t file, ed_gpt *m, const float *params, int compress) {
    hid_t g = ckpt_group_create(file, "model");
    if (g < 0) return -1;
    const ed_model_config *cfg = ed_gpt_config(m);
    int rc = ed_h5_attr_f64(g, "dropout", ed_float_decimal(cfg->dropout)) |
             ed_h5_attr_i64(g, "num_params", (int64_t)ed_gpt_num_params(m));
    for (const ckpt_field *f = ckpt_model_fields; f->name && rc == 0; f++)
        rc = ed_h5_attr_i64(g, f->name, *(const int *)((const char *)cfg + f->offset));
    if (rc == 0) rc = ed_h5_attr_str(g, "arch", ed_arch_names[cfg->arch]);
    if (rc == 0 && cfg->arch == ED_ARCH_LLAMA) /* read back by ckpt_read_model_config */
        rc = ed_h5_attr_i64(g, "n_kv_heads", cfg->n_kv_heads) | ed_h5_attr_i64(g, "tie_embeddings", cfg->tie_embeddings) |
             ed_h5_attr_f64(g, "rope_theta", ed_float_decimal(cfg->rope_theta)) |
             ed_h5_attr_f64(g, "rms_eps", ed_float_decimal(cfg->rms_eps));
    if (rc == 0) rc = write_tensors(g, params ? params : ed_gpt_params(m), m, compress);
    H5Gclose(g);
    return rc;
}

/* Moments laid out like the parameters: m/<name>, v/<name>, same shapes. */
static int write_moments(hid_t parent, const char *name, const float *buf, const ed_gpt *m, int compress) {
    hid_t g = ckpt_group_create(parent, name);
    if (g < 0) return -1;
    int rc = write_tensors(g, buf, m, compress);
    H5Gclose(g);
    return rc;
}

static int write_optim(hid_t file, const ed_optim *o, const ed_gpt *m, int compress) {
    hid_t g = H5Gcreate2(file, "optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    int rc = ed_h5_attr_str(g, "kind", ed_opt_kind_names[o->kind]) | ed_h5_attr_i64(g, "step", o->step) |
             ed_h5_attr_f64(g, "beta1", ed_float_decimal(o->beta1)) | ed_h5_attr_f64(g, "beta2", ed_float_decimal(o->beta2)) |
             ed_h5_attr_f64(g, "eps", ed_float_decimal(o->eps)) |
             ed_h5_attr_f64(g, "weight_decay", ed_float_decimal(o->weight_decay)) |
             ed_h5_attr_f64(g, "momentum", ed_float_decimal(o->momentum));
    if (rc == 0) rc = write_moments(g, "m", o->m, m, compress);
    if (rc == 0 && o->kind == ED_OPT_ADAMW) rc = write_moments(g, "v", o->v, m, compress);
    H5Gclose(g);
    return rc;
}

static int write_state(hid_t file, const ed_train_state *s) {
    hid_t g = H5Gcreate2(file, "trainer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    int rc = 0;
    for (const ckpt_field *f = ckpt_state_fields; f->name && rc == 0; f++) {
        const char *p = (const char *)s + f->offset;
        switch (f->type) {
        case CKPT_F_INT: rc = ed_h5_attr_i64(g, f->name, *(const int *)p); break;
        case CKPT_F_LONG: rc = ed_h5_attr_i64(g, f->name, *(const long *)p); break;
        case CKPT_F_U64: rc = ed_h5_attr_u64(g, f->name, *(const uint64_t *)p); break;
        case CKPT_F_DOUBLE: rc = ed_h5_attr_f64(g, f->name, *(const double *)p); break;
        }
    }
    H5Gclose(g);
    return rc;
}

static int write_history(hid_t file, const ed_history *h) {
    hid_t g = ckpt_group_create(file, "history");
    if (g < 0) return -1;
    int rc = 0;
    for (size_t i = 0; i < ed_ncolumns && rc == 0; i++)
        if (ed_columns[i].kept) rc = ckpt_write_f64(g, ed_columns[i].kept, h->col[i].v, h->col[i].n);
    H5Gclose(g);
    return rc;
}

static int write_tokenizer(hid_t file, const ed_tokenizer *tok) {
    size_t len = 0;
    char *s = ed_tok_serialize(tok, &len);
    if (!s) return -1;
    int rc = ckpt_write_bytes(file, "tokenizer", s, len);
    free(s);
    if (rc == 0) {
        hid_t d = H5Dopen2(file, "tokenizer", H5P_DEFAULT);
        if (d < 0) return -1;
        rc = ed_h5_attr_str(d, "kind", ed_tok_kind_names[ed_tok_kind_of(tok)]) |
             ed_h5_attr_i64(d, "vocab_size", ed_tok_vocab_size(tok));
        H5Dclose(d);
    }
    return rc;
}

/* Checks the caller's side of the contract before touching the disk. */
static int check_contents(const char *path, const ed_ckpt_contents *c, int compress, ed_error *err) {
    if (!c || !c->model) return ed_fail(err, "%s: checkpoint contents without a model", path);
    if (compress < 0 || compress > 9)
        return ed_fail(err, "%s: compression level %d out of range (0 = off, 1..9)", path, compress);
    if (compress > 0 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0)
        return ed_fail(err, "%s: this HDF5 library has no deflate filter; use compression 0", path);
    if (c->optim) {
        size_t n = ed_gpt_num_params(c->model);
        if (c->optim->lo != 0 || c->optim->hi != n)
            return ed_fail(err, "%s: optimizer state covers [%zu, %zu) of %zu parameters; gather the full "
                           "state before writing", path, c->optim->lo, c->optim->hi, n);
        if (!c->optim->m || (c->optim->kind == ED_OPT_ADAMW && !c->optim->v))
            return ed_fail(err, "%s: optimizer state has no moment buffers", path);
    }
    return 0;
}

/* The core driver's buffer is handed to us instead of being freed when the file closes,
 * so the file's bytes exist once: no H5Fget_file_image copy. The driver allocates and
 * grows it through these callbacks (realloc of a large block is an mremap, not a copy).
 * The buffer holds the physical file from offset 0, user block included (checked by
 * tests/checkpoint: every file we write must open and verify). */
typedef struct {
    void *kept;      /* the buffer, once the file is closed */
    size_t capacity; /* its size in bytes */
} image_keeper;

static void *image_malloc(size_t size, H5FD_file_image_op_t op, void *udata) {
    (void)op;
    ((image_keeper *)udata)->capacity = size;
    return malloc(size);
}

static void *image_memcpy(void *dest, const void *src, size_t size, H5FD_file_image_op_t op, void *udata) {
    (void)op, (void)udata;
    return memcpy(dest, src, size);
}

static void *image_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata) {
    (void)op;
    ((image_keeper *)udata)->capacity = size;
    return realloc(ptr, size);
}

static herr_t image_free(void *ptr, H5FD_file_image_op_t op, void *udata) {
    image_keeper *k = udata;
    if (op == H5FD_FILE_IMAGE_OP_FILE_CLOSE && !k->kept) {
        k->kept = ptr;
        return 0;
    }
    free(ptr);
    return 0;
}

/* The property list copies udata by pointer: the keeper outlives the file. */
static void *udata_copy(void *udata) { return udata; }
static herr_t udata_free(void *udata) {
    (void)udata;
    return 0;
}

/* The file's length as its superblock records it after close (closing releases unused
 * aggregator space, so it can be shorter than the image was at flush). The default file
 * format writes superblock version 0 or 1 with 8-byte addresses: after the 8-byte
 * signature, versions, sizes and flags (24 bytes; version 1 adds 4 more), come the base,
 * free-space, end-of-file and driver addresses. The library stores the end-of-file
 * address plus the base address (the user block's size), i.e. the length of the whole
 * file. Returns 0 and that length, or -1 when the superblock is not that. */
static int image_length(const unsigned char *buf, size_t capacity, size_t *len) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    const unsigned char *sb = buf + CKPT_USERBLOCK;
    if (capacity < CKPT_USERBLOCK + 64 || memcmp(sb, sig, 8) != 0 || sb[8] > 1 || sb[13] != 8) return -1;
    const unsigned char *eof_field = sb + 24 + (sb[8] == 1 ? 4 : 0) + 16;
    uint64_t eof = 0;
    for (int i = 7; i >= 0; i--) eof = eof << 8 | eof_field[i]; /* little-endian */
    if (eof <= CKPT_USERBLOCK + 64 || eof > capacity) return -1;
    *len = (size_t)eof;
    return 0;
}

/* Lays the whole file out in memory (HDF5 "core" driver, no backing store) and returns
 * the driver's own buffer, user block in front.
 *
 * Why in memory: HDF5 1.10 does not survive a failing disk write. When a write fails
 * (disk full, quota, file-size limit) the file can no longer be closed, stays open
 * inside the library, and the library's atexit cleanup then crashes the process. With
 * the core driver HDF5 never touches the disk; ckpt_atomic.c writes the bytes with
 * plain write(2) and turns ENOSPC into an ordinary error. The cost is the file's size in
 * memory on the writing rank while it is written (once: see image_keeper). */
static int build_image(const ed_ckpt_contents *c, int compress, const char *name, void **image,
                       size_t *size, const char **stage) {
    *image = NULL;
    *size = 0;
    *stage = "create";
    image_keeper keeper = {NULL};
    H5FD_file_image_callbacks_t cb = {image_malloc, image_memcpy, image_realloc, image_free,
                                      udata_copy,   udata_free,   &keeper};
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    if (H5Pset_fapl_core(fapl, (size_t)16 << 20, 0) < 0 || H5Pset_file_image_callbacks(fapl, &cb) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    /* The default (oldest) file format, readable by any HDF5 1.8+ tool. Newer formats
     * would index small chunked datasets more compactly, but HDF5 1.10.8 returns a file
     * image with a stale superblock checksum for them (superblock v2+), so they are not
     * an option with the in-memory image. */
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fcpl >= 0) H5Pset_userblock(fcpl, CKPT_USERBLOCK); /* room for the checksum header */
    hid_t file = fcpl >= 0 ? H5Fcreate(name, H5F_ACC_TRUNC, fcpl, fapl) : H5I_INVALID_HID;
    H5Pclose(fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (file < 0) {
        free(keeper.kept);
        return -1;
    }
    int rc = 0;
    if (rc == 0 && (*stage = "root attributes", write_root(file)) < 0) rc = -1;
    if (rc == 0 && (*stage = "/config", write_config(file, c->opt)) < 0) rc = -1;
    if (rc == 0 && (*stage = "/model", write_model(file, c->model, c->params, compress)) < 0) rc = -1;
    if (rc == 0 && c->optim && (*stage = "/optimizer", write_optim(file, c->optim, c->model, compress)) < 0) rc = -1;
    if (rc == 0 && c->state && (*stage = "/trainer", write_state(file, c->state)) < 0) rc = -1;
    if (rc == 0 && c->history && (*stage = "/history", write_history(file, c->history)) < 0) rc = -1;
    if (rc == 0 && c->tok && (*stage = "/tokenizer", write_tokenizer(file, c->tok)) < 0) rc = -1;
    if (rc == 0 && (*stage = "flush", H5Fflush(file, H5F_SCOPE_GLOBAL)) < 0) rc = -1;
    if (H5Fclose(file) < 0 && rc == 0) {
        *stage = "close";
        rc = -1;
    }
    if (rc == 0 && (!keeper.kept || image_length(keeper.kept, keeper.capacity, size) < 0)) {
        *stage = "keeping the file image";
        rc = -1;
    }
    if (rc < 0) {
        free(keeper.kept);
        *size = 0;
        return -1;
    }
    *image = keeper.kept;
    return 0;
}

int ed_ckpt_build(const char *path, const ed_ckpt_contents *c, int compress, ed_ckpt_image *img, ed_error *err) {
    img->data = NULL;
    img->size = 0;
    img->anon_mb = -1.0;
    if (check_contents(path, c, compress, err) < 0) return -1;
    ed_h5_quiet q;
    ed_h5_quiet_begin(&q);
    void *image;
    size_t size;
    const char *stage;
    char name[4200]; /* HDF5's name for the image; the bytes go to disk in ed_ckpt_commit */
    snprintf(name, sizeof name, "%s.tmp", path);
    /* HDF5 1.10's core driver opens an existing file of that name even under
     * H5F_ACC_TRUNC and seeds the image with its bytes: a .tmp left by a killed writer
     * would come back as this checkpoint (test_atomic_kill_before_rename). The commit
     * truncates the same name anyway, so removing it here loses nothing. */
    unlink(name);
    int rc = build_image(c, compress, name, &image, &size, &stage);
    char reason[256];
    ed_h5_reason(reason, sizeof reason, "");
    H5Eclear2(H5E_DEFAULT);
    ed_h5_quiet_end(&q);
    if (rc < 0) {
        if (reason[0]) return ed_fail(err, "%s: cannot write checkpoint (%s failed: %s)", path, stage, reason);
        return ed_fail(err, "%s: cannot write checkpoint (%s failed)", path, stage);
    }
    img->data = image;
    img->size = size;
    ed_mem_usage now;
    ed_mem_read(&now);
    img->anon_mb = now.anon;
    return 0;
}

void ed_ckpt_image_free(ed_ckpt_image *img) {
    free(img->data);
    img->data = NULL;
    img->size = 0;
}

/* Test hooks (checkpoint.h): an environment variable read at the moment it matters. */
static double debug_delay(void) {
    const char *s = getenv("ED_CKPT_DEBUG_WRITE_DELAY");
    return s && *s ? atof(s) : 0.0;
}

int ed_ckpt_commit(const char *path, ed_ckpt_image *img, ed_error *err) {
    /* The checksum pass reads the whole image: here rather than in build, so that an
     * asynchronous save does it off the training thread. */
    ckpt_seal_image(img->data, img->size);
    ed_atomic_file out;
    int rc = ed_atomic_open(&out, path, "checkpoint", err);
    if (rc == 0) rc = ed_atomic_write(&out, img->data, img->size, err);
    ed_ckpt_image_free(img);
    double delay = debug_delay();
    if (rc == 0 && delay > 0) {
        struct timespec ts = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    }
    if (rc == 0) rc = ed_atomic_sync(&out, err);
    if (rc < 0) return -1;
    /* Test hook (documented in docs/checkpoint-format.md): die exactly in the window
     * where the new file is complete but not yet visible, to prove the old one survives. */
    const char *kill_env = getenv("ED_CKPT_DEBUG_KILL_BEFORE_RENAME");
    if (kill_env && strcmp(kill_env, "1") == 0) raise(SIGKILL);
    return ed_atomic_replace(out.tmp, path, err);
}

int ed_ckpt_write(const char *path, const ed_ckpt_contents *c, int compress, ed_error *err) {
    ed_ckpt_image img;
    if (ed_ckpt_build(path, c, compress, &img, err) != 0) return -1;
    return ed_ckpt_commit(path, &img, err);
}
