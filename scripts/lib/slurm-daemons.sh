# shellcheck shell=bash
# slurm-daemons.sh — the private Slurm cluster both local clusters start: munged,
# slurmctld and slurmd as root in a directory of their own. Sourced (bash) by
# scripts/slurm-local.sh (one node, this machine) and scripts/cluster-local.sh (one
# slurmd per emulated node); each keeps what differs (node lines, ports, how a command
# reaches the head or a node) and calls these for what is the same: ed_slurm_start and
# ed_slurm_stop, and the pieces they are made of.
#
# A cluster directory DIR holds run/ (NAME.bgpid: the PIDs we started), log/, munge/
# (key, socket, munged's own files) and state/. Every function takes DIR first.
#
# Why each unusual setting (Slurm 22.05 / Debian 12, no systemd):
#   - munged gets its own socket/key/log/pid/seed paths: as root it refuses the
#     packaged /var/log/munge ("insecure ownership"), and a private key keeps this
#     cluster from talking to any other munge on the machine.
#   - Every client command needs SLURM_CONF, else srun tries a DNS SRV lookup and fails.
#   - AuthInfo cred_expire=10 and sched_interval=2: a requeued job waits cred_expire
#     seconds before it may start again (default 120), then for the next scheduling
#     pass (default every 60 s); together ~12 s instead of up to 3 minutes.
#   - SlurmdParameters=config_overrides: otherwise a node advertising more CPUs than it
#     has is drained ("Low CPUs").
#   - MinJobAge=3600: there is no accounting daemon (sacct), so finished jobs must stay
#     visible to `scontrol show job` for the tests to read their state and exit code.

# The PID recorded for NAME if that process still runs the program we started (PIDs are
# recycled; never signal a stranger). The program is NAME up to its first dot, so one
# program may run under several names (slurmd.n1, slurmd.n2).
ed_daemon_pid() { # DIR NAME -> prints the live pid or nothing
    local f=$1/run/$2.bgpid pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "${2%%.*}" ] && echo "$pid"
    return 0
}

# Starts CMD in its own session with no terminal and its output in LOG, and records its
# PID as NAME: the daemons must outlive the calling script (and a ctest fixture) without
# holding the caller's stdout open. CMD may exec through nsenter/unshare/sh into the
# daemon; until it has, /proc shows another name and ed_daemon_pid would take it for
# dead: wait for the exec (or for the child to die, which the callers report).
ed_daemon_spawn() { # DIR NAME LOG CMD...
    local dir=$1 name=$2 log=$3 pid
    shift 3
    setsid "$@" </dev/null >>"$log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/run/$name.bgpid"
    for _ in $(seq 1 250); do
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "${name%%.*}" ] && return 0
        [ -d "/proc/$pid" ] || return 0
        sleep 0.02
    done
}

