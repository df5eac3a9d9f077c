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
#include "prepare_oracle.h"
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
    must(oracle_prepare_write(h5, &train, &val, tok, NULL, &err), &err);
    check_identity(h5, &train, &val, tok);
    /* with several OpenMP threads per rank: the same file contents */
    int threads = omp_get_max_threads();
    omp_set_num_threads(3);
    const char *h5t = path_of("bpe-threads.h5");
    must(oracle_prepare_write(h5t, &train, &val, tok, NULL, &err), &err);
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
    must(oracle_prepare_write(h5, &train, NULL, tok, NULL, &err), &err);
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
    must(oracle_prepare_write(good_h5, &train, &train, tok, NULL, &err), &err);
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

/* Loads (which must work: the damage is not visible at start-up), then uses every window
 * in order: the first damaged one must be a clear error. */
static void expect_use_error(const char *path, const char *fragment) {
    ed_dataset ds;
    ed_window_options wo = {.max_length = 16, .stride = 8};
    ed_error err = {{0}};
    must(ed_dataset_load_prepared(&ds, path, "train", &wo, &err), &err);
    ed_batch b;
    ed_batch_init(&b, 4, 15);
    int failed = 0;
    for (uint32_t w = 0; w < ds.n_windows && !failed; w += 4) {
        uint32_t ids[4];
        int n = 0;
        for (uint32_t k = w; k < w + 4 && k < ds.n_windows; k++) ids[n++] = k;
        failed = ed_batch_fill(&b, &ds, ids, n, 0, &err) != 0;
    }
    ed_batch_free(&b);
    ed_dataset_free(&ds);
    if (!failed) fail_msg("%s: every window was used, expected an error", path);
    if (!strstr(err.msg, fragment)) fail_msg("error '%s' lacks '%s'", err.msg, fragment);
    if (!strstr(err.msg, path)) fail_msg("error '%s' does not name the file", err.msg);
}

