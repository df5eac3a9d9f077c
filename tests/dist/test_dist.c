/* test_dist.c — the MPI helpers with real MPI (run under mpirun -n 1, 2, 4): agreeing on
 * failure, small reductions, replica checks and the bucketed gradient allreduce (and its
 * reduce-scatter mode for ZeRO-1) with ranges reported in different sizes and orders by different ranks (and not at all by
 * one of them, as with an empty micro-batch). Every rank runs the same tests in the same
 * order, so a failure cannot leave a rank waiting in a collective. */
#include <math.h>
#include <mpi.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "expert/half.h"
#include "expert/dist.h"

static ed_dist D;

static void test_agree(void **state) {
    (void)state;
    ed_error err = {{0}};
    assert_int_equal(ed_dist_agree(&D, 0, &err), 0);
    /* the last rank fails: everyone returns -1 with its message */
    int last = D.world - 1;
    int status = D.rank == last ? ed_fail(&err, "data.txt:7: rank %d is unhappy", D.rank) : 0;
    assert_int_equal(ed_dist_agree(&D, status, &err), -1);
    char want[64];
    snprintf(want, sizeof want, "data.txt:7: rank %d is unhappy", last);
    assert_string_equal(err.msg, want);
    /* several fail: the lowest one speaks */
    status = D.rank >= D.world / 2 ? ed_fail(&err, "rank %d failed", D.rank) : 0;
    assert_int_equal(ed_dist_agree(&D, status, &err), -1);
    snprintf(want, sizeof want, "rank %d failed", D.world / 2);
    assert_string_equal(err.msg, want);
}

static void test_reductions(void **state) {
    (void)state;
    double x[3] = {1.0, (double)D.rank, -(double)D.rank};
    ed_dist_sum(&D, x, 3);
    assert_true(x[0] == D.world);
    assert_true(x[1] == D.world * (D.world - 1) / 2.0);
    double m[2] = {(double)D.rank, -(double)D.rank};
    ed_dist_max(&D, m, 2);
    assert_true(m[0] == D.world - 1 && m[1] == 0.0);
    char word[8] = "";
    if (D.rank == 0) strcpy(word, "hello");
    ed_dist_bcast(&D, word, sizeof word, 0);
    assert_string_equal(word, "hello");
}

static void test_check_same(void **state) {
    (void)state;
    float w[100];
    for (int i = 0; i < 100; i++) w[i] = 0.01f * i;
    ed_error err;
    assert_int_equal(ed_dist_check_same(&D, w, 100, &err), 0);
    if (D.world > 1) {
        if (D.rank == 1) w[42] = nextafterf(w[42], 1.0f); /* one ulp on one rank */
        assert_int_equal(ed_dist_check_same(&D, w, 100, &err), -1);
        assert_non_null(strstr(err.msg, "replicas diverged"));
    }
    float v[100];
    memcpy(v, w, sizeof v);
    assert_true(ed_hash_bytes(v, sizeof v) == ed_hash_bytes(w, sizeof w));
    v[99] = -v[99];
    assert_true(ed_hash_bytes(v, sizeof v) != ed_hash_bytes(w, sizeof w));
}

/* Reports [0, n) as final in chunks of `chunk` floats, from the end towards the start
 * (as backward does) or from the start (the worst order for launching). */
static void report(ed_grad_sync *g, size_t n, size_t chunk, int from_end) {
    if (from_end) {
        for (size_t hi = n; hi > 0;) {
            size_t lo = hi > chunk ? hi - chunk : 0;
            ed_grad_sync_ready(g, lo, hi - lo);
            hi = lo;
        }
    } else {
        for (size_t lo = 0; lo < n; lo += chunk) ed_grad_sync_ready(g, lo, lo + chunk > n ? n - lo : chunk);
    }
}

