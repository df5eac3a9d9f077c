/* test_prepared.c — the prepared HDF5 token file: identical tokens, windows and batches to
 * the text path (bpe and word tokenizers, uint16 and int32 storage, all window modes),
 * threads per rank, metadata (sizes, SHA-256 checked against sha256sum), the stored tokenizer, and clear
 * one-line errors for missing, foreign and damaged files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <hdf5.h>
#include <omp.h>

#include "expert/dataset.h"
#include "expert/prepared.h"
#include "expert/tokenizer.h"
#include "prep_helpers.h"
#include "prepared_internal.h"

static char dir[64];

static const char *path_of(const char *name) {
    static char p[4][256];
    static int k;
    char *s = p[k++ % 4];
    snprintf(s, 256, "%s/%s", dir, name);
    return s;
}

static void read_docs(const char *path, ed_docs *docs) {
    ed_read_options ro = {.text_field = "text"};
    ed_error err;
    if (ed_docs_read(path, &ro, docs, &err) != 0) fail_msg("%s", err.msg);
}

static ed_tokenizer *train_tok(const ed_docs *docs, ed_tok_kind kind, int vocab) {
    ed_tok_options o = {.kind = kind, .vocab_size = vocab, .min_freq = 1};
    ed_error err;
    ed_tokenizer *t = ed_tok_train(&o, (const char *const *)docs->text, docs->len, docs->n, &err);
    if (!t) fail_msg("%s", err.msg);
    return t;
}

static void must(int rc, const ed_error *err) {
    if (rc != 0) fail_msg("%s", err->msg);
}

/* Text path vs prepared path for several window settings, on both splits. */
static void check_identity(const char *h5, const ed_docs *train, const ed_docs *val, const ed_tokenizer *tok) {
    const ed_window_options opts[] = {
        {.max_length = 16, .stride = 8}, {.max_length = 16, .stride = 16}, {.max_length = 9, .stride = 13},
        {.max_length = 64, .stride = 32, .pack = 1}, {.max_length = 512, .stride = 256}, {.max_length = 2, .stride = 1},
    };
    ed_error err;
    for (size_t k = 0; k < sizeof opts / sizeof *opts; k++)
        for (int s = 0; s < 2; s++) {
            const ed_docs *docs = s ? val : train;
            if (!docs) continue;
            ed_dataset a, b;
            must(ed_dataset_build(&a, docs, tok, &opts[k], &err), &err);
            must(ed_dataset_load_prepared(&b, h5, s ? "val" : "train", &opts[k], &err), &err);
            const char *d = ph_dataset_diff(&a, &b);
            if (d) fail_msg("option set %zu, split %d: %s differ", k, s, d);
            for (int world = 1; world <= 3; world += 2)
                for (int rank = 0; rank < world; rank++)
                    if ((d = ph_batches_diff(&a, &b, 3, rank, world))) fail_msg("option set %zu: %s differ", k, d);
            ed_dataset_free(&a);
            ed_dataset_free(&b);
        }
}