/* `expert-dist verify` must find it, naming file, dataset and offset. */
static void expect_verify_error(const char *path, const char *fragment) {
    ed_prepared_info info;
    ed_error err = {{0}};
    if (ed_prepared_verify(path, &info, &err) == 0) fail_msg("%s verified, expected an error", path);
    if (!strstr(err.msg, fragment)) fail_msg("verify error '%s' lacks '%s'", err.msg, fragment);
    if (!strstr(err.msg, path)) fail_msg("verify error '%s' does not name the file", err.msg);
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
    /* damage inside the token array: found at use (the window that holds it) and by verify */
    expect_use_error(damaged("d6.h5", big_token), "/train/tokens[5] = 60000 is outside the vocabulary");
    expect_verify_error(path_of("d6.h5"), "/train/tokens[5] = 60000 is outside the vocabulary");
    expect_verify_error(damaged("d7.h5", no_bos), "/train/tokens[0] = 10: document 0 does not start with <BOS>");
    /* damage in the index: found at start-up (the index pass) and by verify */
    expect_error(damaged("d8.h5", bad_offsets), "train", "document 0 spans tokens [0, 1)");
    expect_verify_error(path_of("d8.h5"), "/train/doc_offsets[1] = 1: document 0 spans [0, 1)");
    expect_error(damaged("d9.h5", short_offsets_end), "train", "the document index is damaged");
    expect_verify_error(path_of("d9.h5"), "/train/doc_offsets[");
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
    expect_error(cut, "train", "truncated: the file ends at byte offset 3000");
    expect_verify_error(cut, "truncated");
    /* cut by a few bytes only: the tokens are the last bytes written */
    snprintf(cmd, sizeof cmd, "head -c $(( $(stat -c %%s '%s') - 10 )) '%s' > '%s'", good_h5, good_h5, cut);
    assert_int_equal(system(cmd), 0);
    expect_error(cut, "train", "truncated");
    /* the good file passes verify */
    ed_prepared_info vinfo;
    ed_error verr;
    must(ed_prepared_verify(good_h5, &vinfo, &verr), &verr);
    assert_int_equal(vinfo.n_docs[0], 30);
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
    assert_int_equal(oracle_prepare_write(out, &train, NULL, tok, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "cannot create"));
    assert_non_null(strstr(err.msg, "x.h5.tmp"));
    ed_docs empty = {0};
    assert_int_equal(oracle_prepare_write(path_of("e.h5"), &empty, NULL, tok, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "no training documents"));
    /* documents made in memory (no source file) record what was tokenized */
    char *texts[] = {"hello world", "привет мир"};
    size_t lens[] = {11, strlen(texts[1])};
    long lines[] = {1, 3};
    ed_docs mem = {.n = 2, .text = texts, .len = lens, .line = lines, .path = NULL};
    const char *h5 = path_of("mem.h5");
    must(oracle_prepare_write(h5, &mem, NULL, tok, NULL, &err), &err);
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

/* A token dataset rewritten chunked and deflate-compressed (as h5repack would): it cannot
 * be mapped, so windows are read by hyperslab; same windows, same batches. */
static void chunk_tokens(hid_t f) {
    hid_t d = H5Dopen2(f, "/train/tokens", H5P_DEFAULT);
    hid_t sp = H5Dget_space(d);
    hsize_t n;
    H5Sget_simple_extent_dims(sp, &n, NULL);
    uint16_t *v = malloc(n * sizeof *v);
    H5Dread(d, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
    H5Ldelete(f, "/train/tokens", H5P_DEFAULT);
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk = 100;
    H5Pset_chunk(pl, 1, &chunk);
    H5Pset_deflate(pl, 4);
    d = H5Dcreate2(f, "/train/tokens", H5T_STD_U16LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
    H5Pclose(pl);
    H5Sclose(sp);
    free(v);
}

static void test_chunked_fallback(void **state) {
    (void)state;
    const char *p = damaged("chunked.h5", chunk_tokens);
    ed_window_options wo = {.max_length = 16, .stride = 8};
    ed_dataset a, b;
    ed_error err;
    must(ed_dataset_load_prepared(&a, good_h5, "train", &wo, &err), &err);
    must(ed_dataset_load_prepared(&b, p, "train", &wo, &err), &err);
    assert_non_null(a.tokens); /* mapped */
    assert_null(b.tokens);     /* read by hyperslab */
    assert_true(ed_dataset_mapped(&a) > 0);
    assert_null(ph_dataset_diff(&a, &b));
    const char *diff = ph_batches_diff(&a, &b, 3, 0, 1);
    if (diff) fail_msg("chunked tokens differ: %s", diff);
    ed_dataset_free(&a);
    ed_dataset_free(&b);
    ed_prepared_info info;
    must(ed_prepared_verify(p, &info, &err), &err);
}

/* ---- the stored window index ------------------------------------------------------------ */

/* bytes this process has read with read()/pread() so far (/proc/self/io rchar): what
 * start-up costs in I/O, whatever the page cache holds */
static long long rchar(void) {
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    long long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "rchar: %lld", &v) == 1) break;
    if (f) fclose(f);
    return v;
}

/* A prepared file of n_docs documents of doc_len tokens ([BOS] ids [EOS]), written with
 * the writer directly (1M documents in a second), with the window index for win. */
static void write_synthetic(const char *path, uint64_t n_docs, uint64_t doc_len, const ed_window_options *win) {
    char *words = "a b c d e f g h i j k l";
    size_t wl = strlen(words);
    ed_tok_options to = {.kind = ED_TOK_WORD, .vocab_size = 16, .min_freq = 1};
    ed_error err;
    ed_tokenizer *tok = ed_tok_train(&to, (const char *const *)&words, &wl, 1, &err);
    if (!tok) fail_msg("%s", err.msg);
    prep_writer w;
    must(prep_open(&w, path, tok, win, &err), &err);
    prep_source src = {.bytes = 0};
    snprintf(src.path, sizeof src.path, "(synthetic)");
    memset(src.sha256, '0', 64);
    prep_split_begin(&w, "train", n_docs * doc_len, n_docs, &src);
    enum { PIECE = 4096 };
    uint64_t off[PIECE];
    int32_t *ids = malloc(PIECE * doc_len * sizeof *ids);
    for (uint64_t at = 0; at < n_docs; at += PIECE) {
        size_t k = n_docs - at < PIECE ? (size_t)(n_docs - at) : PIECE;
        for (size_t i = 0; i < k; i++) {
            off[i] = (at + i + 1) * doc_len;
            for (uint64_t j = 0; j < doc_len; j++)
                ids[i * doc_len + j] = j == 0             ? ED_BOS
                                       : j == doc_len - 1 ? ED_EOS
                                                          : ED_NUM_SPECIAL + (int32_t)((at + i + j) % 12);
        }
        prep_put_offsets(&w, off, k, at + 1);
        prep_put_tokens(&w, ids, k * doc_len, at * doc_len);
    }
    free(ids);
    prep_split_end(&w);
    must(prep_close(&w, &err), &err);
    ed_tok_free(tok);
}

/* A copy of src without /train/window_blocks (an older file). */
static void copy_without_index(const char *src, const char *dst) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, dst);
    assert_int_equal(system(cmd), 0);
    hid_t f = H5Fopen(dst, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    H5Ldelete(f, "/train/window_blocks", H5P_DEFAULT);
    H5Fclose(f);
}

