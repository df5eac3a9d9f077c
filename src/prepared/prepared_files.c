/* prepared_files.c — ed_prepare_files: the `prepare` command from input specs to the
 * prepared file, streaming, collective over a communicator.
 *
 * 1. Rank 0 expands the specs (files, directories, globs) and checks every file exists
 *    with a known extension; the list goes to all ranks.
 * 2. The tokenizer is loaded (--vocab-file) or built from the training inputs in a first
 *    streaming pass: every rank counts the pieces of its byte ranges, the counts are
 *    merged on rank 0, which builds it and sends it to all (prepared_vocab.c).
 * 3. Work is spread by bytes (prepared_stream.c): the split's files are one byte stream,
 *    rank r takes bytes [B*r/W, B*(r+1)/W), a plain file cut between documents, a
 *    compressed one whole. Ranks stream their pieces in order, tokenize documents in
 *    batches (OpenMP threads share a batch) and spill ids and document ends to an
 *    unlinked temporary file: no rank holds more than a batch of text and ids.
 * 4. Rank 0 creates the datasets at their final size and copies each rank's spill in
 *    rank order (its own from disk, the others' by message), so the file is laid out as
 *    one whole-corpus pass would lay it out: byte-identical token arrays for any world.
 *
 * Every step that can fail on bad input ends in ed_dist_agree_comm (dist.h): all ranks learn the lowest
 * failing rank's message (the first bad file in input order) and return together. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prepared_internal.h"

enum { BATCH_BYTES = 4 << 20, COPY = 1 << 22, TAG_SPILL = 711 };

/* ---- 1. the input list ---------------------------------------------------------------- */

