#!/usr/bin/env bash
# slurm-local.sh — a real one-machine Slurm cluster (munged + slurmctld + slurmd) in a
# private directory, for trying the batch scripts in slurm/ and for the ctest label
# "slurm". Needs root (the daemons run as root; packages come from apt when missing).
#
#   scripts/slurm-local.sh start    install if needed, write the config, start, wait idle
#   scripts/slurm-local.sh status   daemons, node state, queue
#   scripts/slurm-local.sh stop     stop the daemons (by recorded PID) and delete the dir
#   scripts/slurm-local.sh env      print the `export SLURM_CONF=...` line
#
# Environment:
#   ED_SLURM_DIR       private directory (default /tmp/ed-slurm): config, state, logs, PIDs
#   ED_SLURM_CPUS      CPUs the node advertises (default: max(8, nproc)); more than the
#                      cores is fine for tests, Slurm is told to trust the config
#   ED_SLURM_TIMEOUT   seconds to wait for the node to become idle (default 60)
#   ED_SLURM_KEEP=1    `stop` keeps the directory (logs) instead of deleting it
#   ED_SLURM_PMIX=0    a cluster whose Slurm has no PMIx plugin, like some sites have
#                      (its plugin directory leaves mpi_pmix out): srun cannot start
#                      Open MPI ranks there, and the batch scripts must fall back to mpirun
#   ED_SLURM_CTLD_PORT TCP port of slurmctld (default 6817); slurmd uses the next one
#                      (ED_SLURM_D_PORT). Two clusters on one machine need two ports
#                      and two directories.
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
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

D=${ED_SLURM_DIR:-/tmp/ed-slurm}
TIMEOUT=${ED_SLURM_TIMEOUT:-60}
NODE=$(hostname -s)
CTLD_PORT=${ED_SLURM_CTLD_PORT:-6817}
D_PORT=${ED_SLURM_D_PORT:-$((CTLD_PORT + 1))}
export SLURM_CONF=$D/etc/slurm.conf

say() { echo "slurm-local: $*"; }
die() { echo "slurm-local: error: $*" >&2; exit 1; }

# A recorded PID counts only if that process still runs the program we started
# (PIDs are recycled; never signal a stranger).
pid_of() { # name -> prints the live pid or nothing
    local f=$D/run/$1.bgpid pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$1" ] && echo "$pid"
    return 0
}

install_if_missing() {
    local need=()
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null || need+=(slurm-wlm)
    command -v munged >/dev/null || need+=(munge)
    [ ${#need[@]} -eq 0 ] && return 0
    say "installing ${need[*]} from apt"
    # Without an init system the packages cannot start their own services (harmless):
    # this script starts its daemons itself, with its own configuration.
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; } ||
        die "could not install ${need[*]} with apt-get; install them and run start again"
}

# The directory of the installed Slurm plugins.
system_plugin_dir() {
    local f
    f=$(dpkg -L slurm-wlm-basic-plugins 2>/dev/null | grep '/select_cons_tres\.so$' | head -n 1)
    if [ -z "$f" ]; then
        for f in /usr/lib/*/slurm-wlm/select_cons_tres.so /usr/lib*/slurm/select_cons_tres.so ""; do
            [ -e "$f" ] && break
        done
    fi
    [ -n "$f" ] || die "cannot find Slurm's plugin directory (select_cons_tres.so)"
    dirname "$f"
}

write_config() {
    local cpus=${ED_SLURM_CPUS:-} mpi=pmix plugin_line=""
    if [ -z "$cpus" ]; then cpus=$(nproc); [ "$cpus" -lt 8 ] && cpus=8; fi
    if [ "${ED_SLURM_PMIX:-1}" = 0 ]; then
        mkdir -p "$D/plugins"
        local f
        for f in "$(system_plugin_dir)"/*.so; do
            case "${f##*/}" in mpi_pmix*) ;; *) ln -sf "$f" "$D/plugins/" ;; esac
        done
        mpi=none
        plugin_line="PluginDir=$D/plugins"
    fi
    cat >"$SLURM_CONF" <<EOF
# Written by scripts/slurm-local.sh — a one-node private cluster; see the comments there.
ClusterName=edlocal
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge/munge.socket.2,cred_expire=10
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool/slurmd
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldPort=$CTLD_PORT
SlurmdPort=$D_PORT
# Distinct job ids per port, so two local clusters on one machine (two build trees
# testing at once) never share the per-job temporary names of slurmd and PMIx.
FirstJobId=$(( (CTLD_PORT % 10000) * 1000 + 1 ))
TmpFS=$D/tmp
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=$mpi
$plugin_line
ReturnToService=2
SlurmdParameters=config_overrides
MailProg=/bin/true
MinJobAge=3600
SchedulerParameters=sched_interval=2
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

# Starts "$@" in its own session with no terminal and its output in a log, and records
# its PID: the daemons must outlive this script (and a ctest fixture) without holding
# the caller's stdout open.
spawn() { # name logfile cmd...
    local name=$1 log=$2 pid; shift 2
    setsid "$@" </dev/null >>"$log" 2>&1 &
    pid=$!
    echo "$pid" >"$D/run/$name.bgpid"
    # Until the child has exec'd the daemon, /proc shows another name and pid_of would
    # take it for dead: wait for the exec (or for the child to die, which the callers report).
    for _ in $(seq 1 250); do
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] && return 0
        [ -d "/proc/$pid" ] || return 0
        sleep 0.02
    done
}

