/* signals.c — what reaches the process from outside while it trains.
 *
 * Stop signals: SIGTERM (Slurm's notice before a kill), SIGUSR1 (Slurm's --signal option)
 * and SIGINT (Ctrl-C). Two modes:
 *  - while training (ed_signals_graceful(1), from the first step to the last save) they only
 *    set a flag. The trainer polls it once per step, per validation batch and per generated
 *    example, and all ranks agree through an allreduce, so they stop at the same point and
 *    write one consistent last.h5 (exit 3, or 130 after SIGINT). A second SIGINT while
 *    stopping ends the process at once (exit 130): finished checkpoints are untouched, a
 *    save in progress leaves at worst a .tmp, which the next run removes.
 *  - otherwise (start-up, eval, generate, prepare, ...: nothing unsaved to lose) the process
 *    ends at once with the same statuses, after one line from rank 0. Files being written
 *    are atomic (common.h): at worst a .tmp is left, which the next run ignores. A flag
 *    there would be read by nothing, and the job could only be stopped by SIGKILL.
 *
 * Output must never stand between a stop signal and last.h5. Open MPI's mpirun, told to
 * stop (SIGTERM or SIGINT to mpirun), has each node's daemon send SIGCONT, sleep
 * odls_base_sigkill_timeout (1 s), send SIGTERM, sleep again, send SIGKILL; while it
 * sleeps it reads none of its ranks' output (a pty of ~64 KB each), so a rank printing
 * a line per step soon blocks in write() and cannot reach the next agreement, and the
 * others wait for it until SIGKILL: no last.h5 (seen across two nodes, where yielding
 * ranks step faster and fill the pty within the first second). So the first stop signal
 * of a graceful phase makes stdout and stderr non-blocking: a write that would block
 * fails instead (that line is lost) and the rank goes on to the save;
 * ed_signals_output_restore makes them blocking again once the work is on disk, and
 * ed_output_keep sends what follows to the log file if a write failed meanwhile.
 *
 * A lost terminal or reader must not kill a run: SIGPIPE is ignored (a write to a closed
 * pipe fails with EPIPE instead), SIGHUP only sets a flag, and ed_output_keep moves
 * stdout and stderr to the run's log file when either happened. */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "expert/trainer.h"

/* The globals of the program: a signal handler can reach nothing else. */
static volatile sig_atomic_t g_stop_signal = 0;
static volatile sig_atomic_t g_hangup = 0;
static volatile sig_atomic_t g_graceful = 0; /* 1: a stop signal sets the flag; 0: exit now */
static volatile sig_atomic_t g_speak = 0;    /* this process prints the line (rank 0) */
static volatile sig_atomic_t g_nonblock = 0; /* bit fd-1: we made fd 1 / 2 non-blocking */
static volatile sig_atomic_t g_was_nonblock = 0; /* ... at some point (ed_output_keep's words) */

/* Async-signal-safe (fcntl). on: stdout and stderr stop blocking (the ones that did);
 * off: those we changed block again. The flag belongs to the open file, which a terminal
 * shares with the shell: it is always put back before the process ends. */
static void output_nonblock(int on) {
    for (int fd = STDOUT_FILENO; fd <= STDERR_FILENO; fd++) {
        int bit = 1 << (fd - 1), fl = fcntl(fd, F_GETFL);
        if (fl < 0) continue;
        if (on && !(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0) {
            g_nonblock |= bit;
            g_was_nonblock = 1;
        } else if (!on && (g_nonblock & bit)) {
            fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
            g_nonblock &= ~bit;
        }
    }
}

static int stop_status(int sig) { return sig == SIGINT ? ED_EXIT_INTERRUPTED : ED_EXIT_PREEMPTED; }

/* Only async-signal-safe calls: fcntl, write(2) of constant strings and _exit. */
static void exit_now(int sig) {
    output_nonblock(1); /* the line must not keep a stopping process alive */
    if (g_speak) {
        static const char head[] = "expert-dist: ", tail[] = " received: stopping (nothing unsaved to lose)\n";
        const char *name = sig == SIGINT ? "SIGINT" : sig == SIGUSR1 ? "SIGUSR1" : "SIGTERM";
        ssize_t w = write(STDERR_FILENO, head, sizeof head - 1);
        w = write(STDERR_FILENO, name, strlen(name));
        w = write(STDERR_FILENO, tail, sizeof tail - 1);
        (void)w; /* nothing to do about a failed write on the way out */
    }
    output_nonblock(0);
    _exit(stop_status(sig));
}

static void on_stop(int sig) {
    if (!g_graceful) exit_now(sig);
    if (sig == SIGINT && g_stop_signal) { /* Ctrl-C twice: stop now */
        output_nonblock(0);
        _exit(ED_EXIT_INTERRUPTED);
    }
    if (!g_stop_signal) {
        g_stop_signal = sig;
        output_nonblock(1);
    }
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

void ed_signals_install(int speak) {
    g_speak = speak != 0;
    set_handler(SIGTERM, on_stop);
    set_handler(SIGUSR1, on_stop);
}

void ed_signals_train(void) {
    set_handler(SIGINT, on_stop);
    set_handler(SIGHUP, on_hangup);
    set_handler(SIGPIPE, SIG_IGN);
}

void ed_signals_graceful(int on) {
    g_graceful = on != 0;
    if (!on) output_nonblock(0);
}

void ed_signals_output_restore(void) { output_nonblock(0); }

int ed_signal_pending(void) { return (int)g_stop_signal; }

int ed_output_keep(const char *log_path) {
    if (!g_hangup && !ferror(stdout) && !ferror(stderr)) return 0;
    const char *why = g_hangup         ? "SIGHUP (terminal closed)"
                      : g_was_nonblock ? "stdout/stderr blocked while stopping (nothing read them: mpirun stopping "
                                         "the job?)"
                                       : "stdout/stderr closed";
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

int ed_signal_agreed(const ed_dist *d) {
    /* max over ranks of (world - rank) * 64 + signal: the lowest rank with a signal wins */
    int sig = ed_signal_pending();
    double v = sig ? (double)(d->world - d->rank) * 64.0 + sig : 0.0;
    ed_dist_max(d, &v, 1);
    return (int)fmod(v, 64.0);
}
