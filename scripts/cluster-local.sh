#!/usr/bin/env bash
# cluster-local.sh — an emulated multi-node cluster on one Linux machine (root): one
# network namespace + hostname per node, joined by a Linux bridge, with an optional link
# speed, and Open MPI across the nodes without ssh. For trying multi-node runs on a
# laptop and for the ctest label "multinode". See docs/multinode.md.
#
#   scripts/cluster-local.sh start [--nodes N] [--link unlimited|10gbit|1gbit] [--node-cpus "L1 L2 ..."]
#   scripts/cluster-local.sh status
#   scripts/cluster-local.sh exec NODE CMD [ARGS...]      run a command "on" node NODE (n1..nN)
#   scripts/cluster-local.sh mpirun [--per-node K] [MPIRUN ARGS...] PROGRAM [ARGS...]
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
# `start` is idempotent: a running cluster with the same node count is kept (a different
# --link is applied in place); a different node count, or leftovers of an earlier run,
# are torn down first (by the names recorded in DIR/state, and processes by namespace).
#
# `mpirun` runs Open MPI's mpirun in the head namespace with --host nodes (K slots each,
# default 1 = --per-node), -n N*K unless you give -n, TCP between nodes restricted to NET
# and shared memory inside a node: rank r runs on node r / K + 1.
#
# Environment:
#   ED_CLUSTER_DIR    state directory (default /tmp/ed-cluster)
#   ED_CLUSTER_NAME   namespace prefix (default edc)
#   ED_CLUSTER_NET    first three octets of the private /24 (default 10.213.77)
set -euo pipefail

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
    local nodes=2 link=unlimited cpus=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --nodes) nodes=${2:?--nodes needs a number}; shift 2 ;;
            --nodes=*) nodes=${1#*=}; shift ;;
            --link) link=${2:?--link needs a value}; shift 2 ;;
            --link=*) link=${1#*=}; shift ;;
            --node-cpus) cpus=${2?--node-cpus needs a list}; shift 2 ;;
            --node-cpus=*) cpus=${1#*=}; shift ;;
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
        if [ $ok -eq 1 ]; then
            apply_link "$nodes" "$link"
            sed -i "s/^link=.*/link=$link/" "$STATE"
            say "already running: $nodes nodes, link $link (in $D)"
            return 0
        fi
    fi
    # Anything left from an earlier run (ours by the state file): remove it first.
    cmd_stop >/dev/null
    for ns in "$P-sw" "$P-head" $(seq -f "$P-n%g" 1 "$nodes"); do
        ns_exists "$ns" && die "namespace $ns exists but was not made by this script's state in $D: remove it or set ED_CLUSTER_NAME"
    done

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
    [ -n "$k" ] || die "exec: no node '$1' (nodes: n1..n$(state_get nodes))"
    shift
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
    if [ "${1:-}" = --per-node ]; then per=${2:?--per-node needs a number}; shift 2; fi
    case "$per" in ''|*[!0-9]*|0) die "--per-node must be a positive number" ;; esac
    n=$(state_get nodes)
    for a in "$@"; do case "$a" in -n|-np|--np|-n=*|--n) has_n=1 ;; esac; done
    for i in $(seq 1 "$n"); do hosts="$hosts${hosts:+,}$NET.$i:$per"; done
    local count=()
    [ $has_n -eq 1 ] || count=(-n $((n * per)))
    # shellcheck disable=SC2046
    exec ip netns exec "$(state_get prefix)-head" mpirun --host "$hosts" "${count[@]}" $(mca_args) "$@"
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
    return $rc
}

case "${1:-}" in
    start) shift; cmd_start "$@" ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    exec) shift; cmd_exec "$@" ;;
    mpirun) shift; cmd_mpirun "$@" ;;
    mca) mca_args ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
esac