# TERM to each PID, wait up to 5 s for all of them, then KILL whatever is left.
ed_stop_pids() { # PID...
    local pid alive pids=()
    for pid in "$@"; do
        if kill -TERM "$pid" 2>/dev/null; then pids+=("$pid"); fi
    done
    [ ${#pids[@]} -gt 0 ] || return 0
    for _ in $(seq 1 50); do
        alive=0
        for pid in "${pids[@]}"; do if [ -d "/proc/$pid" ]; then alive=1; fi; done
        [ "$alive" -eq 1 ] || return 0
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

# A fresh private key, then munged on DIR/munge/munge.socket.2. Returns 1 (its logs on
# stderr) when munged dies or its socket is not there after TIMEOUT seconds.
ed_munge_start() { # DIR TIMEOUT
    local dir=$1 timeout=$2 t0=$SECONDS
    # munged checks that its directories are not writable by others, and wants its key
    # 0400, owned by its user.
    chmod 755 "$dir" "$dir/munge"
    head -c 1024 /dev/urandom >"$dir/munge/munge.key"
    chmod 400 "$dir/munge/munge.key"
    ed_daemon_spawn "$dir" munged "$dir/log/munged.out" munged --foreground --socket="$dir/munge/munge.socket.2" \
        --key-file="$dir/munge/munge.key" --log-file="$dir/munge/munged.log" \
        --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed"
    until [ -S "$dir/munge/munge.socket.2" ]; do
        if [ -z "$(ed_daemon_pid "$dir" munged)" ] || [ $((SECONDS - t0)) -ge "$timeout" ]; then
            cat "$dir/log/munged.out" "$dir/munge/munged.log" >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.1
    done
}

# The slurm.conf lines both clusters share (see the top of this file for why); the
# caller adds the host, the slurmd paths, TmpFS, MpiDefault and the node lines.
ed_slurm_conf_common() { # DIR
    cat <<EOF
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$1/munge/munge.socket.2,cred_expire=10
StateSaveLocation=$1/state
SlurmctldPidFile=$1/run/slurmctld.pid
SlurmctldLogFile=$1/log/slurmctld.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmdParameters=config_overrides
MailProg=/bin/true
MinJobAge=3600
SchedulerParameters=sched_interval=2
EOF
}

# Waits until N nodes are idle, resuming any that an earlier state left drained or down.
# Every pass calls ALIVE (a function name; it returns non-zero when a daemon has died).
# Returns 1 (the last log lines of DIR on stderr) on a dead daemon or after TIMEOUT
# seconds. Client commands run as CLIENT... sinfo (CLIENT may be empty: this machine).
ed_slurm_wait_idle() { # DIR N TIMEOUT ALIVE CLIENT...
    local dir=$1 n=$2 timeout=$3 alive=$4 t0=$SECONDS nodes node
    shift 4
    while :; do
        nodes=$("$@" sinfo -h -N -o '%N %T' 2>/dev/null || true)
        [ "$(awk '$2 == "idle"' <<<"$nodes" | wc -l)" -ge "$n" ] && return 0
        for node in $(awk '$2 ~ /^(drain|down)/ {print $1}' <<<"$nodes"); do
            "$@" scontrol update NodeName="$node" State=RESUME >/dev/null 2>&1 || true
        done
        if ! "$alive" || [ $((SECONDS - t0)) -ge "$timeout" ]; then
            tail -n 20 "$dir"/log/* "$dir/munge/munged.log" >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.2
    done
}

# Cancels every job, then waits up to 10 s for them to leave the running and completing
# states, so that the step daemons kill their process trees (ranks, mpirun) while slurmd
# is still there to do it. CLIENT as in ed_slurm_wait_idle.
ed_slurm_cancel_all() { # CLIENT...
    local jobs
    jobs=$("$@" squeue -h -o %i 2>/dev/null || true)
    [ -n "$jobs" ] || return 0
    # shellcheck disable=SC2086
    "$@" scancel --full $jobs >/dev/null 2>&1 || true
    for _ in $(seq 1 100); do
        [ -z "$("$@" squeue -h -t running,completing -o %i 2>/dev/null)" ] && break
        sleep 0.1
    done
}

# Starts the cluster whose slurm.conf the caller has written to DIR/etc: munged, then
# slurmctld, then one slurmd per NODE (recorded as slurmd.NODE), and waits up to TIMEOUT
# seconds until every node is idle. WRAP is the name of a function the caller defines:
# `WRAP WHERE` (WHERE is `head` or a NODE) sets the array ED_RUN_ON to the command
# prefix that runs a program there (empty on this machine; `cluster-local.sh exec nK` on
# an emulated node). ALIVE as in ed_slurm_wait_idle. Returns 1 when a daemon fails.
ed_slurm_start() { # DIR TIMEOUT ALIVE WRAP NODE...
    local dir=$1 timeout=$2 alive=$3 wrap=$4 node
    shift 4
    ed_munge_start "$dir" "$timeout" || return 1
    "$wrap" head
    ed_daemon_spawn "$dir" slurmctld "$dir/log/slurmctld.out" "${ED_RUN_ON[@]}" slurmctld -D
    for node in "$@"; do
        "$wrap" "$node"
        ed_daemon_spawn "$dir" "slurmd.$node" "$dir/log/slurmd.$node.out" "${ED_RUN_ON[@]}" slurmd -D -N "$node"
    done
    "$wrap" head
    ed_slurm_wait_idle "$dir" $# "$timeout" "$alive" "${ED_RUN_ON[@]}"
}

# Stops the cluster of DIR: its jobs first (through CLIENT..., as in ed_slurm_wait_idle),
# while the slurmds are there to kill their processes; then every Slurm daemon recorded in
# DIR/run; then munged, which their shutdown authenticates through; then the step daemons
# (slurmstepd) that a killed slurmd left running, found by the SLURM_CONF they inherited.
ed_slurm_stop() { # DIR CLIENT...
    local dir=$1 f name pid pids=()
    shift
    [ -d "$dir/run" ] || return 0
    if [ -n "$(ed_daemon_pid "$dir" slurmctld)" ]; then ed_slurm_cancel_all "$@"; fi
    for f in "$dir"/run/*.bgpid; do
        [ -f "$f" ] || continue
        name=$(basename "$f" .bgpid)
        [ "$name" != munged ] || continue
        pid=$(ed_daemon_pid "$dir" "$name")
        [ -z "$pid" ] || pids+=("$pid")
    done
    ed_stop_pids "${pids[@]}"
    pid=$(ed_daemon_pid "$dir" munged)
    [ -z "$pid" ] || ed_stop_pids "$pid"
    for pid in $(pgrep -x slurmstepd 2>/dev/null || true); do
        if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$dir/etc/slurm.conf"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    rm -f "$dir"/run/*.bgpid
}