static int check_file(const char *path, ed_text_format format, ed_error *err) {
    struct stat st;
    if (stat(path, &st) != 0) return ed_fail(err, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return ed_fail(err, "%s: is a directory, expected a .txt or .jsonl file", path);
    if (format == ED_FORMAT_AUTO && ed_input_format(path) < 0) {
        const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
        if (!dot || (slash && dot < slash)) dot = "(none)";
        return ed_fail(err, "%s: unsupported file extension %s (supported: .txt, .jsonl, each optionally .gz or .zst; "
                            "--format txt or --format jsonl reads a file of any name)", path, dot);
    }
    if (st.st_size == 0) return ed_fail(err, "%s: file is empty", path);
    return 0;
}

/* Rank 0 expands and checks; everyone gets the list (paths NUL-separated, then sizes). */
static int shared_inputs(MPI_Comm comm, const char *spec, ed_text_format format, ed_inputs *in, ed_error *err) {
    int rank;
    MPI_Comm_rank(comm, &rank);
    memset(in, 0, sizeof *in);
    int status = 0;
    long long blen = 0, n = 0;
    char *blob = NULL;
    if (rank == 0) {
        status = ed_inputs_expand(spec, in, err);
        for (size_t i = 0; status == 0 && i < in->n; i++) status = check_file(in->path[i], format, err);
        if (status == 0) {
            for (size_t i = 0; i < in->n; i++) blen += (long long)strlen(in->path[i]) + 1;
            blob = ed_malloc((size_t)blen + 1);
            char *p = blob;
            for (size_t i = 0; i < in->n; i++) p += sprintf(p, "%s", in->path[i]) + 1;
            n = (long long)in->n;
        }
    }
    if (ed_dist_agree_comm(comm, status, err) != 0) {
        ed_inputs_free(in);
        return -1;
    }
    MPI_Bcast(&n, 1, MPI_LONG_LONG, 0, comm);
    MPI_Bcast(&blen, 1, MPI_LONG_LONG, 0, comm);
    ED_CHECK(blen < 0x7fffffffLL, "input list too long (%lld bytes)", blen);
    if (rank != 0) {
        blob = ed_malloc((size_t)blen + 1);
        in->n = (size_t)n;
        in->path = ed_calloc((size_t)n, sizeof *in->path);
        in->bytes = ed_calloc((size_t)n, sizeof *in->bytes);
    }
    MPI_Bcast(blob, (int)blen, MPI_CHAR, 0, comm);
    MPI_Bcast(in->bytes, (int)n, MPI_UINT64_T, 0, comm);
    if (rank != 0) {
        const char *p = blob;
        for (size_t i = 0; i < in->n; i++, p += strlen(p) + 1) in->path[i] = ed_strdup(p);
    }
    free(blob);
    return 0;
}

/* ---- 3. this rank's pieces, tokenized into a spill ---------------------------------------- */

/* Ids and document ends of this rank's pieces, in order, in an unlinked temporary file
 * next to the output (so nothing is left behind, whatever happens). */
typedef struct {
    FILE *tokens, *ends;
    uint64_t n_tokens, n_docs;
    int u16;            /* ids stored as uint16 (the file's type), else int32 */
    ed_docs batch;      /* documents waiting to be tokenized */
    size_t batch_cap, batch_bytes;
    const ed_tokenizer *tok;
    int failed;
    char path[4200];
} spill;

static FILE *temp_next_to(const char *out, const char *what, int rank, char *path, size_t n, ed_error *err) {
    snprintf(path, n, "%s.%s%d.XXXXXX", out, what, rank);
    int fd = mkstemp(path);
    if (fd < 0) {
        ed_fail(err, "%s: cannot create a temporary file: %s", path, strerror(errno));
        return NULL;
    }
    unlink(path);
    FILE *f = fdopen(fd, "w+b");
    if (!f) close(fd);
    return f;
}

static void spill_flush(spill *s) {
    if (s->batch.n == 0) return;
    prep_part p;
    prep_tokenize(&p, &s->batch, 0, s->batch.n, s->tok);
    size_t k = p.ids.len;
    int ok = 1;
    if (s->u16) {
        uint16_t *u = (uint16_t *)p.ids.data; /* narrowed in place, front to back */
        for (size_t i = 0; i < k; i++) u[i] = (uint16_t)p.ids.data[i];
        ok = fwrite(u, sizeof *u, k, s->tokens) == k;
    } else {
        ok = fwrite(p.ids.data, sizeof *p.ids.data, k, s->tokens) == k;
    }
    for (size_t i = 0; i < p.n_docs; i++) p.ends[i] += s->n_tokens; /* batch ends -> this rank's ends */
    ok = ok && fwrite(p.ends, sizeof *p.ends, p.n_docs, s->ends) == p.n_docs;
    if (!ok) s->failed = errno ? errno : EIO;
    s->n_tokens += k;
    s->n_docs += p.n_docs;
    prep_part_free(&p);
    for (size_t i = 0; i < s->batch.n; i++) free(s->batch.text[i]);
    s->batch.n = 0;
    s->batch_bytes = 0;
}

static void spill_doc(void *ctx, const char *text, size_t n, long line) {
    spill *s = ctx;
    if (s->batch.n == s->batch_cap) {
        s->batch_cap = s->batch_cap ? 2 * s->batch_cap : 1024;
        s->batch.text = ed_realloc(s->batch.text, s->batch_cap * sizeof *s->batch.text);
        s->batch.len = ed_realloc(s->batch.len, s->batch_cap * sizeof *s->batch.len);
        s->batch.line = ed_realloc(s->batch.line, s->batch_cap * sizeof *s->batch.line);
    }
    char *t = ed_malloc(n + 1);
    memcpy(t, text, n);
    t[n] = '\0';
    s->batch.text[s->batch.n] = t;
    s->batch.len[s->batch.n] = n;
    s->batch.line[s->batch.n] = line;
    s->batch.n++;
    s->batch_bytes += n;
    if (s->batch_bytes >= BATCH_BYTES) spill_flush(s);
}

static void spill_close(spill *s) {
    if (s->tokens) fclose(s->tokens);
    if (s->ends) fclose(s->ends);
    for (size_t i = 0; i < s->batch.n; i++) free(s->batch.text[i]);
    free(s->batch.text);
    free(s->batch.len);
    free(s->batch.line);
    memset(s, 0, sizeof *s);
}

/* This rank's pieces of a split, tokenized into its spill. */
static int spill_split(MPI_Comm comm, const ed_inputs *in, const ed_prepare_options *po, spill *s, prep_progress *pr,
                       prep_split_out *so, ed_error *err) {
    prep_sink sink = {.doc = spill_doc, .ctx = s, .stop = &s->failed};
    if (prep_stream_split(comm, in, &po->read, &sink, pr, so, err) != 0) return -1;
    spill_flush(s);
    if (s->failed) return ed_fail(err, "%s: cannot write the temporary token spill: %s", s->path, strerror(s->failed));
    if (fflush(s->tokens) != 0 || fflush(s->ends) != 0)
        return ed_fail(err, "%s: cannot write the temporary token spill: %s", s->path, strerror(errno));
    return 0;
}

/* ---- 4. rank 0 writes ------------------------------------------------------------------- */

/* Streams this rank's spill (tokens, then ends shifted by base) to rank 0, or on rank 0
 * writes a rank's spill coming from `from`. */
static void send_spill(MPI_Comm comm, spill *s, uint64_t base) {
    char *buf = ed_malloc(COPY);
    size_t esz = s->u16 ? 2 : 4;
    rewind(s->tokens);
    rewind(s->ends);
    for (uint64_t at = 0; at < s->n_tokens;) {
        size_t k = s->n_tokens - at < COPY / esz ? (size_t)(s->n_tokens - at) : COPY / esz;
        if (fread(buf, esz, k, s->tokens) != k) memset(buf, 0, k * esz), s->failed = EIO; /* rank 0 learns below */
        MPI_Send(buf, (int)(k * esz), MPI_BYTE, 0, TAG_SPILL, comm);
        at += k;
    }
    uint64_t *e = (uint64_t *)buf;
    for (uint64_t at = 0; at < s->n_docs;) {
        size_t k = s->n_docs - at < COPY / 8 ? (size_t)(s->n_docs - at) : COPY / 8;
        if (fread(e, 8, k, s->ends) != k) memset(e, 0, k * 8), s->failed = EIO;
        for (size_t i = 0; i < k; i++) e[i] += base;
        MPI_Send(e, (int)(k * 8), MPI_BYTE, 0, TAG_SPILL, comm);
        at += k;
    }
    free(buf);
}

static void write_part(prep_writer *w, MPI_Comm comm, int from, spill *own, uint64_t n_tok, uint64_t n_docs,
                       uint64_t tok_at, uint64_t doc_at) {
    char *buf = ed_malloc(COPY);
    size_t esz = own->u16 ? 2 : 4;
    hid_t mt = own->u16 ? H5T_NATIVE_UINT16 : H5T_NATIVE_INT32;
    if (from == 0) {
        rewind(own->tokens);
        rewind(own->ends);
    }
    for (uint64_t at = 0; at < n_tok;) {
        size_t k = n_tok - at < COPY / esz ? (size_t)(n_tok - at) : COPY / esz;
        if (from == 0) {
            if (fread(buf, esz, k, own->tokens) != k) own->failed = EIO;
        } else {
            MPI_Recv(buf, (int)(k * esz), MPI_BYTE, from, TAG_SPILL, comm, MPI_STATUS_IGNORE);
        }
        prep_put_raw(w, "tokens", mt, buf, k, tok_at + at);
        at += k;
    }
    uint64_t *e = (uint64_t *)buf;
    for (uint64_t at = 0; at < n_docs;) {
        size_t k = n_docs - at < COPY / 8 ? (size_t)(n_docs - at) : COPY / 8;
        if (from == 0) {
            if (fread(e, 8, k, own->ends) != k) own->failed = EIO;
        } else {
            MPI_Recv(e, (int)(k * 8), MPI_BYTE, from, TAG_SPILL, comm, MPI_STATUS_IGNORE);
        }
        prep_put_offsets(w, e, k, doc_at + at);
        at += k;
    }
    free(buf);
}

/* The source record of a split: the spec, total bytes, and the files' SHA-256 (one file:
 * its hash, as `sha256sum` prints it; several: the hash of the sha256sum-style listing
 * that is also stored, so `sha256sum -c` can check every shard). */
static void source_of(const char *spec, const ed_inputs *in, char (*hash)[65], prep_source *src, char **listing) {
    memset(src, 0, sizeof *src);
    snprintf(src->path, sizeof src->path, "%s", in->n == 1 ? in->path[0] : spec);
    size_t len = 1;
    for (size_t i = 0; i < in->n; i++) len += strlen(in->path[i]) + 68;
    char *l = ed_malloc(len), *p = l;
    for (size_t i = 0; i < in->n; i++) {
        src->bytes += in->bytes[i];
        p += sprintf(p, "%s  %s\n", hash[i], in->path[i]);
    }
    if (in->n == 1) {
        memcpy(src->sha256, hash[0], 65);
    } else {
        prep_sha256 s;
        prep_sha256_init(&s);
        prep_sha256_update(&s, l, (size_t)(p - l));
        prep_sha256_hex(&s, src->sha256);
    }
    *listing = l;
}

/* Collective: the first skipped line of the lowest rank that skipped one (the ranks read
 * the inputs in rank order), on every rank. */
static void first_bad_line(MPI_Comm comm, const prep_split_out *so, char *out) {
    int rank, world, first;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &world);
    int mine = so->skipped ? rank : world;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
    char buf[ED_BAD_LINE_LEN];
    memcpy(buf, so->first_bad, sizeof buf);
    MPI_Bcast(buf, (int)sizeof buf, MPI_CHAR, first, comm);
    memcpy(out, buf, sizeof buf);
}