/* prepare's stored index gives exactly the windows and batches of the text path and of
 * the one-pass index; it is mapped (no owned block index, no note), while another shape,
 * a file without it, and pack fall back or need none. */
static void test_stored_index(void **state) {
    (void)state;
    const char *tp = path_of("idx.txt");
    ph_write_corpus(tp, 400, 120, 7); /* 400 documents: 7 blocks, the last one partial */
    ed_docs train;
    read_docs(tp, &train);
    ed_tokenizer *tok = train_tok(&train, ED_TOK_WORD, 200);
    ed_error err;
    const ed_window_options shapes[] = {{.max_length = 16, .stride = 8}, {.max_length = 9, .stride = 13},
                                        {.max_length = 2, .stride = 1}};
    for (size_t k = 0; k < 3; k++) {
        const char *h5 = path_of("idx.h5"), *bare = path_of("idx-bare.h5");
        must(oracle_prepare_write(h5, &train, &train, tok, &shapes[k], &err), &err);
        copy_without_index(h5, bare);
        ed_dataset a, b, c;
        must(ed_dataset_build(&a, &train, tok, &shapes[k], &err), &err);
        must(ed_dataset_load_prepared(&b, h5, "train", &shapes[k], &err), &err);
        must(ed_dataset_load_prepared(&c, bare, "train", &shapes[k], &err), &err);
        assert_null(b.own_blocks);
        assert_true(b.map_len[2] > 0);
        assert_int_equal(ed_dataset_memory(&b), 0);
        assert_string_equal(b.note, "");
        assert_non_null(c.own_blocks);
        assert_non_null(strstr(c.note, "one pass over 400 documents because the file stores none"));
        const char *d = ph_dataset_diff(&a, &b);
        if (d || (d = ph_dataset_diff(&c, &b))) fail_msg("shape %zu: %s differ", k, d);
        for (int world = 1; world <= 2; world++)
            for (int rank = 0; rank < world; rank++)
                if ((d = ph_batches_diff(&a, &b, 3, rank, world))) fail_msg("shape %zu: %s differ", k, d);
        /* the start-up consistency hash: the same mapped or built */
        assert_true(ed_dataset_fingerprint(&b) == ed_dataset_fingerprint(&c));
        ed_dataset_free(&a);
        ed_dataset_free(&b);
        ed_dataset_free(&c);
        /* the val split has its own */
        must(ed_dataset_load_prepared(&b, h5, "val", &shapes[k], &err), &err);
        assert_true(b.map_len[2] > 0 && !b.own_blocks);
        ed_dataset_free(&b);
        ed_prepared_info info;
        must(ed_prepared_verify(h5, &info, &err), &err);
        assert_int_equal(info.window_max_length, shapes[k].max_length);
        assert_int_equal(info.window_stride, shapes[k].stride);
    }
    /* another stride: one pass, and the note says what the file holds and how to store it */
    const char *h5 = path_of("idx.h5");
    ed_window_options other = {.max_length = 2, .stride = 2}, pack = {.max_length = 16, .stride = 16, .pack = 1};
    ed_dataset a, b;
    must(ed_dataset_build(&a, &train, tok, &other, &err), &err);
    must(ed_dataset_load_prepared(&b, h5, "train", &other, &err), &err);
    assert_non_null(b.own_blocks);
    assert_non_null(strstr(b.note, "stores it for --max-length 2 --stride 1"));
    assert_non_null(strstr(b.note, "--max-length 2 --stride 2"));
    assert_null(ph_dataset_diff(&a, &b));
    ed_dataset_free(&a);
    ed_dataset_free(&b);
    must(ed_dataset_load_prepared(&b, h5, "train", &pack, &err), &err);
    assert_string_equal(b.note, "");
    assert_int_equal(ed_dataset_memory(&b), 0);
    ed_dataset_free(&b);
    ed_tok_free(tok);
    ed_docs_free(&train);
}

