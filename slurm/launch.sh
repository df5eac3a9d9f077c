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
#   4. Preemption: USR1 to this batch shell (`#SBATCH --signal=B:USR1@120`,
#      `scancel --signal=USR1 --batch`) is forwarded to the ranks as USR1 — srun and
#      mpirun both pass USR1 through, whereas TERM makes them kill the ranks. The
#      trainer finishes its step, writes RUN_DIR/last.h5 and exits 3; we then run
#      `scontrol requeue` (at most ED_MAX_REQUEUES times, default 10), and Slurm starts
#      this script again later.
#   5. Cancellation: TERM (`scancel`, the time limit, Slurm's own preemption) is also
#      forwarded as USR1, so the ranks save last.h5 if they can, but never requeues.
#   6. The outcome (ed_outcome): COMPLETED only for status 0 *and* the trainer's final
#      summary line (srun has returned 0 after a failed task launch); 3 after USR1:
#      requeue; anything else: FAILED with that status.
#   7. Recovery mode (ED_NODE_RETRIES > 0, with `sbatch --no-kill`): a step that fails
#      because a node died is launched again on the nodes that remain (or a spare,
#      ED_SPARE_NODES) from the newest checkpoint, --grad-accum scaled to keep the
#      global batch; every restart is logged with its cause.
# Every rank starts through slurm/rank.sh (stale shared-memory segments, then exec).
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

# Set by the traps, read after the trainer exits. USR1 is the configured preemption
# signal (`--signal=B:USR1@...`, `scancel --signal=USR1 --batch`): checkpoint and requeue.
# TERM is what `scancel` (and the end of the time limit, and Slurm's own preemption)
# sends: checkpoint if the ranks can, but never requeue: a cancelled job stays cancelled.
ED_SIGNALLED=""
ED_CANCELLED=0
ED_CHILD=""
ED_TRAPPED=0
ed_on_signal() {
    ED_TRAPPED=1
    if [ "$1" = TERM ]; then
        ED_CANCELLED=1
        ed_log "got SIGTERM (scancel, or Slurm ending the job): asking the ranks to save last.h5 and stop; not requeueing"
    else
        ED_SIGNALLED=$1
        ed_log "got SIG$1: asking the ranks to checkpoint and stop (SIGUSR1)"
    fi
    if [ -n "$ED_CHILD" ]; then kill -USR1 "$ED_CHILD" 2>/dev/null || true; fi
}

# Runs CMD in the background with its stdout passed on through a filter that keeps the
# trainer's final summary line (`done: N steps ...`, `early stopping: ...`, `preempted: ...`)
# in ED_SUMMARY_FILE, waits for it (forwarding trapped signals), and sets ED_STATUS. The
# filter ignores the signals Slurm sends the whole batch step, so it outlives the
# trainer's last line.
ed_launch_and_wait() { # CMD...
    local fifo=$ED_TMP/stdout filter st
    : >"$ED_SUMMARY_FILE"
    rm -f "$fifo"
    if ! mkfifo "$fifo"; then ed_err "cannot create a pipe in $ED_TMP"; ED_STATUS=1; return; fi
    # sed -u: line by line, so the log stays live.
    ( trap '' TERM USR1 INT HUP
      exec sed -u -E "/^(done|early stopping|preempted): [0-9]+ steps in /w $ED_SUMMARY_FILE" <"$fifo" ) &
    filter=$!
    export ED_LAUNCH_T0; ED_LAUNCH_T0=$(date +%s)
    "$@" >"$fifo" &
    ED_CHILD=$!
    local watch=""
    if [ "${ED_NODE_RETRIES:-0}" -gt 0 ]; then
        rm -f "$ED_TMP/lost"
        # shellcheck disable=SC2086
        ed_node_watch "$ED_CHILD" $placed &
        watch=$!
    fi
    # A signal between the launch and the line above found no child to forward to.
    if [ -n "$ED_SIGNALLED" ] || [ "$ED_CANCELLED" -eq 1 ]; then kill -USR1 "$ED_CHILD" 2>/dev/null || true; fi
    while :; do
        ED_TRAPPED=0
        wait "$ED_CHILD"
        st=$?
        # A trapped signal makes `wait` return early with a status > 128 while the ranks
        # still run: wait again for their real exit status.
        if [ "$ED_TRAPPED" -eq 1 ] && [ "$st" -gt 128 ]; then continue; fi
        break
    done
    ED_CHILD=""
    # Both helpers ignore TERM (the batch step's signals are not for them): KILL.
    [ -z "$watch" ] || { kill -KILL "$watch" 2>/dev/null; wait "$watch" 2>/dev/null; }
    # The filter ends when the launcher's stdout closes; a stray process holding the pipe
    # must not hold the job: give up waiting after 5 s.
    for _ in $(seq 1 50); do kill -0 "$filter" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$filter" 2>/dev/null || true
    ED_STATUS=$st
}

