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
# The daemons, their settings and why: scripts/lib/slurm-daemons.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/slurm-daemons.sh
. "$(dirname "$(readlink -f "$0")")/lib/slurm-daemons.sh"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

D=${ED_SLURM_DIR:-/tmp/ed-slurm}
TIMEOUT=${ED_SLURM_TIMEOUT:-60}
NODE=$(hostname -s)
CTLD_PORT=${ED_SLURM_CTLD_PORT:-6817}
D_PORT=${ED_SLURM_D_PORT:-$((CTLD_PORT + 1))}
export SLURM_CONF=$D/etc/slurm.conf

say() { echo "slurm-local: $*"; }
die() { echo "slurm-local: error: $*" >&2; exit 1; }

pid_of() { ed_daemon_pid "$D" "$1"; }

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
# Written by scripts/slurm-local.sh — a one-node private cluster; the settings are explained
# in scripts/lib/slurm-daemons.sh.
ClusterName=edlocal
SlurmctldHost=$NODE(127.0.0.1)
$(ed_slurm_conf_common "$D")
SlurmdSpoolDir=$D/spool/slurmd
SlurmdPidFile=$D/run/slurmd.pid
SlurmdLogFile=$D/log/slurmd.log
SlurmctldPort=$CTLD_PORT
SlurmdPort=$D_PORT
# Distinct job ids per port, so two local clusters on one machine (two build trees
# testing at once) never share the per-job temporary names of slurmd and PMIx.
FirstJobId=$(( (CTLD_PORT % 10000) * 1000 + 1 ))
TmpFS=$D/tmp
MpiDefault=$mpi
$plugin_line
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

# The first of our daemons that is not running, or nothing.
dead_daemon() {
    local n
    for n in munged slurmctld "slurmd.$NODE"; do
        [ -n "$(pid_of "$n")" ] || { echo "$n"; return 0; }
    done
}
all_alive() { [ -z "$(dead_daemon)" ]; }

wait_idle() { ed_slurm_wait_idle "$D" 1 "$TIMEOUT" all_alive || start_failed; }

# Dies with the reason the cluster did not come up: a dead daemon, else a node not idle.
start_failed() {
    local dead
    dead=$(dead_daemon)
    [ -z "$dead" ] || die "$dead exited during start-up (logs in $D/log)"
    die "node $NODE not idle after ${TIMEOUT}s (state: $(sinfo -h -n "$NODE" -o %T 2>/dev/null | head -n 1)); logs in $D/log"
}

cmd_start() {
    [ "$(id -u)" -eq 0 ] || die "start needs root (the daemons run as SlurmUser=root)"
    if all_alive; then
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
    write_config
    ed_slurm_start "$D" "$TIMEOUT" all_alive here "$NODE" || start_failed
    say "node $NODE idle; daemons: munged $(pid_of munged), slurmctld $(pid_of slurmctld), slurmd $(pid_of "slurmd.$NODE")"
    cmd_env
}

# Every daemon runs on this machine: no prefix (see ed_slurm_start).
here() { ED_RUN_ON=(); }

cmd_stop() {
    ed_slurm_stop "$D"
    if [ "${ED_SLURM_KEEP:-0}" = 1 ]; then
        say "stopped (kept $D)"
    else
        # Only delete what looks like our directory, never an arbitrary path.
        if [ -f "$D/etc/slurm.conf" ] && grep -q 'slurm-local.sh' "$D/etc/slurm.conf"; then rm -rf "$D"; fi
        say "stopped"
    fi
}

cmd_status() {
    local n rc=0
    for n in munged slurmctld "slurmd.$NODE"; do
        local p; p=$(pid_of "$n")
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