/* Start-up is O(1) in documents with a stored index: opening 1,000 or 1,000,000 documents
 * reads the same bytes (HDF5 metadata) and owns the same memory (none); the one-pass
 * index, for contrast, reads 8 bytes a document (so the probe would see it). */
static void test_startup_o1(void **state) {
    (void)state;
    ed_window_options win = {.max_length = 8, .stride = 4}, other = {.max_length = 8, .stride = 3};
    const char *small = path_of("o1-small.h5"), *big = path_of("o1-big.h5");
    write_synthetic(small, 1000, 8, &win);
    write_synthetic(big, 1000000, 8, &win);
    long long read_bytes[2][2];
    size_t owned[2][2];
    for (int f = 0; f < 2; f++)
        for (int k = 0; k < 2; k++) {
            ed_dataset ds;
            ed_error err;
            long long before = rchar();
            must(ed_dataset_load_prepared(&ds, f ? big : small, "train", k ? &other : &win, &err), &err);
            read_bytes[f][k] = rchar() - before;
            owned[f][k] = ed_dataset_memory(&ds);
            assert_int_equal(ds.n_docs, f ? 1000000 : 1000);
            ed_dataset_free(&ds);
        }
    print_message("start-up read bytes: stored index %lld (10^3 docs) / %lld (10^6); one pass %lld / %lld\n",
                  read_bytes[0][0], read_bytes[1][0], read_bytes[0][1], read_bytes[1][1]);
    assert_true(read_bytes[0][0] >= 0);
    if (read_bytes[1][0] != read_bytes[0][0])
        fail_msg("stored index: start-up read %lld bytes for 10^6 documents, %lld for 10^3", read_bytes[1][0],
                 read_bytes[0][0]);
    assert_int_equal(owned[0][0], 0);
    assert_int_equal(owned[1][0], 0);
    if (read_bytes[1][1] - read_bytes[0][1] < 8 * 999000LL)
        fail_msg("one-pass index: %lld vs %lld bytes read, expected 8 per document more", read_bytes[1][1],
                 read_bytes[0][1]);
    assert_int_equal(owned[1][1], ((1000000 + ED_WIN_BLOCK - 1) / ED_WIN_BLOCK + 1) * 8);
}

/* Entries rewritten in place: a clear error at use (the window that reads them) or at
 * open (the first and last entries), and from verify; never a crash. */
static char idx_h5[256];

static void make_idx(void) {
    if (idx_h5[0]) return;
    snprintf(idx_h5, sizeof idx_h5, "%s", path_of("idx-good.h5"));
    ed_window_options win = {.max_length = 16, .stride = 8};
    write_synthetic(idx_h5, 1000, 13, &win); /* 16 blocks */
}