# The trainer's own verdict: its final summary line, or nothing.
ed_summary() { sed -n 's/^\([a-z ]*\): .*/\1/p' "$ED_SUMMARY_FILE" 2>/dev/null | tail -n 1; }

# Nodes of the allocation, one per line.
ed_job_nodes() { scontrol show hostnames "${SLURM_JOB_NODELIST:-}" 2>/dev/null; }

# The nodes among the arguments that do not run a job step: a tiny step on each (in
# parallel, sharing the CPUs of any step still there), bounded by ED_PROBE_TIMEOUT seconds.
# A node whose slurmd is gone fails at once (connection refused) or after Slurm's
# MessageTimeout; one that slurmctld has already marked DOWN is refused.
ed_dead_nodes() { # NODE...
    local n pids=() dead=()
    for n in "$@"; do
        timeout "${ED_PROBE_TIMEOUT:-30}" srun --overlap --nodes=1 --ntasks=1 --nodelist="$n" --mpi=none \
            --kill-on-bad-exit=0 --job-name=ed-probe true >/dev/null 2>&1 &
        pids+=($!)
    done
    local i=0
    for n in "$@"; do
        wait "${pids[$i]}" || dead+=("$n")
        i=$((i + 1))
    done
    echo "${dead[*]}"
}

# Recovery mode, in the background while a launch runs on NODE...: the ranks on the nodes
# that survive a lost node would wait for it in their next collective (until the trainer's
# --comm-timeout, or for ever), and srun waits for the lost node's tasks. Every
# ED_NODE_CHECK seconds (default 10) ask slurmctld for the nodes' state; one marked DOWN
# or not responding (Slurm's SlurmdTimeout decides when) that also fails a probe step is
# lost: record it in ED_TMP/lost, kill the launch's step and srun.
ed_node_watch() { # SRUN_PID NODE...
    trap '' USR1 TERM  # the batch shell's signals are for the ranks
    local pid=$1 list bad
    shift
    list=$(IFS=,; echo "$*")
    while kill -0 "$pid" 2>/dev/null; do
        sleep "${ED_NODE_CHECK:-10}"
        bad=$(sinfo -h -N -n "$list" -o '%N %t' 2>/dev/null | awk '$2 ~ /^down|\*$/ {print $1}' | sort -u)
        [ -n "$bad" ] || continue
        # shellcheck disable=SC2086
        bad=$(ed_dead_nodes $bad)
        [ -n "$bad" ] || continue
        echo "$bad" >"$ED_TMP/lost"
        ed_log "node(s) $bad lost (Slurm: down or not responding; a probe step fails there): ending the step"
        squeue -h -s -j "$SLURM_JOB_ID" -o '%i %j' 2>/dev/null | awk '$2 == "rank.sh" {print $1}' |
            xargs -r scancel --signal=KILL 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        return 0
    done
}

