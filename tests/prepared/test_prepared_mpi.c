/* test_prepared_mpi.c — oracle_prepare_write_mpi on 1, 2 and 4 ranks: the file it writes
 * loads to exactly the dataset of the serial writer and of the text path (tokens,
 * windows, batches), also when some ranks get no documents; ed_prepare_files (the
 * `prepare` command) with a loaded tokenizer or one built from counts merged over the
 * ranks (byte-identical to the whole-text build, word and bpe); the stored window index
 * is the same from every writer at any world size; a failed write or bad input fails on
 * every rank with the same message. Exit status 0 = pass. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <hdf5.h>
#include <jansson.h>
#include <zlib.h>
#include <zstd.h>

#include "expert/dataset.h"
#include "expert/prepared.h"
#include "expert/tokenizer.h"
#include "prep_helpers.h"
#include "prepare_oracle.h"

static int failures;
static int rank, world;
/* the window index every writer here stores; the serial and MPI files compare it byte
 * for byte, and the loads at this shape map it */
static const ed_window_options WIN = {.max_length = 20, .stride = 10};

#define CHECK(cond, ...)                                                  \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "rank %d: %s:%d: ", rank, __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                 \
            fputc('\n', stderr);                                          \
            failures++;                                                   \
        }                                                                 \
    } while (0)

static void compare_with_text(const char *h5, const ed_docs *docs, const char *split, const ed_tokenizer *tok) {
    /* the one-pass index, pack, and the stored index (mapped) */
    const ed_window_options opts[] = {{.max_length = 16, .stride = 8}, {.max_length = 33, .stride = 40, .pack = 1}, WIN};
    for (int k = 0; k < 3; k++) {
        ed_dataset a, b;
        ed_error err;
        if (ed_dataset_build(&a, docs, tok, &opts[k], &err) != 0) {
            CHECK(0, "text path: %s", err.msg);
            return;
        }
        if (ed_dataset_load_prepared(&b, h5, split, &opts[k], &err) != 0) {
            CHECK(0, "prepared path: %s", err.msg);
            ed_dataset_free(&a);
            return;
        }
        const char *d = ph_dataset_diff(&a, &b);
        CHECK(!d, "%s %s: %s differ from the text path", h5, split, d ? d : "");
        d = ph_batches_diff(&a, &b, 4, rank, world);
        CHECK(!d, "%s %s: %s differ from the text path", h5, split, d ? d : "");
        ed_dataset_free(&a);
        ed_dataset_free(&b);
    }
}