static const char *damaged_idx(const char *name, const char *obj, uint64_t at, int64_t delta) {
    make_idx();
    const char *p = path_of(name);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", idx_h5, p);
    assert_int_equal(system(cmd), 0);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, obj, H5P_DEFAULT);
    uint64_t v;
    assert_int_equal(prep_read_slab(d, H5T_NATIVE_UINT64, &v, at, 1), 0);
    v += (uint64_t)delta;
    assert_int_equal(prep_write_slab(d, H5T_NATIVE_UINT64, &v, at, 1), 0);
    H5Dclose(d);
    H5Fclose(f);
    return p;
}

static void test_damaged_index(void **state) {
    (void)state;
    make_idx();
    ed_prepared_info info;
    ed_error err;
    must(ed_prepared_verify(idx_h5, &info, &err), &err);
    /* a middle entry of window_blocks, up or down */
    expect_use_error(damaged_idx("w1.h5", "/train/window_blocks", 5, 3), "/train/window_blocks[");
    expect_verify_error(path_of("w1.h5"), "/train/window_blocks[5] = ");
    expect_use_error(damaged_idx("w2.h5", "/train/window_blocks", 9, -1), "the window index is damaged");
    expect_use_error(damaged_idx("w3.h5", "/train/window_blocks", 3, 1000000000), "/train/window_blocks[");
    /* a document boundary moved so that the block's window count changes (13 -> 21 and 5
     * tokens: 1 + 1 -> 2 + 1 windows), or beyond the array; a move that keeps every count
     * gives other windows, all inside the array, and is left to verify (<BOS>/<EOS>) */
    expect_use_error(damaged_idx("w4.h5", "/train/doc_offsets", 300, 8), "/train/window_blocks[4..5]");
    expect_verify_error(path_of("w4.h5"), "/train/");
    expect_use_error(damaged_idx("w5.h5", "/train/doc_offsets", 500, 1 << 30), "/train/doc_offsets[500] = ");
    /* the first and last entries are checked at open */
    expect_error(damaged_idx("w6.h5", "/train/window_blocks", 16, 1), "train", "/train/window_blocks[0] = 0, [16] = ");
    expect_error(damaged_idx("w7.h5", "/train/window_blocks", 0, 7), "train", "the window index is damaged");
    expect_error(damaged_idx("w8.h5", "/train/doc_offsets", 1000, -1), "train", "/train/doc_offsets[0] = 0, [1000] = ");
    /* a copy cut short after prepare */
    const char *cut = path_of("w-cut.h5");
    char cmd[700];
    snprintf(cmd, sizeof cmd, "head -c $(( $(stat -c %%s '%s') - 10 )) '%s' > '%s'", idx_h5, idx_h5, cut);
    assert_int_equal(system(cmd), 0);
    expect_error(cut, "train", "truncated");
    expect_verify_error(cut, "truncated");
}

/* The window rule in closed form (ed_windows_in_doc) against the reference loop. */
static void test_windows_in_doc(void **state) {
    (void)state;
    for (int ml = 2; ml < 12; ml++)
        for (int st = 1; st < 15; st++)
            for (uint64_t L = 0; L < 60; L++) {
                uint64_t n = 0;
                for (uint64_t s = 0; s < L; s += (uint64_t)st) {
                    uint64_t len = L - s < (uint64_t)ml ? L - s : (uint64_t)ml;
                    if (len >= 2) n++;
                    if (s + (uint64_t)ml >= L) break;
                }
                ed_window_options o = {.max_length = ml, .stride = st};
                if (ed_windows_in_doc(L, &o) != n)
                    fail_msg("L %llu ml %d stride %d: %llu windows, expected %llu", (unsigned long long)L, ml, st,
                             (unsigned long long)ed_windows_in_doc(L, &o), (unsigned long long)n);
            }
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
        cmocka_unit_test(test_write_errors),   cmocka_unit_test(test_chunked_fallback),
        cmocka_unit_test(test_windows_in_doc), cmocka_unit_test(test_stored_index),
        cmocka_unit_test(test_startup_o1),     cmocka_unit_test(test_damaged_index),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
