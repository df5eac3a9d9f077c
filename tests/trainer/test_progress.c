/* test_progress.c — rank 0's progress output: the line, the TTY bar, durations, FLOPs
 * per token, the reference GFLOPS rule and when the bar is drawn. */
#define _XOPEN_SOURCE 600 /* posix_openpt, grantpt, unlockpt, ptsname */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "expert/progress.h"

static ed_progress sample(void) {
    return (ed_progress){.epoch = 2, .epochs = 3, .step = 10, .steps = 40, .global_step = 50, .total_steps = 120,
                         .loss = 4.56789, .lr = 5e-4, .grad_norm = 1.2345, .tokens_per_s = 12345.6, .mfu = 0.256,
                         .elapsed = 125, .eta = 3725};
}

static void test_line(void **state) {
    (void)state;
    ed_progress p = sample();
    char buf[512];
    ed_progress_format(&p, buf, sizeof buf);
    assert_string_equal(buf, "epoch 2/3 step 10/40 loss 4.5679 lr 5.00e-04 gnorm 1.234 tok/s 12346 mfu 25.6% "
                             "elapsed 2m05s eta 1h02m");
    p.mfu = -1;
    p.eta = -1;
    ed_progress_format(&p, buf, sizeof buf);
    assert_non_null(strstr(buf, "mfu ? elapsed 2m05s eta ?"));
    /* above the reference: never a number over 100%, the reference is suspect */
    p.mfu = 1.0;
    ed_progress_format(&p, buf, sizeof buf);
    assert_non_null(strstr(buf, "mfu 100.0% elapsed"));
    p.mfu = 5.77;
    ed_progress_format(&p, buf, sizeof buf);
    assert_non_null(strstr(buf, "mfu >100%? elapsed"));
    p.mfu = -1;
    p.loss_scale = 32768, p.scale_skipped = 3; /* fp16 */
    ed_progress_format(&p, buf, sizeof buf);
    assert_non_null(strstr(buf, "gnorm 1.234 scale 32768 skipped 3 tok/s"));
}

static void test_print_plain_and_tty(void **state) {
    (void)state;
    ed_progress p = sample();
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ed_progress_print(f, &p, 0, 0); /* not a TTY, not a log step: nothing */
    fflush(f);
    assert_int_equal(len, 0);
    ed_progress_print(f, &p, 0, 1);
    fflush(f);
    assert_true(len > 0 && buf[0] == 'e' && buf[len - 1] == '\n' && !strchr(buf, '\r'));
    fclose(f);
    free(buf);

    buf = NULL;
    f = open_memstream(&buf, &len);
    ed_progress_print(f, &p, 1, 0);
    fclose(f);
    /* 50 of 120 steps -> 8 of 20 cells */
    assert_true(strncmp(buf, "\r[########............] epoch 2/3", 33) == 0);
    assert_null(strchr(buf, '\n'));
    free(buf);
}

static void test_durations(void **state) {
    (void)state;
    char b[32];
    ed_format_duration(0, b, sizeof b);
    assert_string_equal(b, "0s");
    ed_format_duration(59.4, b, sizeof b);
    assert_string_equal(b, "59s");
    ed_format_duration(61, b, sizeof b);
    assert_string_equal(b, "1m01s");
    ed_format_duration(7322, b, sizeof b);
    assert_string_equal(b, "2h02m");
    ed_format_duration(-1, b, sizeof b);
    assert_string_equal(b, "?");
}

static void test_flops_and_reference(void **state) {
    (void)state;
    ed_model_config c = {.vocab_size = 100, .d_model = 64, .n_layers = 2, .n_heads = 2, .d_ff = 256, .max_seq_len = 32};
    assert_true(ed_flops_per_token(&c, 1000, 32) == 6.0 * 1000 + 12.0 * 2 * 32 * 64);
    unsetenv("ED_REF_GFLOPS");
    assert_true(ed_ref_gflops(0) == 0.0); /* nothing given: the trainer measures */
    setenv("ED_REF_GFLOPS", "120", 1);
    assert_true(ed_ref_gflops(0) == 120.0);
    assert_true(ed_ref_gflops(50) == 50.0); /* the flag wins */
    unsetenv("ED_REF_GFLOPS");
}

/* The one bar rule (train on stdout, prepare on stderr), on a real pseudo-terminal and
 * on a pipe, under each environment that changes it. */
static void test_bar_wanted(void **state) {
    (void)state;
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(m >= 0);
    assert_int_equal(grantpt(m), 0);
    assert_int_equal(unlockpt(m), 0);
    FILE *tty = fopen(ptsname(m), "w");
    assert_non_null(tty);
    int p[2];
    assert_int_equal(pipe(p), 0);
    FILE *pipe_f = fdopen(p[1], "w");
    assert_non_null(pipe_f);
    unsetenv("ED_PROGRESS");
    unsetenv("OMPI_COMM_WORLD_SIZE");
    setenv("TERM", "xterm", 1);
    assert_int_equal(ed_progress_bar_wanted(tty), 1);
    assert_int_equal(ed_progress_bar_wanted(pipe_f), 0);
    setenv("TERM", "dumb", 1); /* prepare used to ignore this */
    assert_int_equal(ed_progress_bar_wanted(tty), 0);
    setenv("TERM", "xterm", 1);
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1); /* mpirun: every rank sees a pty */
    assert_int_equal(ed_progress_bar_wanted(tty), 0);
    setenv("ED_PROGRESS", "bar", 1);
    assert_int_equal(ed_progress_bar_wanted(pipe_f), 1);
    unsetenv("OMPI_COMM_WORLD_SIZE");
    setenv("ED_PROGRESS", "plain", 1);
    assert_int_equal(ed_progress_bar_wanted(tty), 0);
    setenv("ED_PROGRESS", "other", 1); /* not a forcing value: the automatic rule */
    assert_int_equal(ed_progress_bar_wanted(tty), 1);
    unsetenv("ED_PROGRESS");
    fclose(pipe_f);
    close(p[0]);
    fclose(tty);
    close(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line),
        cmocka_unit_test(test_print_plain_and_tty),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_flops_and_reference),
        cmocka_unit_test(test_bar_wanted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