# The effective --grad-accum of the run (its config.ini, written at start by the trainer).
ed_run_grad_accum() { # RUN_DIR
    sed -n 's/^grad-accum = \([0-9][0-9]*\)$/\1/p' "$1/config.ini" 2>/dev/null | tail -n 1
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
    ED_TMP=$(mktemp -d "${TMPDIR:-/tmp}/expert-dist.XXXXXX") || { ed_err "cannot create a temporary directory"; return 1; }
    ED_SUMMARY_FILE=$ED_TMP/summary
    # shellcheck disable=SC2064
    trap "rm -rf '$ED_TMP'" EXIT

    local restarts=${SLURM_RESTART_COUNT:-0} resume=()
    if [ "$restarts" -gt 0 ]; then
        resume=(--resume auto)
    elif [ -n "${RESUME:-}" ]; then
        resume=(--resume "$RESUME")
    fi
    local rank_sh
    rank_sh=$(dirname "${BASH_SOURCE[0]}")/rank.sh

    # Recovery inside the allocation (ED_NODE_RETRIES > 0, srun only): a step that fails
    # because a node died is launched again on the nodes that remain (or on a spare), from
    # the newest checkpoint. `place` holds the srun arguments that pin a launch to nodes.
    local retries=${ED_NODE_RETRIES:-0} spares=${ED_SPARE_NODES:-0} relaunches=0
    local alive=() placed="" per_node=0 world0=${SLURM_NTASKS:-1} accum0="" place=() extra=()
    local recovery=0
    if [ "$retries" -gt 0 ] || [ "$spares" -gt 0 ]; then
        ed_recovery_setup || return $?
        recovery=1
    fi
    ed_log "job ${SLURM_JOB_ID:-?} attempt $((restarts + 1)) on ${SLURM_JOB_NODELIST:-$(hostname -s)}:" \
           "$world0 ranks x $threads threads, launcher ${ED_LAUNCH[0]}, run dir $run_dir"
    if [ "$recovery" -eq 1 ]; then
        ed_log "recovery mode: up to $retries relaunches inside the allocation after a lost node;" \
               "$per_node ranks per node on $placed$([ "$spares" -eq 0 ] || echo ", $spares spare node(s)")"
    fi

    local st
    while :; do
        local cmd=("${ED_LAUNCH[@]}" "${place[@]}" "$rank_sh" "$ED_TRAINER" train --checkpoint-dir "$run_dir"
                   --threads "$threads" "${resume[@]}" "$@" "${extra[@]}")
        if [ -n "$ED_SIGNALLED" ] || [ "$ED_CANCELLED" -eq 1 ]; then
            ed_log "stopped before the trainer started: not starting it"
            st=3
            break
        fi
        ed_log "running: ${cmd[*]}"
        ed_launch_and_wait "${cmd[@]}"
        st=$ED_STATUS
        if [ "$retries" -eq 0 ] || ! ed_recovery_next "$st" "$run_dir"; then break; fi
    done
    trap - USR1 TERM
    ED_LAST_SUMMARY=$(ed_summary)
    local how=""
    if [ "$ED_CANCELLED" -eq 1 ]; then how=" (after SIGTERM)"; elif [ -n "$ED_SIGNALLED" ]; then how=" (after SIG$ED_SIGNALLED)"; fi
    ed_log "trainer exited with status $st$how${ED_LAST_SUMMARY:+, final summary: $ED_LAST_SUMMARY}"
    ed_outcome "$st" "$run_dir" "$restarts"
}

# Maps the trainer's exit status and summary to the job's outcome (the function's return
# status is the batch script's): 0 with a final summary: done (COMPLETED); 3 after our
# USR1: requeue; 3 after SIGTERM: cancelled, not requeued; everything else: FAILED.
ed_outcome() { # STATUS RUN_DIR RESTARTS
    local st=$1 run_dir=$2 restarts=$3 summary
    summary=$(ed_summary)
    if [ "$ED_CANCELLED" -eq 1 ]; then
        if [ "$st" -eq 0 ] && { [ "$summary" = "done" ] || [ "$summary" = "early stopping" ]; }; then return 0; fi
        ed_log "cancelled: not requeueing; resume by hand with RESUME=auto RUN_DIR=$run_dir"
        [ "$st" -ne 0 ] || st=1
        return "$st"
    fi
    if [ "$st" -eq 0 ]; then
        case "$summary" in
            done|"early stopping") return 0 ;;
        esac
        # srun has returned 0 after a failed task launch: never call that a success.
        ed_err "the launcher returned 0 but the trainer printed no final summary ('done: N steps ...'): training did not complete (a failed launch?); failing the job"
        return 1
    fi
    # Status 3: the trainer checkpointed and stopped. Status > 128 after our signal: a rank
    # died of it because it arrived before the rank installed its handler, i.e. during
    # start-up, before any training; requeueing then loses nothing either.
    local requeue=0
    if [ -n "$ED_SIGNALLED" ] && [ "$st" -eq 3 ]; then
        requeue=1
    elif [ -n "$ED_SIGNALLED" ] && [ "$st" -gt 128 ]; then
        ed_log "the ranks were killed by the signal (still starting up?): treated as preempted"
        requeue=1
    elif [ "$st" -eq 3 ]; then
        ed_err "the ranks stopped on a signal that did not come through this script (only USR1 to the batch shell, --signal=B:USR1@..., requeues): not requeueing; resume with RESUME=auto RUN_DIR=$run_dir"
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

