/* prepared_vocab.c — the tokenizer of `prepare`: loaded from --vocab-file, or built from the
 * training inputs in a first streaming pass, so that no rank ever holds the corpus.
 *
 * 1. Every rank counts the pieces of its own byte ranges of the training files (the ranges
 *    and reader of the tokenizing pass: prep_stream_split) in a tokenizer counter, whose
 *    memory is O(distinct pieces) (include/expert/tokenizer.h); its OpenMP threads share
 *    each 4 MiB batch of documents.
 * 2. The counts go up a binary tree to rank 0, in chunks of whole entries: in round k a
 *    rank r with r mod 2^(k+1) = 2^k sends everything to r - 2^k and is done, the receiver
 *    adds it to its own. ceil(log2 W) rounds; a receiver holds its table (growing to the
 *    union of its subtree's pieces) plus one chunk.
 * 3. Rank 0 trains from the merged counts and broadcasts the tokenizer's JSON.
 * The vocabulary depends only on the multiset of pieces (ties broken by bytes), so it is
 * the one ed_tok_train builds from the whole text, for any number of ranks. */
#include <limits.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "prepared_internal.h"

enum { CHUNK = 4 << 20, TAG_COUNTS = 712, BATCH_BYTES = 4 << 20 };

/* Step 1's sink. Documents are copied into a batch (4 MiB of text, back to back); a full
 * batch is counted by the OpenMP threads, each into its own counter over a byte-balanced
 * share of the documents, and the other threads' counts are added to the rank's and
 * cleared: beyond the rank's table a thread holds one batch's pieces. */
typedef struct {
    ed_tok_counter *c;      /* this rank's counts */
    ed_tok_counter **extra; /* [threads - 1]: threads 1.. of a batch */
    int threads;
    char *text;             /* the batch: document d is text[end[d-1] .. end[d]) */
    size_t len, cap;
    size_t *end;
    size_t n, ncap;
    uint64_t n_docs;
} count_sink;

static void count_range(ed_tok_counter *c, const count_sink *s, size_t a, size_t b) {
    for (size_t d = a; d < b; d++) {
        size_t from = d ? s->end[d - 1] : 0;
        ed_tok_counter_add(c, s->text + from, s->end[d] - from);
    }
}