/* ---- the whole command, stage by stage --------------------------------------------- */

/* What the stages of one `prepare` share. Split s: 0 train, 1 val (specs[1] NULL: none). */
typedef struct {
    MPI_Comm comm;
    int rank, world;
    const char *specs[2];
    ed_inputs in[2];
    ed_tokenizer *tok;
    spill sp[2];            /* this rank's spill of each split */
    prep_split_out so[2];   /* its bytes, skipped lines, file hashes */
    uint64_t *counts;       /* [world][4]: train tokens, train docs, val tokens, val docs */
    ed_mem_usage mem;       /* memory peaks by kind seen while spilling and writing */
} prep_job;

static uint64_t job_count(const prep_job *j, int r, int s, int docs) { return j->counts[4 * r + 2 * s + docs]; }

/* Stage 3: every rank streams its byte ranges of each split and spills ids and document
 * ends to temporary files next to out_h5. This rank's status (not agreed yet). */
static int job_spill(prep_job *j, const char *out_h5, const ed_prepare_options *po, ed_error *err) {
    for (int s = 0; s < 2; s++) {
        if (!j->specs[s]) continue;
        spill *x = &j->sp[s];
        x->tok = j->tok;
        x->u16 = ed_tok_vocab_size(j->tok) <= 65536;
        char p2[4200];
        x->tokens = temp_next_to(out_h5, "ids", j->rank, x->path, sizeof x->path, err);
        x->ends = x->tokens ? temp_next_to(out_h5, "ends", j->rank, p2, sizeof p2, err) : NULL;
        if (!x->tokens || !x->ends) return -1;
        j->so[s].hash = ed_calloc(j->in[s].n, sizeof *j->so[s].hash);
        prep_progress pr;
        prep_progress_start(&pr, j->rank == 0 && po->progress, s ? "val" : "train");
        pr.mem = &j->mem;
        int status = spill_split(j->comm, &j->in[s], po, x, &pr, &j->so[s], err);
        prep_progress_end(&pr);
        if (status != 0) return status;
    }
    return 0;
}