# Recovery mode, before the first launch: the nodes, ranks per node, and the srun
# arguments that place the ranks (all nodes but the spares).
ed_recovery_setup() {
    if [ "${ED_LAUNCH[0]}" != srun ]; then
        ed_err "ED_NODE_RETRIES/ED_SPARE_NODES need the srun launcher (srun --mpi=pmix), not ${ED_LAUNCH[0]}"
        return 2
    fi
    mapfile -t alive < <(ed_job_nodes)
    local n=${#alive[@]}
    per_node=${SLURM_NTASKS_PER_NODE:-}
    per_node=${per_node%%(*}
    if [ -z "$per_node" ] || [ "$per_node" -le 0 ] 2>/dev/null; then
        if [ "$n" -gt 0 ] && [ $((world0 % n)) -eq 0 ]; then per_node=$((world0 / n)); else per_node=0; fi
    fi
    if [ "$n" -le "$spares" ] || [ "$per_node" -le 0 ]; then
        ed_err "recovery mode needs --ntasks-per-node and more nodes ($n) than ED_SPARE_NODES ($spares)"
        return 2
    fi
    world0=$(((n - spares) * per_node))
    ed_place "$((n - spares))"
}

# Sets `place` (srun arguments) for the first M nodes of `alive`.
ed_place() { # M
    local m=$1
    placed=${alive[*]:0:$m}
    place=(--no-kill --nodes="$m" --ntasks=$((m * per_node)) --ntasks-per-node="$per_node" --nodelist="${placed// /,}")
}

# Recovery mode, after a launch ended with STATUS: returns 0 (with `place`, `extra` and
# `resume` set for the next launch) when the step failed because nodes died and a
# relaunch is allowed; 1 when the outcome stands.
ed_recovery_next() { # STATUS RUN_DIR
    local st=$1 run_dir=$2 dead
    # Done, preempted, cancelled: nothing to recover from.
    [ "$st" -ne 0 ] && [ "$st" -ne 3 ] && [ -z "$ED_SIGNALLED" ] && [ "$ED_CANCELLED" -eq 0 ] || return 1
    if [ -s "$ED_TMP/lost" ]; then
        dead=$(cat "$ED_TMP/lost")
    else
        # shellcheck disable=SC2086
        dead=$(ed_dead_nodes $placed)
    fi
    if [ -z "$dead" ]; then
        ed_log "the step failed (status $st) with every node answering: not a lost node, no relaunch"
        return 1
    fi
    if [ "$relaunches" -ge "$retries" ]; then
        ed_err "node(s) $dead lost, but the step was already relaunched $relaunches times (ED_NODE_RETRIES=$retries)"
        return 1
    fi
    local keep=() n
    for n in "${alive[@]}"; do [[ " $dead " == *" $n "* ]] || keep+=("$n"); done
    alive=("${keep[@]}")
    local want=$((world0 / per_node)) m
    m=$want
    [ "${#alive[@]}" -ge "$m" ] || m=${#alive[@]}
    if [ "$m" -eq 0 ]; then
        ed_err "node(s) $dead lost and no node left to relaunch on"
        return 1
    fi
    relaunches=$((relaunches + 1))
    ed_place "$m"
    # The failed step stays in slurmctld's books, holding its CPUs, until the lost node's
    # part of it is cleaned up (which may take until the node is back): let the new step
    # share those CPUs, which hold no process any more.
    place+=(--overlap)
    local world=$((m * per_node))
    # The global batch is batch x grad-accum x ranks: scale --grad-accum up by the ranks
    # lost, so the relaunch takes the optimizer steps the full run would have.
    [ -n "$accum0" ] || accum0=$(ed_run_grad_accum "$run_dir")
    extra=()
    if [ "$world" -ne "$world0" ]; then
        if [ -n "$accum0" ] && [ $((world0 * accum0 % world)) -eq 0 ]; then
            extra=(--grad-accum $((world0 * accum0 / world)))
        else
            ed_log "warning: $world0 ranks do not divide into $world: the global batch changes, and with it the steps per epoch"
        fi
    fi
    resume=(--resume auto)
    ed_log "restart $relaunches/$retries: node(s) $dead lost (the step ended with status $st);" \
           "relaunching $world ranks on ${alive[*]:0:$m} from the newest checkpoint in $run_dir${extra:+ with ${extra[*]}}"
    return 0
}
