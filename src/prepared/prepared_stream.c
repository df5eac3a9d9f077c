/* prepared_stream.c — reading a split's inputs as `prepare` does, for both of its passes
 * (counting pieces for the vocabulary, prepared_vocab.c; tokenizing, prepared_files.c):
 * which byte ranges are this rank's, streaming them into a sink, the progress line, and
 * the progress line. Every collective step ends in ed_dist_agree_comm (dist.h).
 *
 * The split's files count as one byte stream of B bytes and rank r of W takes bytes
 * [B*r/W, B*(r+1)/W). A plain file is cut inside (ed_docs_boundary: no document straddles
 * a cut); a compressed one cannot be entered mid-way and goes whole to the rank whose
 * range holds its first byte. Both passes cut the same way, so they see the same
 * documents, and together the ranks see every document exactly once, in input order. */
#include <stdio.h>
#include <string.h>

#include "prepared_internal.h"

int prep_no_text(const char *what, long skipped, ed_error *err) {
    if (skipped) return ed_fail(err, "%s: no usable text (all %ld non-blank lines were bad and skipped)", what, skipped);
    return ed_fail(err, "%s: no usable text (only blank lines or empty documents)", what);
}

void prep_progress_start(prep_progress *p, int on, const char *what) {
    memset(p, 0, sizeof *p);
    p->on = on;
    p->what = what;
    p->t0 = p->last = ed_now();
}

void prep_progress_end(prep_progress *p) {
    if (p->on) fprintf(stderr, "\r\033[K");
}

static void progress_add(void *ctx, uint64_t raw) {
    prep_progress *p = ctx;
    p->done += raw;
    double now = ed_now();
    if (p->mem && now - p->sampled >= 0.02) {
        ed_mem_sample(p->mem);
        p->sampled = now;
    }
    if (!p->on || now - p->last < 0.5) return;
    p->last = now;
    double rate = p->done / (now - p->t0 + 1e-9);
    double eta = rate > 0 && p->total > p->done ? (double)(p->total - p->done) / rate : 0;
    fprintf(stderr, "\r\033[Kprepare %s: %.1f / %.1f MB (rank 0's share) %.1f MB/s ETA %.0f s", p->what,
            p->done / 1e6, p->total / 1e6, rate / 1e6, eta);
    fflush(stderr);
}

static void sha_feed(void *ctx, const void *bytes, size_t n) { prep_sha256_update(ctx, bytes, n); }

/* Bytes [lo, hi) of the concatenated files: which pieces are this rank's. */
static uint64_t cut(uint64_t total, int r, int world) {
    return (uint64_t)((unsigned __int128)total * (unsigned)r / (unsigned)world);
}

int prep_stream_split(MPI_Comm comm, const ed_inputs *in, const ed_read_options *ro, const prep_sink *sink,
                      prep_progress *pr, prep_split_out *so, ed_error *err) {
    int rank, world;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &world);
    uint64_t total = 0;
    for (size_t i = 0; i < in->n; i++) total += in->bytes[i];
    uint64_t lo = cut(total, rank, world), hi = cut(total, rank + 1, world), f0 = 0;
    /* this rank's pieces first (for the progress total), then streamed */
    pr->total = 0;
    for (size_t i = 0, at = 0; i < in->n; at += in->bytes[i], i++) {
        uint64_t a = at > lo ? at : lo, b = at + in->bytes[i] < hi ? at + in->bytes[i] : hi;
        if (a < b) pr->total += b - a;
    }
    for (size_t i = 0; i < in->n; f0 += in->bytes[i], i++) {
        const char *path = in->path[i];
        uint64_t size = in->bytes[i], f1 = f0 + size;
        int plain = !ed_input_compressed(path);
        uint64_t start = 0, end = UINT64_MAX;
        int owner = f0 >= lo && f0 < hi; /* holds the file's first byte: reads it whole or from 0, hashes it */
        if (plain) {
            uint64_t a = f0 > lo ? f0 : lo, b = f1 < hi ? f1 : hi;
            if (a >= b) continue;
            if (ed_docs_boundary(path, ro, a - f0, &start, err) != 0) return -1;
            if (b == f1) end = size;
            else if (ed_docs_boundary(path, ro, b - f0, &end, err) != 0) return -1;
            if (start >= end && !owner) continue;
        } else if (!owner) {
            continue;
        }
        int hash = owner && so->hash;
        prep_sha256 sha;
        prep_sha256_init(&sha);
        ed_scan sc = {.start = start, .end = end, .emit = sink->doc, .ctx = sink->ctx,
                      .hash = hash ? sha_feed : NULL,
                      .hash_ctx = &sha, .progress = progress_add, .progress_ctx = pr};
        if (ed_docs_scan(path, ro, &sc, err) != 0) return -1;
        /* a compressed shard of nothing: the file is not empty, its text is (as train says) */
        if (!plain && sc.text_bytes == 0) return ed_fail(err, "%s: file is empty", path);
        if (sc.skipped && !so->skipped) memcpy(so->first_bad, sc.first_bad, sizeof so->first_bad);
        so->skipped += sc.skipped;
        if (hash) prep_sha256_hex(&sha, so->hash[i]);
        so->bytes += plain ? (end < size ? end : size) - start : size;
        if (sink->stop && *sink->stop) break;
    }
    return 0;
}