/* After the spills (status agreed): every rank's counts, the skipped lines and input bytes
 * summed, the file hashes to rank 0. A split without documents fails here, on every rank
 * alike (the counts are global). */
static int job_share_counts(prep_job *j, ed_prepare_report *rep, ed_error *err) {
    uint64_t mine[4] = {j->sp[0].n_tokens, j->sp[0].n_docs, j->sp[1].n_tokens, j->sp[1].n_docs};
    MPI_Allgather(mine, 4, MPI_UINT64_T, j->counts, 4, MPI_UINT64_T, j->comm);
    int status = 0;
    for (int s = 0; s < 2 && status == 0; s++) {
        if (!j->specs[s]) continue;
        uint64_t docs = 0;
        for (int r = 0; r < j->world; r++) docs += job_count(j, r, s, 1);
        long skipped = 0;
        MPI_Allreduce(&j->so[s].skipped, &skipped, 1, MPI_LONG, MPI_SUM, j->comm);
        if (rep) rep->skipped[s] = skipped;
        if (skipped && rep && !rep->first_bad[0]) first_bad_line(j->comm, &j->so[s], rep->first_bad);
        if (docs == 0) status = prep_no_text(j->in[s].n == 1 ? j->in[s].path[0] : j->specs[s], skipped, err);
        MPI_Reduce(j->rank == 0 ? MPI_IN_PLACE : j->so[s].hash, j->so[s].hash, (int)(j->in[s].n * 65),
                   MPI_UNSIGNED_CHAR, MPI_MAX, 0, j->comm);
        uint64_t b = j->so[s].bytes;
        MPI_Allreduce(&b, &j->so[s].bytes, 1, MPI_UINT64_T, MPI_SUM, j->comm);
    }
    return status;
}

/* Stage 4: rank 0 writes; the others send their spills in rank order. Entered with the
 * same status 0 on every rank; from here only rank 0 can fail, and the end agrees on it. */