static void run_sync(size_t n, size_t bucket_bytes) {
    float *buf = ed_alloc_floats(n);
    ed_grad_sync g;
    ed_grad_sync_init(&g, D.comm, buf, n, bucket_bytes);
    long W = D.world;
    for (int step = 0; step < 3; step++) {
        /* small integers: sums are exact in float whatever the reduction order */
        for (size_t i = 0; i < n; i++) buf[i] = (float)(D.rank + 1 + (long)(i % 7) + step);
        ed_grad_sync_begin(&g);
        int silent = D.world > 2 && D.rank == 1; /* an empty micro-batch reports nothing */
        if (!silent) report(&g, n, 37 + 13 * (size_t)D.rank, D.rank != 2);
        ed_grad_sync_finish(&g);
        for (size_t i = 0; i < n; i++) {
            float want = (float)(W * (W + 1) / 2 + W * ((long)(i % 7) + step));
            if (buf[i] != want) fail_msg("step %d: buf[%zu] = %g, want %g", step, i, (double)buf[i], (double)want);
        }
    }
    assert_int_equal(g.n_total, 3L * g.n_buckets);
    ed_grad_sync_free(&g);
    free(buf);
}

static void test_grad_sync_buckets(void **state) {
    (void)state;
    run_sync(1000, 64 * sizeof(float)); /* 16 buckets, the last one partial */
    run_sync(1000, 1 << 20);            /* one bucket larger than the buffer */
    run_sync(4096, 1024 * sizeof(float));
}

/* Reduce-scatter mode: after finish this rank's slice holds the sum (the rest of the
 * buffer is scratch). Slices from ed_dist_slices, or
 * uneven ones with an empty slice, so buckets meet ranks they do not overlap. */
static void run_scatter(size_t n, size_t bucket_bytes, int uneven) {
    float *buf = ed_alloc_floats(n);
    int *counts = ed_malloc((size_t)D.world * sizeof(int)), *displs = ed_malloc((size_t)D.world * sizeof(int));
    size_t lo, hi;
    ed_dist_slices(&D, n, counts, displs, &lo, &hi);
    if (uneven && D.world > 1) { /* rank 0 empty, the last rank takes its share */
        counts[D.world - 1] += counts[0];
        counts[0] = 0;
        for (int r = 1; r < D.world; r++) displs[r] = displs[r - 1] + counts[r - 1];
        lo = (size_t)displs[D.rank];
        hi = lo + (size_t)counts[D.rank];
    }
    ed_grad_sync g;
    ed_grad_sync_init_scatter(&g, D.comm, buf, n, bucket_bytes, counts, displs);
    long W = D.world;
    for (int step = 0; step < 3; step++) {
        for (size_t i = 0; i < n; i++) buf[i] = (float)(D.rank + 1 + (long)(i % 7) + step);
        ed_grad_sync_begin(&g);
        int silent = D.world > 2 && D.rank == 1;
        if (!silent) report(&g, n, 37 + 13 * (size_t)D.rank, D.rank != 2);
        ed_grad_sync_finish(&g);
        for (size_t i = lo; i < hi; i++) {
            float want = (float)(W * (W + 1) / 2 + W * ((long)(i % 7) + step));
            if (buf[i] != want)
                fail_msg("step %d: buf[%zu] = %g, want %g (slice [%zu, %zu))", step, i, (double)buf[i], (double)want,
                         lo, hi);
        }
    }
    assert_int_equal(g.n_total, 3L * g.n_buckets);
    ed_grad_sync_free(&g);
    free(counts);
    free(displs);
    free(buf);
}

static void test_grad_sync_scatter(void **state) {
    (void)state;
    run_scatter(1000, 64 * sizeof(float), 0);   /* 16 buckets crossing slice boundaries */
    run_scatter(1000, 1 << 20, 0);              /* one bucket holding every slice */
    run_scatter(1000, 100 * sizeof(float), 1);  /* an empty slice */
    run_scatter(3, 1 * sizeof(float), 0);       /* fewer floats than ranks at -n 4 */
}

