#!/usr/bin/env bash
# cluster-local.sh — an emulated multi-node cluster on one Linux machine (root): one
# network namespace + hostname per node, joined by a Linux bridge, with an optional link
# speed, and Open MPI across the nodes without ssh. For trying multi-node runs on a
# laptop and for the ctest label "multinode". See docs/multinode.md.
#
#   scripts/cluster-local.sh start [--nodes N] [--link unlimited|10gbit|1gbit] [--node-cpus "L1 L2 ..."] [--slurm]
#   scripts/cluster-local.sh status
#   scripts/cluster-local.sh exec NODE CMD [ARGS...]      run a command "on" node NODE (n1..nN, or head)
#   scripts/cluster-local.sh mpirun [--per-node K] [--nodes M] [MPIRUN ARGS...] PROGRAM [ARGS...]
#   scripts/cluster-local.sh slurm CMD [ARGS...]          a Slurm client command (sbatch, squeue,
#                                                        scontrol, ...) run on the head node
#   scripts/cluster-local.sh revive NODE                 start NODE's slurmd again after it was killed
#                                                        (a "lost node" back; Slurm returns it to service)
#   scripts/cluster-local.sh stop
#
# What `start` builds (and `stop` removes; nothing else is touched):
#   - network namespaces PREFIX-sw (a bridge "br0", the switch), PREFIX-head (where
#     mpirun and slurmctld run, address NET.254) and PREFIX-n1..nN (node K at NET.K);
#     each joined to the switch by a veth pair created inside the namespaces, so no
#     interface ever appears in the machine's own network namespace. NET is a private /24
#     that exists only inside these namespaces: nothing is routed to or from the host.
#   - per node, a hostname (nK, through a UTS namespace entered by `exec`), a node-local
#     directory DIR/nodes/nK/local that appears at DIR/local on that node only (a mount
#     namespace: like a node's own scratch disk), and optionally a CPU set (taskset).
#   - --link: a tbf qdisc on both ends of every node's veth, so each node's link carries
#     that rate in each direction (10gbit, 1gbit; unlimited = no qdisc). Latency (netem)
#     is not available in the kernels this was built on; see docs/multinode.md.
#   - DIR/agent: the "rsh agent" mpirun uses instead of ssh (it enters the node).
#   - --slurm: a Slurm cluster on these nodes: munged (its own key and socket in DIR/slurm,
#     shared by all nodes through the file system), slurmctld on the head (NET.254), one
#     slurmd per node inside that node's namespaces (NodeName nK, NodeAddr NET.K, spool,
#     PID and log per node via %n), each node advertising ED_CLUSTER_SLURM_CPUS CPUs
#     (default 4). Client commands need the head's network: `cluster-local.sh slurm sbatch ...`
#     (it exports SLURM_CONF). Daemons are recorded by PID and stopped by `stop`.
# `start` is idempotent: a running cluster with the same node count is kept (a different
# --link is applied in place); a different node count, or leftovers of an earlier run,
# are torn down first (by the names recorded in DIR/state, else by the names this script
# gives its namespaces, PREFIX-sw/-head/-nK; processes by namespace).
#
# `mpirun` runs Open MPI's mpirun in the head namespace with --host nodes n1..nM (all
# nodes unless --nodes M; K slots each, default 1 = --per-node), -n M*K unless you give -n, TCP between nodes restricted to NET
# and shared memory inside a node: rank r runs on node r / K + 1.
#
# Environment:
#   ED_CLUSTER_DIR    state directory (default /tmp/ed-cluster)
#   ED_CLUSTER_NAME   namespace prefix (default edc)
#   ED_CLUSTER_NET    first three octets of the private /24 (default 10.213.77)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/slurm-daemons.sh
. "$(dirname "$(readlink -f "$0")")/lib/slurm-daemons.sh"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

SELF=$(readlink -f "$0")
D=${ED_CLUSTER_DIR:-/tmp/ed-cluster}
P=${ED_CLUSTER_NAME:-edc}
NET=${ED_CLUSTER_NET:-10.213.77}
STATE=$D/state

say() { echo "cluster-local: $*"; }
die() { echo "cluster-local: error: $*" >&2; exit 1; }

ns_exists() { [ -e "/run/netns/$1" ]; }
# Reads a key of the state file (written by start).
state_get() { [ -f "$STATE" ] && sed -n "s/^$1=//p" "$STATE" | tail -n 1; return 0; }

link_args() { # rate -> tbf arguments; burst must hold a timer tick's worth of bytes
    case "$1" in
        10gbit) echo "rate 10gbit burst 4mb latency 20ms" ;;
        1gbit) echo "rate 1gbit burst 512kb latency 50ms" ;;
        *) die "--link must be unlimited, 10gbit or 1gbit (got '$1')" ;;
    esac
}