static int job_write(prep_job *j, const char *out_h5, const ed_prepare_options *po, ed_error *e) {
    prep_writer w;
    int open_status = j->rank == 0 ? prep_open(&w, out_h5, j->tok, po->win.max_length ? &po->win : NULL, e) : 0;
    if (ed_dist_agree_comm(j->comm, open_status, e) != 0) return -1;
    for (int s = 0; s < 2; s++) {
        if (!j->specs[s]) continue;
        uint64_t n_tok = 0, n_docs = 0, base = 0;
        for (int r = 0; r < j->world; r++) {
            if (r < j->rank) base += job_count(j, r, s, 0);
            n_tok += job_count(j, r, s, 0), n_docs += job_count(j, r, s, 1);
        }
        if (j->rank != 0) {
            send_spill(j->comm, &j->sp[s], base);
            continue;
        }
        prep_source src;
        char *listing;
        source_of(j->specs[s], &j->in[s], j->so[s].hash, &src, &listing);
        prep_split_begin(&w, s ? "val" : "train", n_tok, n_docs, &src);
        prep_put_string(&w, "sources", listing);
        free(listing);
        uint64_t tok_at = 0, doc_at = 1;
        for (int r = 0; r < j->world; r++) {
            write_part(&w, j->comm, r, &j->sp[s], job_count(j, r, s, 0), job_count(j, r, s, 1), tok_at, doc_at);
            tok_at += job_count(j, r, s, 0);
            doc_at += job_count(j, r, s, 1);
        }
        prep_split_end(&w);
    }
    int status = 0;
    if (j->rank == 0) {
        if (j->sp[0].failed || j->sp[1].failed) prep_fail(&w, "tokens (the temporary spill could not be read back)");
        status = prep_close(&w, e);
    }
    return ed_dist_agree_comm(j->comm, status, e);
}

static void job_report(const prep_job *j, ed_prepare_report *rep, double t0) {
    for (int s = 0; s < 2; s++)
        for (int r = 0; r < j->world; r++)
            rep->n_tokens[s] += job_count(j, r, s, 0), rep->n_docs[s] += job_count(j, r, s, 1);
    rep->vocab_size = ed_tok_vocab_size(j->tok);
    rep->kind = ed_tok_kind_of(j->tok);
    rep->n_files = j->in[0].n + j->in[1].n;
    rep->input_bytes = j->so[0].bytes + j->so[1].bytes;
    rep->seconds = ed_now() - t0;
    ed_mem_fold(&rep->mem, &j->mem);
}

static void job_free(prep_job *j) {
    free(j->counts);
    for (int s = 0; s < 2; s++) {
        spill_close(&j->sp[s]);
        free(j->so[s].hash);
        ed_inputs_free(&j->in[s]);
    }
    ed_tok_free(j->tok);
}

int ed_prepare_files(MPI_Comm comm, const char *out_h5, const ed_prepare_options *po, ed_prepare_report *rep,
                     ed_error *err) {
    double t0 = ed_now();
    prep_job j;
    memset(&j, 0, sizeof j);
    j.comm = comm;
    MPI_Comm_rank(comm, &j.rank);
    MPI_Comm_size(comm, &j.world);
    if (rep) memset(rep, 0, sizeof *rep);
    if (rep) rep->mem = ed_mem_none();
    j.mem = ed_mem_none();
    j.specs[0] = po->train_file;
    j.specs[1] = po->val_file && po->val_file[0] ? po->val_file : NULL;
    /* 1. the input lists, 2. the tokenizer */
    for (int s = 0; s < 2; s++)
        if (j.specs[s] && shared_inputs(comm, j.specs[s], po->read.format, &j.in[s], err) != 0) {
            job_free(&j);
            return -1;
        }
    j.tok = prep_shared_tokenizer(comm, j.specs[0], &j.in[0], po, rep, err);
    if (!j.tok) {
        job_free(&j);
        return -1;
    }
    /* 3. the spills, 4. the file */
    j.counts = ed_malloc(4 * (size_t)j.world * sizeof *j.counts);
    ed_error tmp = {{0}};
    ed_error *e = err ? err : &tmp;
    int status = ed_dist_agree_comm(comm, job_spill(&j, out_h5, po, err), err);
    if (status == 0) status = job_share_counts(&j, rep, err);
    if (status == 0) status = job_write(&j, out_h5, po, e);
    ed_mem_sample(&j.mem);
    if (status == 0 && rep) job_report(&j, rep, t0);
    job_free(&j);
    return status;
}