/* The raw bytes of a dataset (rank 0 only): what "byte-identical" means. */
static char *raw_dataset(const char *h5, const char *obj, size_t *n) {
    hid_t f = H5Fopen(h5, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f >= 0 ? H5Dopen2(f, obj, H5P_DEFAULT) : -1;
    char *buf = NULL;
    *n = 0;
    if (d >= 0) {
        hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
        *n = (size_t)H5Sget_simple_extent_npoints(sp) * H5Tget_size(t);
        buf = malloc(*n + 1);
        if (H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) *n = 0;
        H5Tclose(t);
        H5Sclose(sp);
        H5Dclose(d);
    }
    if (f >= 0) H5Fclose(f);
    return buf;
}

static void same_arrays(const char *a, const char *b, const char *split) {
    const char *objs[3] = {"tokens", "doc_offsets", "window_blocks"};
    for (int k = 0; k < 3; k++) {
        char obj[64];
        snprintf(obj, sizeof obj, "/%s/%s", split, objs[k]);
        size_t na, nb;
        char *x = raw_dataset(a, obj, &na), *y = raw_dataset(b, obj, &nb);
        CHECK(x && y && na > 0 && na == nb && memcmp(x, y, na) == 0, "%s: %s and %s are not byte-identical (%zu vs %zu bytes)",
              obj, a, b, na, nb);
        free(x);
        free(y);
    }
}

/* The documents of a .txt corpus as other inputs with the same documents: shards (plain,
 * gzip, zstd) in a directory, and one .jsonl (rank 0 writes them). */
static void write_shards(const char *dir, const ed_docs *docs) {
    char p[256];
    size_t third = docs->n / 3;
    for (int k = 0; k < 3; k++) {
        size_t a = k * third, b = k == 2 ? docs->n : (k + 1) * third, len = 0;
        char *text = malloc(1 << 22);
        for (size_t i = a; i < b; i++) len += (size_t)sprintf(text + len, "%s\n\n", docs->text[i]);
        if (k == 0) {
            snprintf(p, sizeof p, "%s/a-plain.txt", dir);
            FILE *f = fopen(p, "wb");
            fwrite(text, 1, len, f);
            fclose(f);
        } else if (k == 1) {
            snprintf(p, sizeof p, "%s/b-gzip.txt.gz", dir);
            gzFile g = gzopen(p, "wb");
            gzwrite(g, text, (unsigned)len);
            gzclose(g);
        } else {
            snprintf(p, sizeof p, "%s/c-zstd.txt.zst", dir);
            size_t cap = ZSTD_compressBound(len);
            char *z = malloc(cap);
            size_t zn = ZSTD_compress(z, cap, text, len, 3);
            FILE *f = fopen(p, "wb");
            fwrite(z, 1, zn, f);
            fclose(f);
            free(z);
        }
        free(text);
    }
    snprintf(p, sizeof p, "%s/README", dir); /* not an input: skipped in a directory */
    FILE *f = fopen(p, "w");
    fputs("shards\n", f);
    fclose(f);
}

static void write_jsonl(const char *path, const ed_docs *docs) {
    FILE *f = fopen(path, "wb");
    for (size_t i = 0; i < docs->n; i++) {
        json_t *o = json_pack("{s:s}", "text", docs->text[i]);
        char *line = json_dumps(o, JSON_COMPACT);
        fprintf(f, "%s\n", line);
        free(line);
        json_decref(o);
    }
    fclose(f);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    char dir[64] = "/tmp/ed-prep-mpi-XXXXXX";
    if (rank == 0 && !mkdtemp(dir)) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    char tp[128], vp[128], mpi_h5[128], ser_h5[128], bad_h5[128], few_h5[128];
    snprintf(tp, sizeof tp, "%s/train.txt", dir);
    snprintf(vp, sizeof vp, "%s/val.txt", dir);
    snprintf(mpi_h5, sizeof mpi_h5, "%s/mpi.h5", dir);
    snprintf(ser_h5, sizeof ser_h5, "%s/serial.h5", dir);
    snprintf(bad_h5, sizeof bad_h5, "%s/missing/dir/x.h5", dir);
    snprintf(few_h5, sizeof few_h5, "%s/few.h5", dir);
    if (rank == 0) {
        ph_write_corpus(tp, 400, 150, 11);
        ph_write_corpus(vp, 37, 150, 12);
    }
    MPI_Barrier(MPI_COMM_WORLD);

    ed_read_options ro = {.text_field = "text"};
    ed_docs train, val;
    ed_error err;
    if (ed_docs_read(tp, &ro, &train, &err) != 0 || ed_docs_read(vp, &ro, &val, &err) != 0) {
        fprintf(stderr, "rank %d: %s\n", rank, err.msg);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    /* the tokenizer as the trainer makes it: built on rank 0, sent to all */
    char *blob = NULL;
    long len = 0;
    if (rank == 0) {
        ed_tok_options to = {.kind = ED_TOK_BPE, .vocab_size = 500, .min_freq = 1};
        ed_tokenizer *t = ed_tok_train(&to, (const char *const *)train.text, train.len, train.n, &err);
        size_t n;
        blob = ed_tok_serialize(t, &n);
        len = (long)n;
        ed_tok_free(t);
    }
    MPI_Bcast(&len, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    if (rank != 0) blob = malloc((size_t)len + 1);
    MPI_Bcast(blob, (int)len, MPI_CHAR, 0, MPI_COMM_WORLD);
    ed_tokenizer *tok = ed_tok_deserialize(blob, (size_t)len, &err);
    free(blob);

    int rc = oracle_prepare_write_mpi(MPI_COMM_WORLD, mpi_h5, &train, &val, tok, &WIN, &err);
    CHECK(rc == 0, "prepare_write_mpi: %s", err.msg);
    if (rank == 0) {
        rc = oracle_prepare_write(ser_h5, &train, &val, tok, &WIN, &err);
        CHECK(rc == 0, "prepare_write: %s", err.msg);
        same_arrays(ser_h5, mpi_h5, "train");
        same_arrays(ser_h5, mpi_h5, "val");
        ed_window_options wo = {.max_length = 20, .stride = 10};
        for (int s = 0; s < 2; s++) {
            ed_dataset a, b;
            const char *split = s ? "val" : "train";
            if (ed_dataset_load_prepared(&a, ser_h5, split, &wo, &err) == 0 &&
                ed_dataset_load_prepared(&b, mpi_h5, split, &wo, &err) == 0) {
                const char *d = ph_dataset_diff(&a, &b);
                CHECK(!d, "serial vs mpi file, %s: %s differ", split, d ? d : "");
                ed_dataset_free(&a);
                ed_dataset_free(&b);
            } else {
                CHECK(0, "load: %s", err.msg);
            }
        }
    }
    MPI_Barrier(MPI_COMM_WORLD);
    compare_with_text(mpi_h5, &train, "train", tok);
    compare_with_text(mpi_h5, &val, "val", tok);

    /* the one-call command: files in, prepared file out, tokenizer built or loaded */
    char files_h5[128], tok_json[128], vocab_h5[128];
    snprintf(files_h5, sizeof files_h5, "%s/files.h5", dir);
    snprintf(vocab_h5, sizeof vocab_h5, "%s/vocab.h5", dir);
    snprintf(tok_json, sizeof tok_json, "%s/tok.json", dir);
    ed_prepare_options po = {.train_file = tp, .val_file = vp, .read = ro,
                             .tok = {.kind = ED_TOK_BPE, .vocab_size = 500, .min_freq = 1}, .win = WIN};
    ed_prepare_report rep;
    rc = ed_prepare_files(MPI_COMM_WORLD, files_h5, &po, &rep, &err);
    CHECK(rc == 0, "prepare_files: %s", err.msg);
    CHECK(rep.n_docs[0] == train.n && rep.n_docs[1] == val.n && rep.vocab_size == ed_tok_vocab_size(tok) &&
              rep.kind == ED_TOK_BPE && rep.n_tokens[0] > train.n,
          "report: %llu/%llu docs, vocab %d", (unsigned long long)rep.n_docs[0], (unsigned long long)rep.n_docs[1],
          rep.vocab_size);
    if (rc == 0) {
        compare_with_text(files_h5, &train, "train", tok); /* built the same way: same tokenizer */
        compare_with_text(files_h5, &val, "val", tok);
    }
    if (rank == 0) ed_tok_save(tok, tok_json, &err);
    MPI_Barrier(MPI_COMM_WORLD);
    po.vocab_file = tok_json;
    po.val_file = NULL;
    po.tok.vocab_size = 5; /* ignored with a vocab file */
    rc = ed_prepare_files(MPI_COMM_WORLD, vocab_h5, &po, NULL, &err);
    CHECK(rc == 0, "prepare_files with vocab file: %s", err.msg);
    if (rc == 0) compare_with_text(vocab_h5, &train, "train", tok);
    /* bad input fails on every rank with one message */
    po.vocab_file = NULL;
    rc = ed_prepare_files(MPI_COMM_WORLD, vocab_h5, &po, NULL, &err);
    CHECK(rc == -1 && strstr(err.msg, "vocab_size 5 is too small"), "bad vocab size: rc %d '%s'", rc, err.msg);
    po.tok.vocab_size = 500;
    po.train_file = bad_h5;
    rc = ed_prepare_files(MPI_COMM_WORLD, vocab_h5, &po, NULL, &err);
    CHECK(rc == -1 && strstr(err.msg, bad_h5), "missing train file: rc %d '%s'", rc, err.msg);

    /* streaming prepare: the same tokens, byte for byte, as the in-memory writer, for one
     * file, shards (plain + .gz + .zst) given as a directory, a glob or a list, and the
     * same documents as .jsonl, whatever the number of ranks (plain files are cut by
     * byte ranges between ranks) */
    po.val_file = NULL;
    po.vocab_file = tok_json;
    char shards[128], one_h5[128], sh_h5[128], jl[160];
    snprintf(shards, sizeof shards, "%s/shards", dir);
    snprintf(one_h5, sizeof one_h5, "%s/one.h5", dir);
    snprintf(sh_h5, sizeof sh_h5, "%s/shards.h5", dir);
    snprintf(jl, sizeof jl, "%s/train.jsonl", dir);
    if (rank == 0) {
        mkdir(shards, 0755);
        write_shards(shards, &train);
        write_jsonl(jl, &train);
        rc = oracle_prepare_write(one_h5, &train, NULL, tok, &WIN, &err);
        CHECK(rc == 0, "prepare_write: %s", err.msg);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    char glob[200], list[600];
    snprintf(glob, sizeof glob, "%s/*.txt*", shards);
    snprintf(list, sizeof list, "%s/a-plain.txt,%s/b-gzip.txt.gz,%s/c-zstd.txt.zst", shards, shards, shards);
    const char *specs[] = {tp, shards, glob, list, jl};
    for (int k = 0; k < 5; k++) {
        po.train_file = specs[k];
        rc = ed_prepare_files(MPI_COMM_WORLD, sh_h5, &po, &rep, &err);
        CHECK(rc == 0, "prepare_files %s: %s", specs[k], err.msg);
        CHECK(rc != 0 || rep.n_files == (k == 0 || k == 4 ? 1u : 3u), "%s: %zu files", specs[k], rep.n_files);
        if (rc == 0 && rank == 0) same_arrays(one_h5, sh_h5, "train");
    }
    /* bad specs: one line naming what is wrong, on every rank */
    po.train_file = "/nonexistent-dir/*.jsonl.zst";
    rc = ed_prepare_files(MPI_COMM_WORLD, sh_h5, &po, NULL, &err);
    CHECK(rc == -1 && strstr(err.msg, "matches no file") && strstr(err.msg, po.train_file), "glob: '%s'", err.msg);
    char nothing[160];
    snprintf(nothing, sizeof nothing, "%s/nothing", dir);
    if (rank == 0) {
        mkdir(nothing, 0755);
        char notes[200];
        snprintf(notes, sizeof notes, "%s/notes.md", nothing);
        FILE *nf = fopen(notes, "w");
        fputs("not an input\n", nf);
        fclose(nf);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    po.train_file = nothing; /* a directory with no usable files */
    rc = ed_prepare_files(MPI_COMM_WORLD, sh_h5, &po, NULL, &err);
    CHECK(rc == -1 && strstr(err.msg, "no usable files") && strstr(err.msg, nothing), "empty dir: '%s'", err.msg);
    po.vocab_file = NULL;

    /* no vocabulary file: every rank counts the pieces of its own byte ranges, the counts
     * are merged on rank 0, which builds the tokenizer. It must be the whole-text build's
     * (ed_tok_train on every document in one process) byte for byte, and so must the
     * token arrays (oracle_prepare_write with that tokenizer), for word (lowercase, min_freq)
     * and bpe (min_freq), on shards (plain + .gz + .zst) as a directory and a list, and on
     * .jsonl: the same at -n 1, 2 and 4. */
    const ed_tok_options kinds[] = {
        {.kind = ED_TOK_WORD, .vocab_size = 300, .min_freq = 2, .lowercase = 1},
        {.kind = ED_TOK_WORD, .vocab_size = 100000, .min_freq = 1},
        {.kind = ED_TOK_BPE, .vocab_size = 700, .min_freq = 3},
    };
    char ref_h5[160];
    snprintf(ref_h5, sizeof ref_h5, "%s/ref.h5", dir);
    for (int k = 0; k < 3; k++) {
        char *ref = NULL;
        if (rank == 0) {
            ed_tokenizer *rt = ed_tok_train(&kinds[k], (const char *const *)train.text, train.len, train.n, &err);
            CHECK(rt, "reference tokenizer: %s", err.msg);
            ref = ed_tok_serialize(rt, NULL);
            rc = oracle_prepare_write(ref_h5, &train, &val, rt, &WIN, &err);
            CHECK(rc == 0, "reference file: %s", err.msg);
            ed_tok_free(rt);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        const char *built[] = {shards, list, jl};
        for (int j = 0; j < 3; j++) {
            po.train_file = built[j];
            po.val_file = vp;
            po.tok = kinds[k];
            rc = ed_prepare_files(MPI_COMM_WORLD, sh_h5, &po, &rep, &err);
            CHECK(rc == 0, "prepare_files %s, tokenizer %d built: %s", built[j], k, err.msg);
            CHECK(rc != 0 || (rep.vocab_pieces > 0 && rep.vocab_bytes > rep.vocab_pieces), "%s: vocab report %llu pieces",
                  built[j], (unsigned long long)rep.vocab_pieces);
            if (rc != 0 || rank != 0) continue;
            ed_tokenizer *got = ed_prepared_tokenizer(sh_h5, &err);
            char *s = got ? ed_tok_serialize(got, NULL) : NULL;
            CHECK(s && strcmp(s, ref) == 0, "%s, tokenizer %d: not the whole-text build's", built[j], k);
            free(s);
            ed_tok_free(got);
            same_arrays(ref_h5, sh_h5, "train");
            same_arrays(ref_h5, sh_h5, "val");
        }
        free(ref);
    }
    po.val_file = NULL;
    po.tok = (ed_tok_options){.kind = ED_TOK_BPE, .vocab_size = 500, .min_freq = 1};

    /* fewer documents than ranks: some ranks tokenize nothing */
    char *texts[] = {"one doc", "два", "three, and a longer one here"};
    size_t lens[] = {7, strlen(texts[1]), strlen(texts[2])};
    long lines[] = {1, 2, 3};
    ed_docs few = {.n = 3, .text = texts, .len = lens, .line = lines, .path = NULL};
    rc = oracle_prepare_write_mpi(MPI_COMM_WORLD, few_h5, &few, NULL, tok, &WIN, &err);
    CHECK(rc == 0, "few docs: %s", err.msg);
    if (rc == 0) compare_with_text(few_h5, &few, "train", tok);

    /* a write that cannot happen fails everywhere, with rank 0's message */
    memset(&err, 0, sizeof err);
    rc = oracle_prepare_write_mpi(MPI_COMM_WORLD, bad_h5, &train, NULL, tok, NULL, &err);
    CHECK(rc == -1, "write into a missing directory succeeded");
    CHECK(strstr(err.msg, "cannot create") && strstr(err.msg, "x.h5.tmp"), "error message: '%s'", err.msg);

    ed_tok_free(tok);
    ed_docs_free(&train);
    ed_docs_free(&val);
    int total = 0;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
        printf("%s: %d ranks, %d failures\n", total ? "FAIL" : "ok", world, total);
    }
    MPI_Finalize();
    return total ? 1 : 0;
}
