# shellcheck shell=bash
# launch.sh — the part every batch script in slurm/ shares, sourced by them (not run).
# It starts `expert-dist train` on all ranks of the allocation and owns the preemption
# flow; the .sbatch files only choose the resources and the run directory.
#
#   ed_run_trainer RUN_DIR [trainer args...]
#
# What it does, in order:
#   1. Threads per rank = SLURM_CPUS_PER_TASK (default 1): exported as OMP_NUM_THREADS
#      and OPENBLAS_NUM_THREADS and passed as --threads, so ranks x threads never
#      oversubscribes the cores Slurm gave us.
#   2. Launcher (ED_LAUNCHER=auto|srun|mpirun, default auto): `srun --mpi=pmix` inside
#      a Slurm job when `srun --mpi=list` offers pmix (Open MPI then needs no mpirun and Slurm tracks every
#      rank); otherwise `mpirun`, which reads the allocation itself. Extra arguments for
#      either: ED_SRUN_ARGS, ED_MPIRUN_ARGS (default "--bind-to none").
#   3. Resume: the first attempt starts fresh (or uses RESUME if set); an attempt after a
#      requeue (SLURM_RESTART_COUNT > 0) passes --resume auto, and since the run
#      directory is keyed on the job id, which a requeue keeps, it finds last.h5.
#   4. Preemption: USR1 or TERM to this batch shell (`#SBATCH --signal=B:USR1@120`,
#      `scancel --signal=USR1 --batch`) is forwarded to the ranks as USR1 — srun and
#      mpirun both pass USR1 through, whereas TERM makes them kill the ranks. The
#      trainer finishes its step, writes RUN_DIR/last.h5 and exits 3; we then run
#      `scontrol requeue` (at most ED_MAX_REQUEUES times, default 10), and Slurm starts
#      this script again later.
# The trainer is launched as `cmd & wait $!` because bash runs a trap only between
# commands: a foreground srun would delay the trap until training ended.
#
# Which binary: ED_BIN, else ED_HOME/build/expert-dist (ED_HOME defaults to the submit
# directory), else `expert-dist` on PATH.

ed_log() { echo "[$(date '+%F %T')] ${ED_SCRIPT_NAME:-expert-dist.sbatch}: $*"; }
ed_err() { ed_log "error: $*" >&2; }

# CONFIG (environment) or a first argument that is not a flag names the INI config;
# the remaining arguments go to the trainer unchanged. Fills the array ED_ARGS.
ed_parse_args() {
    local cfg=${CONFIG:-}
    if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then cfg=$1; shift; fi
    ED_ARGS=()
    if [ -n "$cfg" ]; then
        if [ ! -f "$cfg" ] || [ ! -r "$cfg" ]; then
            ed_err "config file '$cfg' not found (relative to $PWD)"
            return 2
        fi
        ED_ARGS=(--config "$cfg")
    fi
    ED_ARGS+=("$@")
}

# Picks the launcher; fills the array ED_LAUNCH.
ed_pick_launcher() {
    local want=${ED_LAUNCHER:-auto} ntasks=${SLURM_NTASKS:-1} threads=$1
    if [ "$want" = auto ]; then
        if [ -n "${SLURM_JOB_ID:-}" ] && command -v srun >/dev/null && srun --mpi=list 2>&1 | grep -qw pmix; then
            want=srun
        else
            want=mpirun
        fi
    fi
    case "$want" in
        srun)
            # Slurm 22.05 stopped passing the batch's --cpus-per-task on to srun; say it again.
            # shellcheck disable=SC2206
            ED_LAUNCH=(srun --mpi=pmix --kill-on-bad-exit=1 --cpus-per-task="$threads" ${ED_SRUN_ARGS:-}) ;;
        mpirun)
            command -v mpirun >/dev/null || { ed_err "neither srun with pmix nor mpirun is available"; return 2; }
            # Under Slurm mpirun takes the node list from the allocation; -x carries the
            # thread settings to ranks on other nodes.
            # shellcheck disable=SC2206
            ED_LAUNCH=(mpirun -n "$ntasks" -x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS ${ED_MPIRUN_ARGS:---bind-to none}) ;;
        *) ed_err "ED_LAUNCHER must be auto, srun or mpirun (got '$want')"; return 2 ;;
    esac
}

ed_find_bin() {
    local home=${ED_HOME:-${SLURM_SUBMIT_DIR:-$PWD}}
    if [ -n "${ED_BIN:-}" ]; then
        ED_TRAINER=$ED_BIN
    elif [ -x "$home/build/expert-dist" ]; then
        ED_TRAINER=$home/build/expert-dist
    else
        ED_TRAINER=$(command -v expert-dist || true)
    fi
    if [ -z "$ED_TRAINER" ] || [ ! -x "$ED_TRAINER" ]; then
        ed_err "expert-dist not found (set ED_BIN, or build it in $home/build)"
        return 2
    fi
}

