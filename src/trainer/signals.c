/* signals.c — preemption: SIGTERM (Slurm's notice before a kill) and SIGUSR1 (Slurm's
 * --signal option) only set a flag. The trainer polls it once per step and all ranks agree
 * through an allreduce, so they stop after the same step and write one consistent last.h5. */
#include <signal.h>
#include <string.h>

#include "expert/trainer.h"

/* The one global of the program: a signal handler can reach nothing else. */
static volatile sig_atomic_t g_stop_signal = 0;

static void on_signal(int sig) { g_stop_signal = sig; }

void ed_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

int ed_signal_pending(void) { return (int)g_stop_signal; }