node_state() { sinfo -h -n "$NODE" -o %T 2>/dev/null | head -n 1; }

wait_idle() {
    local t0=$SECONDS st=""
    while [ $((SECONDS - t0)) -lt "$TIMEOUT" ]; do
        st=$(node_state || true)
        case "$st" in
            idle) return 0 ;;
            drain*|down*) scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true ;;
        esac
        for n in munged slurmctld slurmd; do
            [ -n "$(pid_of $n)" ] || { tail -n 20 "$D/log/"*.log "$D/log/"*.out "$D/munge/munged.log" 2>/dev/null >&2 || true; die "$n exited during start-up (logs in $D/log)"; }
        done
        sleep 0.2
    done
    tail -n 20 "$D/log/"*.log 2>/dev/null >&2 || true
    die "node $NODE not idle after ${TIMEOUT}s (state: ${st:-unknown}); logs in $D/log"
}

cmd_start() {
    [ "$(id -u)" -eq 0 ] || die "start needs root (the daemons run as SlurmUser=root)"
    if [ -n "$(pid_of slurmctld)" ] && [ -n "$(pid_of slurmd)" ] && [ -n "$(pid_of munged)" ]; then
        say "already running in $D"
        wait_idle
        cmd_env
        return 0
    fi
    # A half-dead cluster from an earlier run: stop what is left and start clean,
    # so no stale state (a drained node, old jobs) leaks into this one.
    [ -d "$D" ] && ED_SLURM_KEEP=0 cmd_stop >/dev/null
    install_if_missing
    mkdir -p "$D"/{etc,state,spool/slurmd,run,log,munge,tmp}
    # munged checks that its directories are not writable by others.
    chmod 755 "$D" "$D/munge"
    # A private key for a private cluster (munged wants 0400, owned by its user).
    head -c 1024 /dev/urandom >"$D/munge/munge.key"
    chmod 400 "$D/munge/munge.key"
    write_config
    spawn munged "$D/log/munged.out" munged --foreground --socket="$D/munge/munge.socket.2" \
        --key-file="$D/munge/munge.key" --log-file="$D/munge/munged.log" \
        --pid-file="$D/munge/munged.pid" --seed-file="$D/munge/munged.seed"
    local t0=$SECONDS
    until [ -S "$D/munge/munge.socket.2" ]; do
        [ -n "$(pid_of munged)" ] || { cat "$D/log/munged.out" "$D/munge/munged.log" >&2 2>/dev/null || true; die "munged failed to start"; }
        [ $((SECONDS - t0)) -lt "$TIMEOUT" ] || die "munged socket did not appear"
        sleep 0.1
    done
    spawn slurmctld "$D/log/slurmctld.out" slurmctld -D
    spawn slurmd "$D/log/slurmd.out" slurmd -D -N "$NODE"
    wait_idle
    say "node $NODE idle; daemons: munged $(pid_of munged), slurmctld $(pid_of slurmctld), slurmd $(pid_of slurmd)"
    cmd_env
}

# TERM to each named daemon (if it is ours and alive), then wait for all of them;
# KILL whatever is still there after 5 s.
stop_daemons() { # name...
    local n pid alive pids=()
    for n in "$@"; do
        pid=$(pid_of "$n")
        if [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; then pids+=("$pid"); fi
    done
    for _ in $(seq 1 50); do
        alive=0
        for pid in "${pids[@]}"; do if [ -d "/proc/$pid" ]; then alive=1; fi; done
        [ "$alive" -eq 1 ] || return 0
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

cmd_stop() {
    # Cancel jobs first so slurmd's step daemons kill their process trees (ranks, mpirun)
    # while the daemons are still there to do it.
    if [ -n "$(pid_of slurmctld)" ] && [ -n "$(squeue -h -o %i 2>/dev/null)" ]; then
        squeue -h -o %i | xargs -r scancel --full >/dev/null 2>&1 || true
        for _ in $(seq 1 100); do
            [ -z "$(squeue -h -t running,completing -o %i 2>/dev/null)" ] && break
            sleep 0.1
        done
    fi
    # The Slurm daemons first, then the authentication both of them use to shut down.
    stop_daemons slurmd slurmctld
    stop_daemons munged
    # Job processes left behind by a killed slurmd (slurmstepd) would keep running.
    local p
    for p in $(pgrep -x slurmstepd 2>/dev/null || true); do
        if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$SLURM_CONF"; then
            kill -KILL "$p" 2>/dev/null || true
        fi
    done
    if [ "${ED_SLURM_KEEP:-0}" = 1 ]; then
        rm -f "$D"/run/*.bgpid
        say "stopped (kept $D)"
    else
        # Only delete what looks like our directory, never an arbitrary path.
        if [ -f "$D/etc/slurm.conf" ] && grep -q 'slurm-local.sh' "$D/etc/slurm.conf"; then rm -rf "$D"; fi
        say "stopped"
    fi
}

cmd_status() {
    local n rc=0
    for n in munged slurmctld slurmd; do
        local p; p=$(pid_of $n)
        if [ -n "$p" ]; then echo "$n: running (pid $p)"; else echo "$n: not running"; rc=1; fi
    done
    if [ $rc -eq 0 ]; then
        sinfo || rc=1
        squeue || rc=1
    fi
    return $rc
}

cmd_env() { echo "export SLURM_CONF=$SLURM_CONF"; }

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
esac
