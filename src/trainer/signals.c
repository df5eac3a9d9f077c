/* signals.c — what reaches the process from outside while it trains.
 *
 * Stop signals only set a flag: SIGTERM (Slurm's notice before a kill), SIGUSR1 (Slurm's
 * --signal option) and SIGINT (Ctrl-C). The trainer polls it once per step and all ranks
 * agree through an allreduce, so they stop after the same step and write one consistent
 * last.h5 (exit 3, or 130 after SIGINT). A second SIGINT while stopping ends the process
 * at once (exit 130): finished checkpoints are untouched, a save in progress leaves at
 * worst a .tmp, which the next run removes.
 *
 * A lost terminal or reader must not kill a run: SIGPIPE is ignored (a write to a closed
 * pipe fails with EPIPE instead), SIGHUP only sets a flag, and ed_output_keep moves
 * stdout and stderr to the run's log file when either happened. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "expert/trainer.h"

/* The globals of the program: a signal handler can reach nothing else. */
static volatile sig_atomic_t g_stop_signal = 0;
static volatile sig_atomic_t g_hangup = 0;

static void on_stop(int sig) {
    if (sig == SIGINT && g_stop_signal) _exit(ED_EXIT_INTERRUPTED); /* Ctrl-C twice: stop now */
    if (!g_stop_signal) g_stop_signal = sig;
}

static void on_hangup(int sig) {
    (void)sig;
    g_hangup = 1;
}

static void set_handler(int sig, void (*fn)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(sig, &sa, NULL);
}

void ed_signals_install(void) {
    set_handler(SIGTERM, on_stop);
    set_handler(SIGUSR1, on_stop);
}

void ed_signals_train(void) {
    set_handler(SIGINT, on_stop);
    set_handler(SIGHUP, on_hangup);
    set_handler(SIGPIPE, SIG_IGN);
}

int ed_signal_pending(void) { return (int)g_stop_signal; }

int ed_output_keep(const char *log_path) {
    if (!g_hangup && !ferror(stdout) && !ferror(stderr)) return 0;
    const char *why = g_hangup ? "SIGHUP (terminal closed)" : "stdout/stderr closed";
    g_hangup = 0;
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) fd = open("/dev/null", O_WRONLY | O_CLOEXEC); /* at least never fail again */
    if (fd < 0) return 0;
    /* Redirect first, then flush: what stdio still buffers goes to the log. */
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    clearerr(stdout);
    clearerr(stderr);
    fflush(stdout);
    fprintf(stderr, "expert-dist: %s: output continues in %s\n", why, log_path);
    return 1;
}