static void test_identity_bpe(void **state) {
    (void)state;
    const char *tp = path_of("train.txt"), *vp = path_of("val.txt");
    ph_write_corpus(tp, 300, 200, 1);
    ph_write_corpus(vp, 40, 200, 2);
    ed_docs train, val;
    read_docs(tp, &train);
    read_docs(vp, &val);
    ed_tokenizer *tok = train_tok(&train, ED_TOK_BPE, 600);
    ed_error err;
    const char *h5 = path_of("bpe.h5");
    must(ed_prepare_write(h5, &train, &val, tok, &err), &err);
    check_identity(h5, &train, &val, tok);
    /* with several OpenMP threads per rank: the same file contents */
    int threads = omp_get_max_threads();
    omp_set_num_threads(3);
    const char *h5t = path_of("bpe-threads.h5");
    must(ed_prepare_write(h5t, &train, &val, tok, &err), &err);
    omp_set_num_threads(threads);
    check_identity(h5t, &train, &val, tok);

    ed_prepared_info info;
    must(ed_prepared_info_read(h5, &info, &err), &err);
    assert_string_equal(info.tokenizer_kind, "bpe");
    assert_string_equal(info.token_dtype, "uint16");
    assert_int_equal(info.vocab_size, ed_tok_vocab_size(tok));
    assert_int_equal(info.has_val, 1);
    assert_int_equal(info.n_docs[0], train.n);
    assert_int_equal(info.n_docs[1], val.n);
    assert_int_equal(strlen(info.created), 20);
    ed_dataset a;
    ed_window_options wo = {.max_length = 32, .stride = 16};
    must(ed_dataset_build(&a, &train, tok, &wo, &err), &err);
    assert_int_equal(info.n_tokens[0], a.n_tokens);
    ed_dataset_free(&a);

    /* the stored tokenizer is the one used */
    ed_tokenizer *back = ed_prepared_tokenizer(h5, &err);
    if (!back) fail_msg("%s", err.msg);
    size_t l1, l2;
    char *s1 = ed_tok_serialize(tok, &l1), *s2 = ed_tok_serialize(back, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(s1, s2, l1);
    free(s1), free(s2);
    ed_tok_free(back);

    /* attributes of the split: source path, size and SHA-256 (checked by sha256sum) */
    hid_t f = H5Fopen(h5, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t g = H5Gopen2(f, "train", H5P_DEFAULT);
    char src[512], sha[80];
    int64_t bytes;
    assert_int_equal(prep_attr_read_str(g, "source", src, sizeof src), 0);
    assert_string_equal(src, tp);
    assert_int_equal(prep_attr_read_i64(g, "source_bytes", &bytes), 0);
    FILE *fp = fopen(tp, "rb");
    fseek(fp, 0, SEEK_END);
    assert_int_equal(bytes, ftell(fp));
    fclose(fp);
    assert_int_equal(prep_attr_read_str(g, "source_sha256", sha, sizeof sha), 0);
    char cmd[600], line[200] = "";
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", tp);
    FILE *pp = popen(cmd, "r");
    assert_non_null(fgets(line, sizeof line, pp));
    pclose(pp);
    assert_memory_equal(line, sha, 64);
    H5Gclose(g);
    H5Fclose(f);

    /* no .tmp left behind */
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", h5);
    assert_int_not_equal(access(tmp, F_OK), 0);
    ed_tok_free(tok);
    ed_docs_free(&train);
    ed_docs_free(&val);
}

/* A word vocabulary above 65536 ids needs int32 storage; without val there is no /val. */
static void test_identity_word_int32(void **state) {
    (void)state;
    const char *tp = path_of("many.txt");
    FILE *f = fopen(tp, "wb");
    for (int d = 0; d < 700; d++) {
        for (int i = 0; i < 100; i++) fprintf(f, "%sw%d", i ? " " : "", d * 100 + i);
        fprintf(f, " common words here\n\n");
    }
    fclose(f);
    ed_docs train;
    read_docs(tp, &train);
    ed_tokenizer *tok = train_tok(&train, ED_TOK_WORD, 70010);
    assert_true(ed_tok_vocab_size(tok) > 65536);
    ed_error err;
    const char *h5 = path_of("word.h5");
    must(ed_prepare_write(h5, &train, NULL, tok, &err), &err);
    ed_prepared_info info;
    must(ed_prepared_info_read(h5, &info, &err), &err);
    assert_string_equal(info.token_dtype, "int32");
    assert_string_equal(info.tokenizer_kind, "word");
    assert_int_equal(info.has_val, 0);
    check_identity(h5, &train, NULL, tok);
    ed_dataset ds;
    ed_window_options wo = {.max_length = 16, .stride = 8};
    assert_int_equal(ed_dataset_load_prepared(&ds, h5, "val", &wo, &err), -1);
    assert_non_null(strstr(err.msg, "no /val split"));
    assert_non_null(strstr(err.msg, h5));
    ed_tok_free(tok);
    ed_docs_free(&train);
}

static void test_sha256_vectors(void **state) {
    (void)state;
    const struct {
        const char *in;
        const char *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t i = 0; i < 3; i++) {
        prep_sha256 s;
        char hex[65];
        prep_sha256_init(&s);
        /* fed in odd pieces, to cross block boundaries */
        for (size_t at = 0; at < strlen(v[i].in); at += 5)
            prep_sha256_update(&s, v[i].in + at, strlen(v[i].in) - at < 5 ? strlen(v[i].in) - at : 5);
        prep_sha256_hex(&s, hex);
        assert_string_equal(hex, v[i].hex);
    }
    /* one million 'a' */
    prep_sha256 s;
    char hex[65], *a = malloc(1000000);
    memset(a, 'a', 1000000);
    prep_sha256_init(&s);
    prep_sha256_update(&s, a, 1000000);
    prep_sha256_hex(&s, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

/* ---- damaged and foreign files ---------------------------------------------------------- */

static char good_h5[256];

static void make_good(void) {
    if (good_h5[0]) return;
    const char *tp = path_of("small.txt");
    ph_write_corpus(tp, 30, 40, 5);
    ed_docs train;
    read_docs(tp, &train);
    ed_tokenizer *tok = train_tok(&train, ED_TOK_BPE, 300);
    ed_error err;
    snprintf(good_h5, sizeof good_h5, "%s", path_of("good.h5"));
    must(ed_prepare_write(good_h5, &train, &train, tok, &err), &err);
    ed_tok_free(tok);
    ed_docs_free(&train);
}

/* Copies the good file to name and applies damage (an HDF5 edit) to the copy. */
static const char *damaged(const char *name, void (*damage)(hid_t file)) {
    make_good();
    const char *p = path_of(name);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", good_h5, p);
    assert_int_equal(system(cmd), 0);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    damage(f);
    H5Fclose(f);
    return p;
}

static void expect_error(const char *path, const char *split, const char *fragment) {
    ed_dataset ds;
    ed_window_options wo = {.max_length = 16, .stride = 8};
    ed_error err = {{0}};
    if (ed_dataset_load_prepared(&ds, path, split, &wo, &err) == 0) fail_msg("%s loaded, expected an error", path);
    if (!strstr(err.msg, fragment)) fail_msg("error '%s' lacks '%s'", err.msg, fragment);
    if (!strstr(err.msg, path)) fail_msg("error '%s' does not name the file", err.msg);
    assert_null(strchr(err.msg, '\n'));
}

static void drop_tokens(hid_t f) { H5Ldelete(f, "/train/tokens", H5P_DEFAULT); }
static void drop_offsets(hid_t f) { H5Ldelete(f, "/val/doc_offsets", H5P_DEFAULT); }

/* Replaces dataset `name` by an empty one of another type or shape. */
static void replace_dataset(hid_t f, const char *name, hid_t type, int rank, const hsize_t *dims) {
    H5Ldelete(f, name, H5P_DEFAULT);
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Sclose(sp);
}

static void float_tokens(hid_t f) { replace_dataset(f, "/train/tokens", H5T_IEEE_F32LE, 1, (hsize_t[]){10}); }
static void int8_offsets(hid_t f) { replace_dataset(f, "/train/doc_offsets", H5T_STD_I8LE, 1, (hsize_t[]){31}); }
static void tokens_2d(hid_t f) { replace_dataset(f, "/train/tokens", H5T_STD_U16LE, 2, (hsize_t[]){2, 3}); }

static void poke(hid_t f, const char *obj, hid_t memtype, const void *value, uint64_t at) {
    hid_t d = H5Dopen2(f, obj, H5P_DEFAULT);
    assert_int_equal(prep_write_slab(d, memtype, value, at, 1), 0);
    H5Dclose(d);
}

static void big_token(hid_t f) {
    int32_t v = 60000; /* fits uint16, beyond the 300-token vocabulary */
    poke(f, "/train/tokens", H5T_NATIVE_INT32, &v, 5);
}

static void no_bos(hid_t f) {
    int32_t v = 10;
    poke(f, "/train/tokens", H5T_NATIVE_INT32, &v, 0);
}

static void bad_offsets(hid_t f) {
    uint64_t v = 1; /* document 0 would be 1 token */
    poke(f, "/train/doc_offsets", H5T_NATIVE_UINT64, &v, 1);
}

static void short_offsets_end(hid_t f) {
    hid_t d = H5Dopen2(f, "/train/doc_offsets", H5P_DEFAULT);
    hid_t sp = H5Dget_space(d);
    hsize_t n;
    H5Sget_simple_extent_dims(sp, &n, NULL);
    uint64_t v = 3;
    prep_write_slab(d, H5T_NATIVE_UINT64, &v, n - 1, 1);
    H5Sclose(sp);
    H5Dclose(d);
}

/* declared but never written: no storage behind the extent */
static void unwritten_tokens(hid_t f) {
    H5Ldelete(f, "/train/tokens", H5P_DEFAULT);
    hsize_t n = 1000000000;
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, "/train/tokens", H5T_STD_U16LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Sclose(sp);
}

static void no_format(hid_t f) { H5Adelete(f, "format"); }

static void future_version(hid_t f) {
    H5Adelete(f, "format_version");
    ed_h5_attr_i64(f, "format_version", 99);
}

static void bad_tokenizer(hid_t f) {
    H5Ldelete(f, "/tokenizer", H5P_DEFAULT);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 7);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(f, "tokenizer", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, "{\"a\":1");
    H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
}

static void test_bad_files(void **state) {
    (void)state;
    expect_error(path_of("nope.h5"), "train", "cannot open");
    const char *txt = path_of("plain.h5");
    FILE *f = fopen(txt, "wb");
    fputs("just text\n", f);
    fclose(f);
    expect_error(txt, "train", "not an HDF5 file");
    /* an HDF5 file of something else (e.g. a checkpoint) */
    const char *other = path_of("other.h5");
    hid_t h = H5Fcreate(other, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(h);
    expect_error(other, "train", "not a prepared token file");
    expect_error(damaged("d1.h5", drop_tokens), "train", "/train/tokens is missing");
    expect_error(damaged("d2.h5", drop_offsets), "val", "/val/doc_offsets is missing");
    expect_error(damaged("d3.h5", float_tokens), "train", "/train/tokens has type float32, expected uint16 or int32");
    expect_error(damaged("d4.h5", int8_offsets), "train", "/train/doc_offsets has type int8, expected uint64");
    expect_error(damaged("d5.h5", tokens_2d), "train", "/train/tokens has 2 dimensions");
    expect_error(damaged("d6.h5", big_token), "train", "/train/tokens[5] = 60000 is outside the vocabulary");
    expect_error(damaged("d7.h5", no_bos), "train", "document 0 does not start with <BOS>");
    expect_error(damaged("d8.h5", bad_offsets), "train", "document 0 has 1 tokens");
    expect_error(damaged("d9.h5", short_offsets_end), "train", "must run from 0 to the");
    expect_error(damaged("d10.h5", no_format), "train", "not a prepared token file");
    expect_error(damaged("d13.h5", unwritten_tokens), "train", "/train/tokens is truncated: 1000000000 entries");
    expect_error(damaged("d11.h5", future_version), "train", "version 99");
    make_good();
    expect_error(good_h5, "test", "unknown split \"test\"");
    /* a copy cut short (an interrupted transfer) */
    const char *cut = path_of("cut.h5");
    char cmd[700];
    snprintf(cmd, sizeof cmd, "head -c 3000 '%s' > '%s'", good_h5, cut);
    assert_int_equal(system(cmd), 0);
    expect_error(cut, "train", "cannot open");
    /* the val split of the damaged-train file still loads: damage is reported where it is */
    ed_dataset ds;
    ed_window_options wo = {.max_length = 16, .stride = 8};
    ed_error err;
    must(ed_dataset_load_prepared(&ds, path_of("d1.h5"), "val", &wo, &err), &err);
    ed_dataset_free(&ds);
    /* bad window options are the caller's error, as on the text path */
    wo.max_length = 1;
    assert_int_equal(ed_dataset_load_prepared(&ds, good_h5, "train", &wo, &err), -1);
    assert_non_null(strstr(err.msg, "max_length must be >= 2"));
    /* a broken stored tokenizer */
    const char *bt = damaged("d12.h5", bad_tokenizer);
    assert_null(ed_prepared_tokenizer(bt, &err));
    assert_non_null(strstr(err.msg, "/tokenizer"));
    assert_non_null(strstr(err.msg, bt));
    ed_prepared_info info;
    assert_int_equal(ed_prepared_info_read(path_of("d3.h5"), &info, &err), -1);
    assert_non_null(strstr(err.msg, "float32"));
}

static void test_write_errors(void **state) {
    (void)state;
    make_good();
    ed_docs train;
    read_docs(path_of("small.txt"), &train);
    ed_tokenizer *tok = train_tok(&train, ED_TOK_BPE, 300);
    ed_error err;
    const char *out = path_of("no/such/dir/x.h5");
    assert_int_equal(ed_prepare_write(out, &train, NULL, tok, &err), -1);
    assert_non_null(strstr(err.msg, "cannot create"));
    assert_non_null(strstr(err.msg, "x.h5.tmp"));
    ed_docs empty = {0};
    assert_int_equal(ed_prepare_write(path_of("e.h5"), &empty, NULL, tok, &err), -1);
    assert_non_null(strstr(err.msg, "no training documents"));
    /* documents made in memory (no source file) record what was tokenized */
    char *texts[] = {"hello world", "привет мир"};
    size_t lens[] = {11, strlen(texts[1])};
    long lines[] = {1, 3};
    ed_docs mem = {.n = 2, .text = texts, .len = lens, .line = lines, .path = NULL};
    const char *h5 = path_of("mem.h5");
    must(ed_prepare_write(h5, &mem, NULL, tok, &err), &err);
    ed_dataset a, b;
    ed_window_options wo = {.max_length = 8, .stride = 4};
    must(ed_dataset_build(&a, &mem, tok, &wo, &err), &err);
    must(ed_dataset_load_prepared(&b, h5, "train", &wo, &err), &err);
    assert_null(ph_dataset_diff(&a, &b));
    ed_dataset_free(&a);
    ed_dataset_free(&b);
    ed_tok_free(tok);
    ed_docs_free(&train);
}

static int setup(void **state) {
    (void)state;
    strcpy(dir, "/tmp/ed-prep-test-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_bpe),   cmocka_unit_test(test_identity_word_int32),
        cmocka_unit_test(test_sha256_vectors), cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_write_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