# Set by the trap, read after the trainer exits.
ED_SIGNALLED=""
ED_CHILD=""
ED_TRAPPED=0
ed_on_signal() {
    ED_SIGNALLED=$1
    ED_TRAPPED=1
    ed_log "got SIG$1: asking the ranks to checkpoint and stop (SIGUSR1)"
    if [ -n "$ED_CHILD" ]; then kill -USR1 "$ED_CHILD" 2>/dev/null || true; fi
}

ed_run_trainer() {
    # First of all: without the traps a USR1 would kill this shell (its default action)
    # and the job would end FAILED instead of being requeued.
    trap 'ed_on_signal USR1' USR1
    trap 'ed_on_signal TERM' TERM
    local run_dir=$1; shift
    local threads=${SLURM_CPUS_PER_TASK:-1}
    export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
    # Open MPI refuses to run as root unless told; only say so when we are root.
    if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi

    ed_find_bin || return $?
    ed_pick_launcher "$threads" || return $?
    mkdir -p "$run_dir" || { ed_err "cannot create run directory $run_dir"; return 1; }

    local restarts=${SLURM_RESTART_COUNT:-0} resume=()
    if [ "$restarts" -gt 0 ]; then
        resume=(--resume auto)
    elif [ -n "${RESUME:-}" ]; then
        resume=(--resume "$RESUME")
    fi
    ed_log "job ${SLURM_JOB_ID:-?} attempt $((restarts + 1)) on ${SLURM_JOB_NODELIST:-$(hostname -s)}:" \
           "${SLURM_NTASKS:-1} ranks x $threads threads, launcher ${ED_LAUNCH[0]}, run dir $run_dir"
    local cmd=("${ED_LAUNCH[@]}" "$ED_TRAINER" train --checkpoint-dir "$run_dir" --threads "$threads" "${resume[@]}" "$@")

    local st
    if [ -n "$ED_SIGNALLED" ]; then
        ed_log "preempted before the trainer started: not starting it"
        st=3
    else
        ed_log "running: ${cmd[*]}"
        "${cmd[@]}" &
        ED_CHILD=$!
        # A signal between the launch and the line above found no child to forward to.
        if [ -n "$ED_SIGNALLED" ]; then kill -USR1 "$ED_CHILD" 2>/dev/null || true; fi
        while :; do
            ED_TRAPPED=0
            wait "$ED_CHILD"
            st=$?
            # A trapped signal makes `wait` return early with a status > 128 while the
            # ranks still run: wait again for their real exit status.
            if [ "$ED_TRAPPED" -eq 1 ] && [ "$st" -gt 128 ]; then continue; fi
            break
        done
        ED_CHILD=""
    fi
    trap - USR1 TERM
    ed_log "trainer exited with status $st${ED_SIGNALLED:+ (after SIG$ED_SIGNALLED)}"

    # Status 3: the trainer checkpointed and stopped. Status > 128 after our signal: a rank
    # died of it because it arrived before the rank installed its handler, i.e. during
    # start-up, before any training; requeueing then loses nothing either.
    local requeue=0
    if [ "$st" -eq 3 ]; then
        requeue=1
    elif [ -n "$ED_SIGNALLED" ] && [ "$st" -gt 128 ]; then
        ed_log "the ranks were killed by the signal (still starting up?): treated as preempted"
        requeue=1
    fi
    if [ "$requeue" -eq 1 ]; then
        local max=${ED_MAX_REQUEUES:-10}
        if [ -z "${SLURM_JOB_ID:-}" ]; then
            ed_log "preempted outside Slurm: resume with --resume auto --checkpoint-dir $run_dir"
        elif [ "$restarts" -ge "$max" ]; then
            ed_log "preempted, but already requeued $restarts times (ED_MAX_REQUEUES=$max): not requeueing"
        else
            # Log first: Slurm ends this attempt (SIGTERM to this shell) as soon as the
            # requeue is accepted, so nothing after scontrol may get to run.
            ed_log "requeueing job $SLURM_JOB_ID; the next attempt resumes from $run_dir with --resume auto"
            scontrol requeue "$SLURM_JOB_ID" && return 0
            ed_err "scontrol requeue $SLURM_JOB_ID failed; resume by hand with RESUME=auto RUN_DIR=$run_dir"
        fi
    fi
    return "$st"
}