apply_link() { # nodes link
    local n=$1 link=$2 i
    for i in $(seq 1 "$n"); do
        ip -n "$P-n$i" link set eth0 up
        tc -n "$P-n$i" qdisc del dev eth0 root 2>/dev/null || true
        tc -n "$P-sw" qdisc del dev "n$i" root 2>/dev/null || true
        if [ "$link" != unlimited ]; then
            # shellcheck disable=SC2046
            tc -n "$P-n$i" qdisc add dev eth0 root tbf $(link_args "$link")
            # shellcheck disable=SC2046
            tc -n "$P-sw" qdisc add dev "n$i" root tbf $(link_args "$link")
        fi
    done
}

# Processes still inside one of our namespaces (a daemon, a stray rank): TERM, then KILL.
# They were started through this script (exec/mpirun/agent); the namespace is ours.
kill_ns_procs() { # ns...
    local ns pids=() p
    for ns in "$@"; do
        ns_exists "$ns" || continue
        for p in $(ip netns pids "$ns" 2>/dev/null); do pids+=("$p"); done
    done
    [ ${#pids[@]} -gt 0 ] || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 1 30); do
        local alive=0
        for p in "${pids[@]}"; do [ -d "/proc/$p" ] && alive=1; done
        [ $alive -eq 1 ] || return 0
        sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
}

our_namespaces() { # the namespaces the state file records
    local n
    n=$(state_get nodes)
    [ -n "$n" ] || return 0
    echo "$(state_get prefix)-head"
    for i in $(seq 1 "$n"); do echo "$(state_get prefix)-n$i"; done
    echo "$(state_get prefix)-sw"
}

cmd_stop() {
    local ns list
    slurm_stop
    list=$(our_namespaces)
    # shellcheck disable=SC2086
    [ -n "$list" ] && kill_ns_procs $list
    for ns in $list; do
        if ns_exists "$ns"; then ip netns delete "$ns"; fi
    done
    if [ -f "$STATE" ]; then rm -rf "$D"; fi
    say "stopped${list:+ (removed namespaces: $(echo $list))}"
}

write_agent() {
    cat >"$D/agent" <<EOF
#!/bin/sh
# Written by cluster-local.sh: Open MPI's rsh agent, called as \`agent HOST COMMAND...\`
# (like ssh). Runs COMMAND in HOST's namespaces instead of logging in somewhere.
host=\$1; shift
export ED_CLUSTER_DIR='$D' ED_CLUSTER_NAME='$P' ED_CLUSTER_NET='$NET'
exec '$SELF' exec "\$host" /bin/sh -c "\$*"
EOF
    chmod 755 "$D/agent"
}

cmd_start() {
    local nodes=2 link=unlimited cpus="" slurm=0
    while [ $# -gt 0 ]; do
        case "$1" in
            --nodes) nodes=${2:?--nodes needs a number}; shift 2 ;;
            --nodes=*) nodes=${1#*=}; shift ;;
            --link) link=${2:?--link needs a value}; shift 2 ;;
            --link=*) link=${1#*=}; shift ;;
            --node-cpus) cpus=${2?--node-cpus needs a list}; shift 2 ;;
            --node-cpus=*) cpus=${1#*=}; shift ;;
            --slurm) slurm=1; shift ;;
            *) die "start: unknown argument '$1' (see --help)" ;;
        esac
    done
    case "$nodes" in ''|*[!0-9]*) die "--nodes must be a number from 1 to 200 (got '$nodes')" ;; esac
    [ "$nodes" -ge 1 ] && [ "$nodes" -le 200 ] || die "--nodes must be from 1 to 200 (got $nodes)"
    [ "$link" = unlimited ] || link_args "$link" >/dev/null
    [ "$(id -u)" -eq 0 ] || die "start needs root (network namespaces)"
    command -v ip >/dev/null && command -v tc >/dev/null || die "needs iproute2 (ip, tc): apt-get install iproute2"
    command -v nsenter >/dev/null && command -v unshare >/dev/null || die "needs util-linux (nsenter, unshare)"
    case "$NET" in *[!0-9.]*|*.*.*.*) die "ED_CLUSTER_NET must be three octets like 10.213.77 (got '$NET')" ;; esac
    # shellcheck disable=SC2206
    local cpu_list=($cpus)
    [ ${#cpu_list[@]} -eq 0 ] || [ ${#cpu_list[@]} -eq "$nodes" ] ||
        die "--node-cpus needs one CPU list per node ($nodes), got ${#cpu_list[@]}"

    # Already running with this shape: keep it, apply the link, done.
    if [ "$(state_get nodes)" = "$nodes" ] && [ "$(state_get prefix)" = "$P" ] &&
       [ "$(state_get net)" = "$NET" ] && [ "$(state_get cpus)" = "$cpus" ] && [ "$(state_get complete)" = 1 ]; then
        local ok=1 ns
        for ns in $(our_namespaces); do ns_exists "$ns" || ok=0; done
        if [ $ok -eq 1 ] && [ "$slurm" = 1 ] && ! slurm_running; then slurm_start || ok=0; fi
        if [ $ok -eq 1 ]; then
            apply_link "$nodes" "$link"
            sed -i "s/^link=.*/link=$link/" "$STATE"
            say "already running: $nodes nodes, link $link (in $D)"
            return 0
        fi
    fi
    # Anything left from an earlier run (ours by the state file): remove it first.
    cmd_stop >/dev/null
    # Namespaces with our names but no state (its directory was removed, e.g. /tmp was
    # cleaned while a cluster ran): ours by name, so remove them and what runs in them.
    local left=()
    for ns in "$P-sw" "$P-head" $(ls /run/netns 2>/dev/null | grep -E "^$P-n[0-9]+\$" || true); do
        ns_exists "$ns" && left+=("$ns")
    done
    if [ ${#left[@]} -gt 0 ]; then
        say "removing namespaces left by an earlier run: ${left[*]}"
        kill_ns_procs "${left[@]}"
        for ns in "${left[@]}"; do ip netns delete "$ns"; done
    fi

    mkdir -p "$D"
    # The state is written before anything is made, so a failed start can still be stopped.
    printf 'prefix=%s\nnet=%s\nnodes=%s\nlink=%s\ncpus=%s\ncomplete=0\n' "$P" "$NET" "$nodes" "$link" "$cpus" >"$STATE"
    trap 'echo "cluster-local: start failed; tearing down" >&2; cmd_stop >&2' ERR
    ip netns add "$P-sw"
    ip -n "$P-sw" link set lo up
    ip -n "$P-sw" link add br0 type bridge
    ip -n "$P-sw" link set br0 up
    local i name
    for i in $(seq 0 "$nodes"); do
        if [ "$i" -eq 0 ]; then name=head; else name=n$i; fi
        ip netns add "$P-$name"
        ip -n "$P-$name" link set lo up
        # Both ends are created inside our namespaces: eth0 in the node, nK/head in the switch.
        ip -n "$P-$name" link add eth0 type veth peer name "$name" netns "$P-sw"
        ip -n "$P-sw" link set "$name" master br0
        ip -n "$P-sw" link set "$name" up
        if [ "$i" -eq 0 ]; then
            ip -n "$P-$name" addr add "$NET.254/24" dev eth0
        else
            ip -n "$P-$name" addr add "$NET.$i/24" dev eth0
            mkdir -p "$D/nodes/$name/local"
        fi
        ip -n "$P-$name" link set eth0 up
    done
    mkdir -p "$D/local"
    apply_link "$nodes" "$link"
    write_agent
    sed -i "s/^complete=.*/complete=1/" "$STATE"
    trap - ERR
    if [ "$slurm" = 1 ] && ! slurm_start; then
        cmd_stop >&2
        die "Slurm did not start on the cluster (its logs are printed above)"
    fi
    say "started $nodes nodes in $D: switch $P-sw (bridge br0), head $P-head ($NET.254)"
    for i in $(seq 1 "$nodes"); do
        say "  node n$i: namespace $P-n$i, address $NET.$i, local dir $D/nodes/n$i/local (at $D/local there)${cpu_list[$((i - 1))]:+, CPUs ${cpu_list[$((i - 1))]}}"
    done
    say "link: $link; try: $0 mpirun --per-node 2 hostname"
}

need_running() {
    [ "$(state_get complete)" = 1 ] || die "no cluster running in $D (start it first: $0 start --nodes N)"
}

node_index() { # NODE name or address -> K, or nothing
    local h=$1 n
    n=$(state_get nodes)
    case "$h" in
        head|"$NET.254") echo 0; return 0 ;;
        n[0-9]*) h=${h#n} ;;
        "$NET".*) h=${h#"$NET".} ;;
        *) return 0 ;;
    esac
    case "$h" in ''|*[!0-9]*) return 0 ;; esac
    [ "$h" -ge 1 ] && [ "$h" -le "$n" ] && echo "$h"
    return 0
}