/* First document of part k of `parts`, balanced by bytes. */
static size_t part_start(const count_sink *s, int k, int parts) {
    if (k == 0) return 0;
    if (k == parts) return s->n;
    size_t goal = (size_t)((double)s->len * k / parts), lo = 0, hi = s->n;
    while (lo < hi) { /* the first d with end[d] > goal, so d starts at or before goal */
        size_t mid = lo + (hi - lo) / 2;
        if (s->end[mid] <= goal) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static void count_flush(count_sink *s) {
    int parts = s->threads;
    if ((size_t)parts > s->n / 64) parts = (int)(s->n / 64); /* not worth it for a few docs */
    if (parts <= 1) {
        count_range(s->c, s, 0, s->n);
    } else {
#pragma omp parallel for schedule(static, 1) num_threads(parts)
        for (int k = 0; k < parts; k++)
            count_range(k ? s->extra[k - 1] : s->c, s, part_start(s, k, parts), part_start(s, k + 1, parts));
        for (int k = 1; k < parts; k++) {
            ed_error e;
            ED_CHECK(ed_tok_counter_merge(s->c, s->extra[k - 1], &e) == 0, "%s", e.msg);
            ed_tok_counter_clear(s->extra[k - 1]);
        }
    }
    s->n = 0;
    s->len = 0;
}

static void count_doc(void *ctx, const char *text, size_t n, long line) {
    (void)line;
    count_sink *s = ctx;
    if (s->len + n > s->cap) s->text = ed_realloc(s->text, s->cap = 2 * (s->len + n));
    if (s->n == s->ncap) s->end = ed_realloc(s->end, (s->ncap = 2 * s->ncap + 1024) * sizeof *s->end);
    memcpy(s->text + s->len, text, n);
    s->len += n;
    s->end[s->n++] = s->len;
    s->n_docs++;
    if (s->len >= BATCH_BYTES) count_flush(s);
}

static void count_sink_free(count_sink *s) {
    for (int k = 0; k + 1 < s->threads; k++) ed_tok_counter_free(s->extra[k]);
    free(s->extra);
    free(s->text);
    free(s->end);
}

/* Step 2: rank 0's counter ends up holding everyone's counts. */
static void merge_to_rank0(MPI_Comm comm, ed_tok_counter *c) {
    int rank, world;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &world);
    char *buf = NULL;
    size_t cap = 0;
    for (int step = 1; step < world; step *= 2) {
        if (rank % (2 * step) == step) {
            size_t pos = 0, n;
            do { /* a zero-length chunk ends the stream */
                n = ed_tok_counter_pack(c, &pos, &buf, &cap, CHUNK);
                ED_CHECK(n <= INT_MAX, "a tokenizer count chunk of %zu bytes (a piece over 2 GB?)", n);
                MPI_Send(buf, (int)n, MPI_BYTE, rank - step, TAG_COUNTS, comm);
            } while (n > 0);
            break;
        }
        if (rank % (2 * step) != 0 || rank + step >= world) continue;
        for (;;) {
            MPI_Status st;
            int n;
            MPI_Probe(rank + step, TAG_COUNTS, comm, &st);
            MPI_Get_count(&st, MPI_BYTE, &n);
            if ((size_t)n > cap) buf = ed_realloc(buf, cap = (size_t)n);
            MPI_Recv(buf, n, MPI_BYTE, rank + step, TAG_COUNTS, comm, MPI_STATUS_IGNORE);
            if (n == 0) break;
            ed_error e;
            /* our own bytes from a rank of the same build: damage here is a bug, not input */
            ED_CHECK(ed_tok_counter_unpack(c, buf, (size_t)n, &e) == 0, "from rank %d: %s", rank + step, e.msg);
        }
    }
    free(buf);
}

/* Steps 1 and 2, then 3 on rank 0: the tokenizer's JSON there (NULL elsewhere), or -1
 * everywhere with err. The memory peaks by kind it sees go into *mem. */
static int count_and_build(MPI_Comm comm, const char *spec, const ed_inputs *in, const ed_prepare_options *po,
                           char **blob, size_t *len, uint64_t *info, ed_mem_usage *mem, ed_error *err) {
    int rank;
    MPI_Comm_rank(comm, &rank);
    ed_tok_counter *c = ed_tok_counter_new(&po->tok, err);
    if (ed_dist_agree_comm(comm, c ? 0 : -1, err) != 0) {
        ed_tok_counter_free(c);
        return -1;
    }
    count_sink cs = {.c = c, .threads = omp_get_max_threads()};
    cs.extra = ed_calloc((size_t)cs.threads, sizeof *cs.extra);
    for (int k = 0; k + 1 < cs.threads; k++) {
        ed_error e; /* the options passed above: only the regex could fail, and did not */
        cs.extra[k] = ed_tok_counter_new(&po->tok, &e);
        ED_CHECK(cs.extra[k], "%s", e.msg);
    }
    prep_sink sink = {.doc = count_doc, .ctx = &cs};
    prep_split_out so = {0};
    prep_progress pr;
    prep_progress_start(&pr, rank == 0 && po->progress, "train (counting for the vocabulary)");
    pr.mem = mem;
    int status = prep_stream_split(comm, in, &po->read, &sink, &pr, &so, err);
    if (status == 0) count_flush(&cs);
    prep_progress_end(&pr);
    count_sink_free(&cs);
    if (ed_dist_agree_comm(comm, status, err) != 0) {
        ed_tok_counter_free(c);
        return -1;
    }
    uint64_t docs = 0;
    long skipped = 0;
    MPI_Allreduce(&cs.n_docs, &docs, 1, MPI_UINT64_T, MPI_SUM, comm);
    MPI_Allreduce(&so.skipped, &skipped, 1, MPI_LONG, MPI_SUM, comm);
    if (docs == 0) { /* the same on every rank: the message the tokenizing pass would give */
        ed_tok_counter_free(c);
        return prep_no_text(in->n == 1 ? in->path[0] : spec, skipped, err);
    }
    merge_to_rank0(comm, c);
    ed_mem_sample(mem); /* rank 0: every rank's counts merged */
    status = 0;
    if (rank == 0) {
        info[0] = ed_tok_counter_distinct(c);
        info[1] = ed_tok_counter_bytes(c);
        ed_tokenizer *t = ed_tok_train_counts(&po->tok, c, err);
        ed_mem_sample(mem);
        if (t) *blob = ed_tok_serialize(t, len);
        else status = -1;
        ed_tok_free(t);
    }
    ed_tok_counter_free(c);
    return ed_dist_agree_comm(comm, status, err);
}

ed_tokenizer *prep_shared_tokenizer(MPI_Comm comm, const char *spec, const ed_inputs *in, const ed_prepare_options *po,
                                    ed_prepare_report *rep, ed_error *err) {
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (po->vocab_file && po->vocab_file[0]) {
        ed_tokenizer *t = ed_tok_load(po->vocab_file, err);
        if (ed_dist_agree_comm(comm, t ? 0 : -1, err) != 0) {
            ed_tok_free(t);
            return NULL;
        }
        return t;
    }
    double t0 = ed_now();
    char *blob = NULL;
    size_t n = 0;
    uint64_t info[3] = {0, 0, 0}; /* distinct pieces, counter bytes (rank 0's), blob length */
    ed_mem_usage local = ed_mem_none();
    if (count_and_build(comm, spec, in, po, &blob, &n, info, rep ? &rep->mem : &local, err) != 0) {
        free(blob);
        return NULL;
    }
    info[2] = n;
    MPI_Bcast(info, 3, MPI_UINT64_T, 0, comm);
    n = (size_t)info[2];
    ED_CHECK(n < 0x7fffffffu, "serialized tokenizer too large (%zu bytes)", n);
    if (rank != 0) blob = ed_malloc(n + 1);
    MPI_Bcast(blob, (int)n, MPI_CHAR, 0, comm);
    blob[n] = '\0';
    ed_tokenizer *t = ed_tok_deserialize(blob, n, err);
    free(blob);
    if (ed_dist_agree_comm(comm, t ? 0 : -1, err) != 0) {
        ed_tok_free(t);
        return NULL;
    }
    if (rep) {
        rep->vocab_pieces = info[0];
        rep->vocab_bytes = info[1];
        rep->vocab_seconds = ed_now() - t0;
    }
    return t;
}
