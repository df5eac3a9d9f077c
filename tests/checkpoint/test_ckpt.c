/* test_ckpt.c — checkpoint write/read on real HDF5 files: round trips of every group,
 * compression, ZeRO slices, atomicity under SIGKILL, every bad-file case, find_latest.
 * No MPI here (ckpt_collective.c covers the collective save under mpirun). */
#define _XOPEN_SOURCE 700 /* nftw, in ckpt_fixture.h */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hdf5.h>
#include <hdf5_hl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "ckpt_at.h"
#include "ckpt_fixture.h"
#include "ckpt_internal.h" /* ckpt_reseal: the tests edit files with HDF5, then re-checksum */

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static char *slurp(const char *p, size_t *len) {
    char *d = NULL;
    ed_error err;
    assert_int_equal(ed_read_file(p, &d, len, &err), 0);
    return d;
}

/* Whether the writer's <path>.tmp exists. */
static int tmp_exists(const char *path) {
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    return file_exists(tmp);
}

static void write_fixture(fixture *f, const char *path, int compress) {
    ed_ckpt_contents c = fixture_contents(f);
    ed_error err = {{0}};
    int rc = ed_ckpt_write(path, &c, compress, &err);
    if (rc != 0) fprintf(stderr, "write: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_false(tmp_exists(path));
}

/* Asserts a failed read whose message names the file and contains `what`. */
static void expect_fail(int rc, const ed_error *err, const char *path, const char *what) {
    assert_int_equal(rc, -1);
    if (!strstr(err->msg, what) || !strstr(err->msg, path))
        fail_msg("message '%s' lacks '%s' or the path", err->msg, what);
    assert_null(strchr(err->msg, '\n'));
}

static void assert_same_floats(const float *a, const float *b, size_t n) {
    assert_memory_equal(a, b, n * sizeof *a);
}

static void assert_same_col(const ed_dcol *a, const ed_dcol *b) {
    assert_int_equal(a->n, b->n);
    if (a->n) assert_memory_equal(a->v, b->v, a->n * sizeof(double)); /* bitwise: NaN too */
}

/* Loads everything from path into fresh objects and compares with f, bit for bit. */
static void check_roundtrip(fixture *f, const char *path) {
    ed_error err = {{0}};
    ed_options o;
    ed_options_defaults(&o);
    if (at_read_options(path, ED_CMD_INSPECT, &o, &err) != 0) fail_msg("%s", err.msg);
    assert_true(o.lr == f->opt.lr);
    assert_true(o.seed == f->opt.seed);
    assert_int_equal(o.bucket_mb, 7);
    assert_true(o.max_steps == f->opt.max_steps);
    assert_int_equal(o.pack, 1);
    assert_int_equal(o.lr_schedule, ED_SCHED_COSINE);
    assert_string_equal(o.train_file, f->opt.train_file);
    assert_int_equal(o.debug_exit_step, 0); /* one-shot debug flags are not carried over */
    assert_memory_equal(&o.model, ed_gpt_config(f->model), sizeof o.model);

    ed_tokenizer *t = at_read_tokenizer(path, &err);
    assert_non_null(t);
    size_t l1, l2;
    char *s1 = ed_tok_serialize(f->tok, &l1), *s2 = ed_tok_serialize(t, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(s1, s2, l1);
    free(s1);
    free(s2);

    ed_gpt *m = fixture_model(ed_tok_vocab_size(t), 32, 2, 999); /* different init */
    ed_tok_free(t);
    size_t n = ed_gpt_num_params(m);
    assert_int_equal(at_read_model(path, m, &err), 0);
    assert_same_floats(ed_gpt_params(m), ed_gpt_params(f->model), n);

    ed_optim o2;
    ed_optim_init(&o2, ED_OPT_ADAMW, 0, n, 0.9f, 0.999f, 1e-8f, 0.0f, 0.0f);
    assert_int_equal(at_read_optim(path, &o2, m, &err), 0);
    assert_int_equal(o2.step, 41);
    assert_same_floats(o2.m, f->optim.m, n);
    assert_same_floats(o2.v, f->optim.v, n);
    ed_optim_free(&o2);

    ed_train_state s;
    ed_train_state_init(&s, 1, 1);
    ed_history h;
    memset(&h, 0, sizeof h);
    ed_dcol_push(hist_col(&h, "log_lr"), 123.0); /* stale contents must be replaced, not appended to */
    assert_int_equal(at_read_state(path, &s, &h, &err), 0);
    const ed_train_state *w = &f->state;
    assert_int_equal(s.epoch, w->epoch);
    assert_int_equal(s.step_in_epoch, w->step_in_epoch);
    assert_int_equal(s.epoch_windows, w->epoch_windows);
    assert_int_equal(s.global_step, w->global_step);
    assert_true(s.best_val_loss == w->best_val_loss);
    assert_int_equal(s.bad_evals, w->bad_evals);
    assert_true(s.patience_best == w->patience_best);
    assert_int_equal(s.world_size, w->world_size);
    assert_true(s.seed == w->seed);
    assert_true(s.elapsed == w->elapsed);
    assert_int_equal(s.tokens_seen, w->tokens_seen);
    assert_int_equal(s.stop, w->stop);
    assert_true(s.epoch_loss_sum == w->epoch_loss_sum);
    assert_int_equal(s.epoch_count, w->epoch_count);
    assert_true(s.log_loss_sum == w->log_loss_sum);
    assert_int_equal(s.log_count, w->log_count);
    assert_int_equal(s.nan_skipped, w->nan_skipped);
    assert_true(s.data_fingerprint == w->data_fingerprint);
    assert_true(s.scaler.scale == w->scaler.scale);
    assert_int_equal(s.scaler.growth_tracker, w->scaler.growth_tracker);
    assert_int_equal(s.scaler.skipped, w->scaler.skipped);
    for (size_t i = 0; i < ed_ncolumns; i++)
        if (ed_columns[i].kept) assert_same_col(&h.col[i], &f->hist.col[i]);
    ed_dcol_push(hist_col(&h, "log_lr"), 1.0); /* the columns handed back must be growable */
    ed_history_free(&h);
    ed_gpt_free(m);
}

/* After a write that failed or was killed: path still holds exactly `before` (freed
 * here) and reads back as the fixture. */
static void expect_untouched(fixture *f, const char *path, char *before, size_t len_before) {
    size_t len_after;
    char *after = slurp(path, &len_after);
    assert_int_equal(len_before, len_after);
    assert_memory_equal(before, after, len_before);
    free(before);
    free(after);
    check_roundtrip(f, path);
}

/* A new field in ed_train_state needs a line in src/checkpoint/ckpt_fields.c and a check
 * in check_roundtrip above; this size check is the reminder. */
static void test_state_struct_is_covered(void **st) {
    (void)st;
    assert_int_equal(sizeof(ed_train_state), 160);
}

static void test_roundtrip_all(void **st) {
    (void)st;
    fixture f;
    fixture_init(&f, 7);
    const char *p = fixture_path("all.h5");
    write_fixture(&f, p, 0);
    check_roundtrip(&f, p);
    /* Root attributes are there with the documented types. */
    ed_ckpt_info info;
    ed_error err;
    assert_int_equal(at_read_info(p, &info, &err), 0);
    assert_int_equal(info.format_version, ED_CKPT_FORMAT_VERSION);
    assert_string_equal(info.expert_dist_version, ED_VERSION);
    assert_string_equal(info.git_commit, ED_GIT_COMMIT);
    assert_int_equal(strlen(info.created), 20); /* YYYY-MM-DDTHH:MM:SSZ */
    assert_int_equal(info.created[19], 'Z');
    assert_int_equal(info.global_step, 1234);
    assert_int_equal(info.num_params, (long)ed_gpt_num_params(f.model));
    assert_true(info.has_optimizer && info.has_trainer && info.has_history && info.has_tokenizer);
    fixture_free(&f);
}

/* Counts filters on one dataset: deflate must be there when asked for, absent otherwise. */
static int has_deflate(const char *path, const char *dset) {
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(file, dset, H5P_DEFAULT);
    hid_t dcpl = H5Dget_create_plist(d);
    int found = 0;
    for (int i = 0; i < H5Pget_nfilters(dcpl); i++) {
        unsigned flags;
        size_t nelem = 0;
        if (H5Pget_filter2(dcpl, (unsigned)i, &flags, &nelem, NULL, 0, NULL, NULL) == H5Z_FILTER_DEFLATE) found = 1;
    }
    H5Pclose(dcpl);
    H5Dclose(d);
    H5Fclose(file);
    return found;
}

static void test_roundtrip_compressed(void **st) {
    (void)st;
    fixture f;
    fixture_init(&f, 8);
    const char *plain = fixture_path("plain.h5"), *packed = fixture_path("packed.h5");
    write_fixture(&f, plain, 0);
    write_fixture(&f, packed, 6);
    check_roundtrip(&f, packed);
    assert_true(has_deflate(packed, "/model/wte.weight"));
    assert_true(has_deflate(packed, "/optimizer/v/blocks.1.fc.weight"));
    assert_false(has_deflate(plain, "/model/wte.weight"));
    fixture_free(&f);
}

/* ZeRO: a rank reads only [lo, hi) of the moments; slices straddle tensor boundaries. */
static void test_optim_slices(void **st) {
    (void)st;
    fixture f;
    fixture_init(&f, 9);
    const char *p = fixture_path("slices.h5");
    write_fixture(&f, p, 0);
    size_t n = ed_gpt_num_params(f.model);
    for (int parts = 1; parts <= 5; parts += 2) {
        for (int k = 0; k < parts; k++) {
            size_t lo = n * k / parts, hi = n * (k + 1) / parts;
            ed_optim o;
            ed_optim_init(&o, ED_OPT_ADAMW, lo, hi, 0.9f, 0.999f, 1e-8f, 0.0f, 0.0f);
            ed_error err;
            assert_int_equal(at_read_optim(p, &o, f.model, &err), 0);
            assert_same_floats(o.m, f.optim.m + lo, hi - lo);
            assert_same_floats(o.v, f.optim.v + lo, hi - lo);
            ed_optim_free(&o);
        }
    }
    fixture_free(&f);
}

static void test_sgd_and_kind_mismatch(void **st) {
    (void)st;
    fixture f;
    fixture_init(&f, 10);
    size_t n = ed_gpt_num_params(f.model);
    ed_optim_free(&f.optim);
    ed_optim_init(&f.optim, ED_OPT_SGD, 0, n, 0, 0, 0, 0.01f, 0.9f);
    for (size_t i = 0; i < n; i++) f.optim.m[i] = (float)i * 0.5f;
    f.optim.step = 5;
    const char *p = fixture_path("sgd.h5");
    write_fixture(&f, p, 0);
    ed_optim o;
    ed_error err;
    ed_optim_init(&o, ED_OPT_SGD, 0, n, 0, 0, 0, 0.01f, 0.9f);
    assert_int_equal(at_read_optim(p, &o, f.model, &err), 0);
    assert_same_floats(o.m, f.optim.m, n);
    assert_int_equal(o.step, 5);
    ed_optim_free(&o);
    ed_optim_init(&o, ED_OPT_ADAMW, 0, n, 0.9f, 0.999f, 1e-8f, 0, 0);
    expect_fail(at_read_optim(p, &o, f.model, &err), &err, p, "optimizer is 'sgd' in the checkpoint but 'adamw'");
    ed_optim_free(&o);
    fixture_free(&f);
}

/* A model-only export (no optimizer, state, history): the model loads, resuming fails clearly. */
static void test_export_only_model(void **st) {
    (void)st;
    fixture f;
    fixture_init(&f, 11);
    ed_ckpt_contents c = {&f.opt, f.model, NULL, NULL, NULL, f.tok, NULL};
    const char *p = fixture_path("export.h5");
    ed_error err;
    assert_int_equal(ed_ckpt_write(p, &c, 0, &err), 0);
    assert_int_equal(at_read_model(p, f.model, &err), 0);
    ed_optim o;
    ed_optim_init(&o, ED_OPT_ADAMW, 0, ed_gpt_num_params(f.model), 0.9f, 0.999f, 1e-8f, 0, 0);
    expect_fail(at_read_optim(p, &o, f.model, &err), &err, p, "/optimizer: missing group");
    ed_optim_free(&o);
    ed_train_state s;
    expect_fail(at_read_state(p, &s, NULL, &err), &err, p, "/trainer: missing group");
    fixture_free(&f);
}

/* The writer's own checks: nothing is created when the input is wrong. */
static void test_write_errors(void **st) {
    (void)st;
    fixture f;
    fixture_init(&f, 12);
    ed_ckpt_contents c = fixture_contents(&f);
    ed_error err;
    const char *p = fixture_path("no/such/dir/x.h5");
    expect_fail(ed_ckpt_write(p, &c, 0, &err), &err, p, "No such file or directory");
    p = fixture_path("level.h5");
    expect_fail(ed_ckpt_write(p, &c, 10, &err), &err, p, "compression level 10");
    assert_false(file_exists(p));
    ed_optim shard = f.optim;
    shard.lo = 5;
    c.optim = &shard;
    expect_fail(ed_ckpt_write(p, &c, 0, &err), &err, p, "gather the full state");
    assert_false(file_exists(p));
    fixture_free(&f);
}

/* ---- atomicity ----------------------------------------------------------------- */

static void test_atomic_kill_before_rename(void **st) {
    (void)st;
    fixture f;
    fixture_init(&f, 13);
    const char *p = fixture_path("atomic/last.h5");
    mkdir(fixture_path("atomic"), 0755);
    f.state.global_step = 1;
    write_fixture(&f, p, 0);
    size_t len_before;
    char *before = slurp(p, &len_before);

    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("ED_CKPT_DEBUG_KILL_BEFORE_RENAME", "1", 1);
        f.state.global_step = 2;
        for (size_t i = 0; i < ed_gpt_num_params(f.model); i++) ed_gpt_params(f.model)[i] = 0.5f;
        ed_ckpt_contents c = fixture_contents(&f);
        ed_error err;
        ed_ckpt_write(p, &c, 0, &err);
        _exit(0); /* not reached when the hook works */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    /* The new file was complete on disk but never renamed: the old one is untouched. */
    assert_true(tmp_exists(p));
    expect_untouched(&f, p, before, len_before);

    /* --resume auto ignores the .tmp and the next write simply replaces it. */
    char found[512];
    ed_error err;
    assert_int_equal(ed_ckpt_find_latest(fixture_path("atomic"), found, sizeof found, &err), 1);
    assert_string_equal(found, p);
    f.state.global_step = 3;
    write_fixture(&f, p, 0);
    ed_train_state s;
    assert_int_equal(at_read_state(p, &s, NULL, &err), 0);
    assert_int_equal(s.global_step, 3);
    fixture_free(&f);
}

/* A write that fails half-way (here: the file-size limit, as a full disk would) reports
 * the path, removes its .tmp and leaves the previous checkpoint as it was. */
static void test_write_fails_midway(void **st) {
    (void)st;
    fixture f;
    fixture_init(&f, 14);
    mkdir(fixture_path("full"), 0755);
    const char *p = fixture_path("full/last.h5");
    write_fixture(&f, p, 0);
    size_t len_before;
    char *before = slurp(p, &len_before);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Beyond the limit write() fails with EFBIG instead of raising SIGXFSZ. */
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {(rlim_t)len_before / 3, (rlim_t)len_before / 3};
        setrlimit(RLIMIT_FSIZE, &rl);
        f.state.global_step = 99;
        ed_ckpt_contents c = fixture_contents(&f);
        ed_error err;
        int rc = ed_ckpt_write(p, &c, 0, &err);
        int ok = rc == -1 && strstr(err.msg, p) && strstr(err.msg, "cannot write checkpoint");
        if (!ok) fprintf(stderr, "child: rc %d, message '%s'\n", rc, err.msg);
        exit(ok ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_false(tmp_exists(p));
    expect_untouched(&f, p, before, len_before);
    fixture_free(&f);
}

/* ---- bad checkpoints ------------------------------------------------------------ */

/* Writes a good checkpoint at name and returns its path, with the fixture kept in *f. */
static const char *good_file(fixture *f, const char *name) {
    fixture_init(f, 21);
    const char *p = fixture_path(name);
    write_fixture(f, p, 0);
    return p;
}

static hid_t open_rw(const char *p) {
    hid_t file = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(file >= 0);
    return file;
}

/* Closes a file edited in place and recomputes its checksum header, so the reader gets
 * past the checksum to the validation under test. */
static void close_rw(hid_t file, const char *p) {
    assert_true(H5Fclose(file) >= 0);
    ed_error err;
    if (ckpt_reseal(p, &err) != 0) fail_msg("%s", err.msg);
}

static void test_bad_missing_and_not_hdf5(void **st) {
    (void)st;
    ed_error err;
    ed_options o;
    ed_options_defaults(&o);
    const char *p = fixture_path("absent.h5");
    expect_fail(at_read_options(p, ED_CMD_INSPECT, &o, &err), &err, p, "cannot open checkpoint");
    p = fixture_path("text.h5");
    FILE *fp = fopen(p, "w");
    fputs("this is not HDF5 at all\n", fp);
    fclose(fp);
    expect_fail(at_read_options(p, ED_CMD_INSPECT, &o, &err), &err, p, "not an HDF5 file");
    assert_null(at_read_tokenizer(p, &err));
    expect_fail(-1, &err, p, "not an HDF5 file");
    p = fixture_path("empty.h5");
    fclose(fopen(p, "w"));
    expect_fail(at_read_options(p, ED_CMD_INSPECT, &o, &err), &err, p, "not an HDF5 file");
    expect_fail(at_read_options(fixture_dir, ED_CMD_INSPECT, &o, &err), &err, fixture_dir, "is a directory");
}

static void test_bad_format_attr(void **st) {
    (void)st;
    fixture f;
    const char *p = good_file(&f, "format.h5");
    ed_error err;
    hid_t file = open_rw(p);
    H5LTset_attribute_string(file, "/", "format", "someone-elses-format");
    close_rw(file, p);
    expect_fail(at_read_model(p, f.model, &err), &err, p, "format is 'someone-elses-format'");
    file = open_rw(p);
    H5Adelete(file, "format");
    close_rw(file, p);
    expect_fail(at_read_model(p, f.model, &err), &err, p, "no 'format' attribute");
    /* An HDF5 file from another program entirely. */
    p = fixture_path("foreign.h5");
    file = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    float x[3] = {1, 2, 3};
    hsize_t d3 = 3;
    H5LTmake_dataset_float(file, "/weights", 1, &d3, x);
    H5Fclose(file); /* written by "another tool": no checksum header */
    expect_fail(at_read_model(p, f.model, &err), &err, p, "not an expert-dist checkpoint");
    fixture_free(&f);
}

/* The loss scaler (/trainer attributes, two log columns) came without a format version:
 * a file written before it reads with the caller's scaler (none, scale 0) and NaN in the
 * new columns, one per log row, so the log columns keep one length. */
static void test_file_without_scaler(void **st) {
    (void)st;
    fixture f;
    const char *p = good_file(&f, "noscaler.h5");
    hid_t file = open_rw(p);
    hid_t g = H5Gopen2(file, "/trainer", H5P_DEFAULT);
    assert_true(g >= 0);
    assert_true(H5Adelete(g, "loss_scale") >= 0);
    assert_true(H5Adelete(g, "loss_scale_growth_tracker") >= 0);
    assert_true(H5Adelete(g, "loss_scale_skipped") >= 0);
    H5Gclose(g);
    assert_true(H5Ldelete(file, "/history/log_loss_scale", H5P_DEFAULT) >= 0);
    assert_true(H5Ldelete(file, "/history/log_scale_skipped", H5P_DEFAULT) >= 0);
    close_rw(file, p);
    ed_train_state s;
    ed_train_state_init(&s, 1, 1);
    ed_history h = {0};
    ed_error err;
    if (at_read_state(p, &s, &h, &err) != 0) fail_msg("%s", err.msg);
    assert_true(s.scaler.scale == 0.0);
    assert_int_equal(s.scaler.growth_tracker, 0);
    assert_int_equal(s.scaler.skipped, 0);
    assert_int_equal(s.nan_skipped, f.state.nan_skipped); /* the rest was read */
    const ed_dcol *steps = ed_history_col(&h, "log_step"), *scale = ed_history_col(&h, "log_loss_scale");
    assert_true(steps->n > 0);
    assert_int_equal(scale->n, steps->n);
    for (size_t i = 0; i < scale->n; i++) assert_true(isnan(scale->v[i]));
    assert_int_equal(ed_history_col(&h, "log_scale_skipped")->n, steps->n);
    ed_history_free(&h);
    fixture_free(&f);
}

static void test_bad_newer_version(void **st) {
    (void)st;
    fixture f;
    const char *p = good_file(&f, "newer.h5");
    hid_t file = open_rw(p);
    long long v = ED_CKPT_FORMAT_VERSION + 1;
    H5LTset_attribute_long_long(file, "/", "format_version", &v, 1);
    close_rw(file, p);
    ed_error err;
    ed_train_state s;
    expect_fail(at_read_state(p, &s, NULL, &err), &err, p, "newer than this expert-dist supports");
    fixture_free(&f);
}

static void test_bad_missing_dataset(void **st) {
    (void)st;
    fixture f;
    const char *p = good_file(&f, "missing.h5");
    hid_t file = open_rw(p);
    H5Ldelete(file, "/model/ln_f.bias", H5P_DEFAULT);
    H5Ldelete(file, "/history/val_loss", H5P_DEFAULT);
    close_rw(file, p);
    ed_error err;
    expect_fail(at_read_model(p, f.model, &err), &err, p, "/model/ln_f.bias: missing dataset");
    ed_train_state s;
    ed_history h = {0};
    expect_fail(at_read_state(p, &s, &h, &err), &err, p, "/history/val_loss: missing dataset");
    ed_history_free(&h);
    fixture_free(&f);
}

static void test_bad_shape(void **st) {
    (void)st;
    fixture f;
    const char *p = good_file(&f, "shape.h5");
    hid_t file = open_rw(p);
    H5Ldelete(file, "/model/blocks.0.fc.bias", H5P_DEFAULT);
    float x[3] = {1, 2, 3};
    hsize_t d3 = 3;
    H5LTmake_dataset_float(file, "/model/blocks.0.fc.bias", 1, &d3, x);
    close_rw(file, p);
    ed_error err;
    expect_fail(at_read_model(p, f.model, &err), &err, p,
                "/model/blocks.0.fc.bias: shape [3] does not match the model config [32]");
    fixture_free(&f);
}

/* A model built with another config than the checkpoint's: caught by name, even when
 * (n_heads) no tensor shape differs. */
static void test_bad_config_mismatch(void **st) {
    (void)st;
    fixture f;
    const char *p = good_file(&f, "config.h5");
    int V = ed_tok_vocab_size(f.tok);
    ed_error err;
    ed_gpt *m = fixture_model(V, 64, 2, 1);
    expect_fail(at_read_model(p, m, &err), &err, p, "checkpoint has d_ff = 32 but the model was created with 64");
    ed_gpt_free(m);
    m = fixture_model(V, 32, 4, 1);
    expect_fail(at_read_model(p, m, &err), &err, p, "checkpoint has n_heads = 2 but the model was created with 4");
    ed_gpt_free(m);
    /* An extra tensor in the file (e.g. a checkpoint with another head) is named. */
    hid_t file = open_rw(p);
    float x[1] = {0};
    hsize_t d1 = 1;
    H5LTmake_dataset_float(file, "/model/lm_head.weight", 1, &d1, x);
    close_rw(file, p);
    expect_fail(at_read_model(p, f.model, &err), &err, p, "/model/lm_head.weight: not a parameter");
    fixture_free(&f);
}

static void poke_float(const char *p, const char *dset, size_t at, float value) {
    hid_t file = open_rw(p);
    hid_t d = H5Dopen2(file, dset, H5P_DEFAULT);
    hid_t fs = H5Dget_space(d);
    hsize_t dims[2] = {1, 1};
    int nd = H5Sget_simple_extent_dims(fs, dims, NULL);
    hsize_t start[2] = {at, 0}, count[2] = {1, 1};
    if (nd == 2) {
        start[0] = at / dims[1];
        start[1] = at % dims[1];
    }
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    hsize_t one = 1;
    hid_t ms = H5Screate_simple(1, &one, NULL);
    assert_true(H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, &value) >= 0);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
    close_rw(file, p);
}

static void test_bad_nan_inf(void **st) {
    (void)st;
    fixture f;
    const char *p = good_file(&f, "nan.h5");
    ed_error err;
    poke_float(p, "/model/wpe.weight", 37, NAN);
    expect_fail(at_read_model(p, f.model, &err), &err, p, "/model/wpe.weight: NaN at element 37");
    poke_float(p, "/model/wpe.weight", 37, 0.0f);
    poke_float(p, "/optimizer/v/ln_f.weight", 3, INFINITY);
    assert_int_equal(at_read_model(p, f.model, &err), 0);
    ed_optim o;
    ed_optim_init(&o, ED_OPT_ADAMW, 0, ed_gpt_num_params(f.model), 0.9f, 0.999f, 1e-8f, 0, 0);
    expect_fail(at_read_optim(p, &o, f.model, &err), &err, p, "/optimizer/v/ln_f.weight: Inf at element 3");
    ed_optim_free(&o);
    fixture_free(&f);
}

/* Truncated at many points (a copy that was cut short, a full disk under another tool):
 * every reader must fail cleanly; which message depends on where the cut falls. */
static void test_bad_truncated(void **st) {
    (void)st;
    fixture f;
    const char *p = good_file(&f, "whole.h5");
    size_t len;
    char *data = slurp(p, &len);
    const char *q = fixture_path("cut.h5");
    for (int k = 1; k < 8; k++) {
        FILE *fp = fopen(q, "wb");
        fwrite(data, 1, len * (size_t)k / 8, fp);
        fclose(fp);
        ed_error err = {{0}};
        ed_options o;
        ed_options_defaults(&o);
        ed_train_state s;
        int rc = at_read_model(q, f.model, &err);
        assert_int_equal(rc, -1);
        assert_non_null(strstr(err.msg, q));
        assert_int_equal(at_read_options(q, ED_CMD_INSPECT, &o, &err), -1);
        assert_int_equal(at_read_state(q, &s, NULL, &err), -1);
        ed_tokenizer *t = at_read_tokenizer(q, &err);
        if (t) ed_tok_free(t);
    }
    free(data);
    fixture_free(&f);
}

static void test_bad_tokenizer_blob(void **st) {
    (void)st;
    fixture f;
    const char *p = good_file(&f, "tok.h5");
    hid_t file = open_rw(p);
    H5Ldelete(file, "/tokenizer", H5P_DEFAULT);
    H5LTmake_dataset_string(file, "/tokenizer", "{\"kind\": \"word\", \"tokens\": 17}");
    close_rw(file, p);
    ed_error err;
    assert_null(at_read_tokenizer(p, &err));
    expect_fail(-1, &err, p, "/tokenizer: ");
    fixture_free(&f);
}

/* Typed /config: a string where a number belongs is named, not misread. */
static void test_bad_config_type(void **st) {
    (void)st;
    fixture f;
    const char *p = good_file(&f, "cfgtype.h5");
    hid_t file = open_rw(p);
    H5LTset_attribute_string(file, "/config", "batch-size", "eight");
    close_rw(file, p);
    ed_options o;
    ed_options_defaults(&o);
    ed_error err;
    expect_fail(at_read_options(p, ED_CMD_INSPECT, &o, &err), &err, p, "/config attribute 'batch-size': expected an integer");
    fixture_free(&f);
}

/* What a checkpoint dictates depends on the command (the options table's ckpt column):
 * the model shape to all, the windows to resume and eval, the seed and optimizer to a
 * resume only, the rest to nobody but inspect; one-shot options never. */
static void test_dictated_per_command(void **st) {
    (void)st;
    fixture f;
    const char *p = good_file(&f, "dictated.h5");
    hid_t file = open_rw(p);
    H5LTset_attribute_string(file, "/config", "optimizer", "sgd");
    close_rw(file, p);
    static const struct {
        ed_command cmd;
        int model, pack, seed, optimizer, lr;
    } want[] = {
        {ED_CMD_TRAIN, 1, 1, 1, 1, 0},
        {ED_CMD_EVAL, 1, 1, 0, 0, 0},
        {ED_CMD_GENERATE, 1, 0, 0, 0, 0},
        {ED_CMD_INSPECT, 1, 1, 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        ed_options o, d;
        ed_options_defaults(&o);
        d = o;
        ed_error err;
        if (at_read_options(p, want[i].cmd, &o, &err) != 0) fail_msg("%s", err.msg);
        assert_int_equal(memcmp(&o.model, ed_gpt_config(f.model), sizeof o.model) == 0, want[i].model);
        assert_int_equal(o.pack, want[i].pack ? 1 : d.pack);
        assert_true(o.seed == (want[i].seed ? f.opt.seed : d.seed));
        assert_int_equal(o.optimizer, want[i].optimizer ? ED_OPT_SGD : d.optimizer);
        assert_true(o.lr == (want[i].lr ? f.opt.lr : d.lr));
        assert_int_equal(o.debug_exit_step, 0);
        assert_string_equal(o.resume, "");
    }
    fixture_free(&f);
}

/* Choices are stored by name (as every version wrote them): a name this version does not
 * know is named with the ones it does; a known one reads back as the enum. */
static void test_config_choice_names(void **st) {
    (void)st;
    fixture f;
    const char *p = good_file(&f, "cfgchoice.h5");
    hid_t file = open_rw(p);
    H5LTset_attribute_string(file, "/config", "optimizer", "sgd");
    H5LTset_attribute_string(file, "/config", "lr-schedule", "rmsprop-decay");
    close_rw(file, p);
    ed_options o;
    ed_options_defaults(&o);
    ed_error err;
    expect_fail(at_read_options(p, ED_CMD_INSPECT, &o, &err), &err, p,
                "/config attribute 'lr-schedule': lr-schedule must be constant, linear or cosine (got 'rmsprop-decay')");
    file = open_rw(p);
    H5LTset_attribute_string(file, "/config", "lr-schedule", "linear");
    close_rw(file, p);
    ed_options_defaults(&o);
    assert_int_equal(at_read_options(p, ED_CMD_INSPECT, &o, &err), 0);
    assert_int_equal(o.optimizer, ED_OPT_SGD);
    assert_int_equal(o.lr_schedule, ED_SCHED_LINEAR);
    fixture_free(&f);
}

/* Corruption HDF5 cannot be trusted to survive (it may crash on bad metadata) is caught
 * by the whole-file checksum before HDF5 reads anything. */
static void test_bad_checksum(void **st) {
    (void)st;
    fixture f;
    const char *p = good_file(&f, "flipped.h5");
    size_t len;
    char *data = slurp(p, &len);
    ed_error err;
    ed_options o;
    ed_options_defaults(&o);
    /* One bit anywhere after the header: in the superblock, in metadata, in a weight. */
    size_t where[] = {CKPT_USERBLOCK + 3, CKPT_USERBLOCK + 700, len / 2, len - 1};
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        data[where[i]] ^= 0x10;
        FILE *fp = fopen(p, "wb");
        fwrite(data, 1, len, fp);
        fclose(fp);
        expect_fail(at_read_options(p, ED_CMD_INSPECT, &o, &err), &err, p, "checksum mismatch");
        expect_fail(at_read_model(p, f.model, &err), &err, p, "checksum mismatch");
        data[where[i]] ^= 0x10;
    }
    /* Truncated: named as such. */
    FILE *fp = fopen(p, "wb");
    fwrite(data, 1, len - 100, fp);
    fclose(fp);
    expect_fail(at_read_model(p, f.model, &err), &err, p, "truncated or extended checkpoint");
    /* A damaged header itself. */
    memcpy(data + strlen("expert-dist checkpoint\n"), "sise", 4);
    fp = fopen(p, "wb");
    fwrite(data, 1, len, fp);
    fclose(fp);
    expect_fail(at_read_model(p, f.model, &err), &err, p, "damaged checkpoint header");
    free(data);
    fixture_free(&f);

    /* A deliberate in-place edit by another tool: refused, unless verification is off. */
    p = good_file(&f, "edited.h5");
    poke_float(p, "/model/ln_f.bias", 0, 0.25f); /* reseals */
    hid_t file = open_rw(p);
    H5LTset_attribute_string(file, "/", "note", "edited with another tool");
    H5Fclose(file);
    expect_fail(at_read_model(p, f.model, &err), &err, p, "ED_CKPT_NO_VERIFY=1 reads it anyway");
    setenv("ED_CKPT_NO_VERIFY", "1", 1);
    int rc = at_read_model(p, f.model, &err);
    unsetenv("ED_CKPT_NO_VERIFY");
    assert_int_equal(rc, 0);
    assert_true(ed_gpt_params(f.model)[ed_gpt_find_tensor(f.model, "ln_f.bias")->offset] == 0.25f);
    fixture_free(&f);
}

/* ---- find_latest ---------------------------------------------------------------- */

static void write_step(fixture *f, const char *dir, const char *name, long step) {
    char p[300];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    f->state.global_step = step;
    write_fixture(f, p, 0);
}

static void test_find_latest(void **st) {
    (void)st;
    fixture f;
    fixture_init(&f, 30);
    char dir[200], found[512], want[300];
    snprintf(dir, sizeof dir, "%s", fixture_path("runs"));
    ed_error err;
    assert_int_equal(ed_ckpt_find_latest(dir, found, sizeof found, &err), 0); /* no directory yet */
    mkdir(dir, 0755);
    assert_int_equal(ed_ckpt_find_latest(dir, found, sizeof found, &err), 0); /* empty */

    /* By the step stored inside, not by name or mtime: last.h5 is written last but older. */
    write_step(&f, dir, "step-10.h5", 10);
    write_step(&f, dir, "step-3.h5", 3);
    write_step(&f, dir, "best.h5", 99);  /* never a resume candidate */
    write_step(&f, dir, "step-x.h5", 98); /* not step-<digits> */
    write_step(&f, dir, "last.h5", 5);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s/step-20.h5.tmp", dir);
    FILE *fp = fopen(tmp, "w");
    fputs("half a file", fp);
    fclose(fp);
    assert_int_equal(ed_ckpt_find_latest(dir, found, sizeof found, &err), 1);
    snprintf(want, sizeof want, "%s/step-10.h5", dir);
    assert_string_equal(found, want);

    /* A broken newest candidate does not block the older good one. */
    snprintf(want, sizeof want, "%s/step-10.h5", dir);
    fp = fopen(want, "w");
    fputs("garbage", fp);
    fclose(fp);
    assert_int_equal(ed_ckpt_find_latest(dir, found, sizeof found, &err), 1);
    snprintf(want, sizeof want, "%s/last.h5", dir);
    assert_string_equal(found, want);

    /* A tie goes to last.h5. */
    write_step(&f, dir, "step-5.h5", 5);
    assert_int_equal(ed_ckpt_find_latest(dir, found, sizeof found, &err), 1);
    assert_string_equal(found, want);

    /* Only broken candidates: an error naming one of them. */
    char dir2[200];
    snprintf(dir2, sizeof dir2, "%s", fixture_path("broken"));
    mkdir(dir2, 0755);
    snprintf(want, sizeof want, "%s/last.h5", dir2);
    fp = fopen(want, "w");
    fputs("garbage", fp);
    fclose(fp);
    expect_fail(ed_ckpt_find_latest(dir2, found, sizeof found, &err), &err, want, "not an HDF5 file");
    fixture_free(&f);
}

static void test_print(void **st) {
    (void)st;
    fixture f;
    const char *p = good_file(&f, "print.h5");
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    ed_error err;
    assert_int_equal(at_print(p, out, &err), 0);
    fclose(out);
    char version[64];
    snprintf(version, sizeof version, "format expert-dist-checkpoint v%d", ED_CKPT_FORMAT_VERSION);
    const char *want[] = {version, "lr-schedule", "= cosine", "lr ",
                          "= 0.001234", "= 9223372036854775813", "blocks.1.fc_out.weight", "[16, 32]",
                          "global_step", "= 1234", "val_loss", "3 values", "val_accuracy", "empty",
                          "[tokenizer]", "kind", "word"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(buf, want[i])) fail_msg("inspect output lacks '%s':\n%s", want[i], buf);
    free(buf);
    fixture_free(&f);
}

int main(void) {
    fixture_dir_make();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_struct_is_covered),
        cmocka_unit_test(test_roundtrip_all),
        cmocka_unit_test(test_roundtrip_compressed),
        cmocka_unit_test(test_optim_slices),
        cmocka_unit_test(test_sgd_and_kind_mismatch),
        cmocka_unit_test(test_export_only_model),
        cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_atomic_kill_before_rename),
        cmocka_unit_test(test_write_fails_midway),
        cmocka_unit_test(test_bad_missing_and_not_hdf5),
        cmocka_unit_test(test_bad_format_attr),
        cmocka_unit_test(test_bad_newer_version),
        cmocka_unit_test(test_file_without_scaler),
        cmocka_unit_test(test_bad_missing_dataset),
        cmocka_unit_test(test_bad_shape),
        cmocka_unit_test(test_bad_config_mismatch),
        cmocka_unit_test(test_bad_nan_inf),
        cmocka_unit_test(test_bad_truncated),
        cmocka_unit_test(test_bad_tokenizer_blob),
        cmocka_unit_test(test_dictated_per_command), cmocka_unit_test(test_config_choice_names), cmocka_unit_test(test_bad_config_type),
        cmocka_unit_test(test_bad_checksum),
        cmocka_unit_test(test_find_latest),
        cmocka_unit_test(test_print),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fixture_dir_remove();
    return rc;
}