# exec NODE CMD...: the command runs in node K's network namespace, with hostname nK
# (its own UTS namespace) and DIR/local bound to the node's own directory (its own mount
# namespace), and on the node's CPUs if --node-cpus gave some.
cmd_exec() {
    need_running
    [ $# -ge 2 ] || die "usage: exec NODE CMD [ARGS...]"
    local k; k=$(node_index "$1")
    [ -n "$k" ] || die "exec: no node '$1' (nodes: head, n1..n$(state_get nodes))"
    shift
    if [ "$k" = 0 ]; then
        exec nsenter --net="/run/netns/$(state_get prefix)-head" unshare --uts \
            /bin/sh -c 'hostname head && exec "$@"' sh "$@"
    fi
    local cpus; cpus=$(state_get cpus | awk -v k="$k" '{print $k}')
    local pin=()
    [ -z "$cpus" ] || pin=(taskset -c "$cpus")
    exec nsenter --net="/run/netns/$(state_get prefix)-n$k" unshare --uts --mount --propagation private \
        /bin/sh -c 'hostname "$1" && mount --bind "$2" "$3" && shift 3 && exec "$@"' sh \
        "n$k" "$D/nodes/n$k/local" "$D/local" "${pin[@]}" "$@"
}

# The --mca settings that make Open MPI use our network: TCP between nodes only on NET
# (the nodes have no other interface but lo), shared memory inside a node.
mca_args() {
    echo --mca plm_rsh_agent "$D/agent" --mca plm_rsh_no_tree_spawn 1 \
        --mca btl tcp,vader,self --mca btl_tcp_if_include "$NET.0/24" --mca oob_tcp_if_include "$NET.0/24"
}

cmd_mpirun() {
    need_running
    local per=1 n has_n=0 hosts="" a
    n=$(state_get nodes)
    while :; do
        case "${1:-}" in
            --per-node) per=${2:?--per-node needs a number}; shift 2 ;;
            --nodes) a=${2:?--nodes needs a number}; shift 2
                case "$a" in ''|*[!0-9]*|0) die "mpirun --nodes must be a positive number" ;; esac
                [ "$a" -le "$n" ] || die "mpirun --nodes $a: the cluster has $n nodes"
                n=$a ;;
            *) break ;;
        esac
    done
    case "$per" in ''|*[!0-9]*|0) die "--per-node must be a positive number" ;; esac
    for a in "$@"; do case "$a" in -n|-np|--np|-n=*|--n) has_n=1 ;; esac; done
    for i in $(seq 1 "$n"); do hosts="$hosts${hosts:+,}$NET.$i:$per"; done
    local count=()
    [ $has_n -eq 1 ] || count=(-n $((n * per)))
    # shellcheck disable=SC2046
    exec ip netns exec "$(state_get prefix)-head" mpirun --host "$hosts" "${count[@]}" $(mca_args) "$@"
}