static void test_threads(void **state) {
    (void)state;
    int over = -1;
    assert_int_equal(ed_dist_threads(&D, 3, &over), 3);
    assert_int_equal(over, 3L * D.local_size > D.node_cores);
    int t = ed_dist_threads(&D, 0, &over);
    assert_true(t >= 1);
    int share = D.node_cores / D.local_size;
    if (share > D.rank_cores) share = D.rank_cores;
    assert_int_equal(t, share > 0 ? share : 1);
    assert_true(D.local_size >= 1 && D.local_size <= D.world);
    assert_true(D.rank_cores >= 1 && D.rank_cores <= D.node_cores);
    assert_true(D.host[0] != '\0');
}

static void test_bf16_codec(void **state) {
    (void)state;
    assert_int_equal(ed_bf16_encode(1.0f), 0x3f80);
    assert_int_equal(ed_bf16_encode(-2.0f), 0xc000);
    /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even one (1). */
    assert_int_equal(ed_bf16_encode(1.0f + 0x1p-8f), 0x3f80);
    assert_int_equal(ed_bf16_encode(1.0f + 0x1p-7f + 0x1p-8f), 0x3f82); /* tie, odd below: up */
    assert_int_equal(ed_bf16_encode(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81); /* above the tie: up */
    assert_true(isnan(ed_bf16_decode(ed_bf16_encode(NAN))));
    assert_true(isinf(ed_bf16_decode(ed_bf16_encode(INFINITY))));
    assert_true(ed_bf16_decode(ed_bf16_encode(0.1f)) == 0x1.9ap-4f);
}

/* bf16 on the wire: every rank ends with the fp32 rank-order sum of the bf16-rounded
 * gradients, rounded once more, bit-identical on all ranks. Values with 16 significant
 * bits, so the rounding is visible. */
static void run_bf16(size_t n, size_t bucket_bytes) {
    float *buf = ed_alloc_floats(n);
    ed_grad_sync g;
    ed_grad_sync_init(&g, D.comm, buf, n, bucket_bytes);
    ed_grad_sync_set_bf16(&g);
    for (int step = 0; step < 2; step++) {
        for (size_t i = 0; i < n; i++) buf[i] = ((float)((i * 7919 + (size_t)D.rank * 104729 + (size_t)step) % 65521) - 32760.0f) / 1024.0f;
        ed_grad_sync_begin(&g);
        if (!(D.world > 2 && D.rank == 1)) report(&g, n, 29 + 11 * (size_t)D.rank, D.rank != 2);
        ed_grad_sync_finish(&g);
        for (size_t i = 0; i < n; i++) {
            float s = 0.0f;
            for (int r = 0; r < D.world; r++) {
                float x = ((float)((i * 7919 + (size_t)r * 104729 + (size_t)step) % 65521) - 32760.0f) / 1024.0f;
                s += D.world > 1 ? ed_bf16_decode(ed_bf16_encode(x)) : x;
            }
            float want = D.world > 1 ? ed_bf16_decode(ed_bf16_encode(s)) : s;
            if (buf[i] != want) fail_msg("step %d: buf[%zu] = %.9g, want %.9g", step, i, (double)buf[i], (double)want);
        }
        ed_error err;
        assert_int_equal(ed_dist_check_same(&D, buf, n, &err), 0);
    }
    ed_grad_sync_free(&g);
    free(buf);
}

static void test_grad_sync_bf16(void **state) {
    (void)state;
    run_bf16(1000, 64 * sizeof(float)); /* 16 buckets, the last one partial */
    run_bf16(1001, 1 << 20);            /* one bucket, chunks padded */
    run_bf16(3, 1 * sizeof(float));     /* fewer floats than ranks at -n 4 */
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    ed_dist_init(&D, MPI_COMM_WORLD);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agree),          cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_check_same),     cmocka_unit_test(test_grad_sync_buckets),
        cmocka_unit_test(test_grad_sync_scatter), cmocka_unit_test(test_threads),
        cmocka_unit_test(test_bf16_codec),     cmocka_unit_test(test_grad_sync_bf16),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    /* any rank's failure fails the run on every rank */
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    ed_dist_free(&D);
    MPI_Finalize();
    return any ? 1 : 0;
}