# ---- Slurm on the emulated nodes ----------------------------------------------------------
S=$D/slurm
export SLURM_CONF=$S/etc/slurm.conf

slurm_pid() { ed_daemon_pid "$S" "$1"; }

slurm_running() {
    local i
    [ -n "$(slurm_pid munged)" ] && [ -n "$(slurm_pid slurmctld)" ] || return 1
    for i in $(seq 1 "$(state_get nodes)"); do [ -n "$(slurm_pid "slurmd.n$i")" ] || return 1; done
}

slurm_write_config() {
    local n i cpus=${ED_CLUSTER_SLURM_CPUS:-4}
    n=$(state_get nodes)
    {
        cat <<EOF
# Written by cluster-local.sh: Slurm on the emulated nodes. See scripts/lib/slurm-daemons.sh
# for why each unusual setting; here each node is a network namespace with its own address.
ClusterName=edcluster
SlurmctldHost=head($NET.254)
$(ed_slurm_conf_common "$S")
SlurmdSpoolDir=$S/spool/%n
SlurmdPidFile=$S/run/slurmd.%n.pid
SlurmdLogFile=$S/log/slurmd.%n.log
# The node-local directory (each node sees its own at DIR/local): PMIx's per-step
# directories have the same names on every node and must not meet on a shared disk.
TmpFS=$D/local/tmp
MpiDefault=pmix
# A node whose slurmd stops answering is DOWN after 10 s instead of 300 (the default):
# the node-loss tests (recovery inside the allocation, docs/slurm.md) wait for that.
SlurmdTimeout=10
EOF
        for i in $(seq 1 "$n"); do echo "NodeName=n$i NodeAddr=$NET.$i CPUs=$cpus RealMemory=1000 State=UNKNOWN"; done
        echo "PartitionName=debug Nodes=n[1-$n] Default=YES MaxTime=INFINITE State=UP"
    } >"$SLURM_CONF"
}

slurm_start() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null ||
        die "--slurm needs slurm-wlm and munge (scripts/setup.sh installs them)"
    slurm_stop
    local n i
    n=$(state_get nodes)
    rm -rf "$S"
    mkdir -p "$S"/{etc,state,run,log,munge,tmp}
    # A fresh Slurm numbers its jobs from 1 again: per-step directories that a killed job
    # left in a node's TmpFS would collide with the new job 1's (its task launch fails on
    # that node with "Unspecified error"), so each node's TmpFS starts empty.
    for i in $(seq 1 "$n"); do
        rm -rf "$D/nodes/n$i/local/tmp"
        mkdir -p "$S/spool/n$i" "$D/nodes/n$i/local/tmp"
    done
    slurm_write_config
    # munged needs no network: one instance, its socket reached by path from every node.
    # shellcheck disable=SC2046
    ed_slurm_start "$S" 60 true on_node $(seq -f 'n%g' 1 "$n") || return 1
    say "slurm: munged, slurmctld on head ($NET.254), slurmd on n1..n$n, all idle; e.g. $0 slurm sinfo"
}

slurm_stop() { ed_slurm_stop "$S" "$SELF" exec head; }

# The command prefix that runs a program on head or node nK (see ed_slurm_start).
on_node() { ED_RUN_ON=("$SELF" exec "$1"); }

cmd_slurm() {
    need_running
    [ -f "$SLURM_CONF" ] || die "no Slurm on this cluster (start it with: $0 start --slurm ...)"
    [ $# -ge 1 ] || die "usage: slurm CMD [ARGS...]   (sbatch, squeue, scontrol, sinfo, scancel, srun)"
    exec "$SELF" exec head "$@"
}

# revive NODE: the node's slurmd again (after a test killed it with everything on the node);
# ReturnToService=2 lets slurmctld take the node back as soon as it registers.
cmd_revive() {
    need_running
    [ $# -eq 1 ] || die "usage: revive NODE"
    local k; k=$(node_index "$1")
    [ -n "$k" ] && [ "$k" != 0 ] || die "revive: no node '$1' (nodes: n1..n$(state_get nodes))"
    [ -f "$SLURM_CONF" ] || die "no Slurm on this cluster"
    [ -z "$(slurm_pid "slurmd.n$k")" ] || { say "slurmd on n$k is running"; return 0; }
    ed_daemon_spawn "$S" "slurmd.n$k" "$S/log/slurmd.n$k.out" "$SELF" exec "n$k" slurmd -D -N "n$k"
    ed_slurm_wait_idle "$S" "$(state_get nodes)" 60 true "$SELF" exec head || die "n$k did not come back (logs above)"
    say "slurmd on n$k started again; all nodes idle"
}

cmd_status() {
    if [ "$(state_get complete)" != 1 ]; then echo "no cluster running in $D"; return 1; fi
    local n i rc=0
    n=$(state_get nodes)
    echo "cluster in $D: $n nodes, link $(state_get link), net $(state_get net).0/24, prefix $(state_get prefix)"
    for ns in $(our_namespaces); do
        if ns_exists "$ns"; then
            echo "  $ns: $(ip -n "$ns" -4 -o addr show dev eth0 2>/dev/null | awk '{print $4}')$(ip -n "$ns" -br link show br0 >/dev/null 2>&1 && echo bridge br0) $(ip netns pids "$ns" | wc -l) processes"
        else
            echo "  $ns: MISSING"; rc=1
        fi
    done
    for i in $(seq 1 "$n"); do
        tc -n "$(state_get prefix)-n$i" qdisc show dev eth0 2>/dev/null | grep -q tbf &&
            echo "  n$i: $(tc -n "$(state_get prefix)-n$i" qdisc show dev eth0 | grep -o 'rate [^ ]*')"
    done
    if [ -f "$SLURM_CONF" ]; then
        echo "  slurm: slurmctld $(slurm_pid slurmctld), slurmd$(for i in $(seq 1 "$n"); do printf ' %s' "$(slurm_pid "slurmd.n$i")"; done), munged $(slurm_pid munged)"
        "$SELF" exec head sinfo -N 2>/dev/null | sed 's/^/  /' || rc=1
    fi
    return $rc
}

case "${1:-}" in
    start) shift; cmd_start "$@" ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    exec) shift; cmd_exec "$@" ;;
    revive) shift; cmd_revive "$@" ;;
    mpirun) shift; cmd_mpirun "$@" ;;
    slurm) shift; cmd_slurm "$@" ;;
    mca) mca_args ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
esac
