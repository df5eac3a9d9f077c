#!/usr/bin/env bash
# bench_multinode.sh — data-parallel training across emulated nodes (scripts/cluster-local.sh,
# needs root): tokens/s and the share of the step spent waiting on the gradient exchange
# for 1, 2 and 4 nodes (1 rank x 1 thread per node) at link speeds unlimited, 10gbit and
# 1gbit, for the small and seed presets, and --grad-comm bf16 against fp32 on the slow
# link. Prints one Markdown table (and the CPU, ISA path, GEMM backend, load).
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: sudo scripts/bench_multinode.sh [options] [-- extra expert-dist flags]

  | preset | nodes | link | grad-comm | tokens/s | step s | comm wait | speedup vs 1 node |

then the gradient exchange alone (tests/bench/bench_comm.c) per link, node count and mode.

Options:
  --exe PATH          the binary (default build/expert-dist)
  --nodes "1 2 4"     node counts (default "1 2 4"; the cluster gets the largest)
  --links "unlimited 10gbit 1gbit"
  --presets "small seed"
  --bf16-links "1gbit"  links on which --grad-comm bf16 is measured too ("" = none)
  --steps N           optimizer steps per run (default 4; the first is warm-up and not timed)
  --out DIR           keep the per-run logs here (default: a temp dir, removed)
  --comm-only         only the second table (the gradient exchange alone)
  -h, --help          this text

Per rank and step: small = 4 windows of 255 targets, seed = 1 window of 511 (so a seed run
stays affordable on a small machine); the global batch grows with the nodes (weak
scaling), so the ideal is tokens/s x nodes. "comm wait" is the trainer's own figure: the
share of step time blocked in the gradient buckets and the scalar allreduce after
backward (overlap hides the rest). When ranks exceed cores they also wait for each other's
compute, which this figure then includes: the table says so.
The cluster (namespaces edb-*, /tmp/ed-bench-cluster, 10.213.99.0/24) is stopped at exit.
USAGE
}

here="$(cd "$(dirname "$0")/.." && pwd)"
exe="$here/build/expert-dist"
nodes_list="1 2 4"
links="unlimited 10gbit 1gbit"
presets="small seed"
bf16_links="1gbit"
steps=4
comm_only=0
out=""
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --exe) exe="$2"; shift 2 ;;
        --nodes) nodes_list="$2"; shift 2 ;;
        --links) links="$2"; shift 2 ;;
        --presets) presets="$2"; shift 2 ;;
        --bf16-links) bf16_links="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --comm-only) comm_only=1; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "bench_multinode.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[ -x "$exe" ] || { echo "bench_multinode.sh: no binary at $exe (use --exe)" >&2; exit 2; }
[ -f "$here/data/fortunes-train.txt" ] || { echo "bench_multinode.sh: run scripts/make_corpus.sh first" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "bench_multinode.sh: needs root (network namespaces)" >&2; exit 2; }

export ED_CLUSTER_DIR=/tmp/ed-bench-cluster ED_CLUSTER_NAME=edb ED_CLUSTER_NET=10.213.99
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ED_PROGRESS=plain
cluster="$here/scripts/cluster-local.sh"
cleanup=0
if [ -z "$out" ]; then out="$(mktemp -d)"; cleanup=1; fi
mkdir -p "$out"
finish() {
    "$cluster" stop >/dev/null 2>&1 || true
    if [ "$cleanup" = 1 ]; then rm -rf "$out"; fi
}
trap finish EXIT

# Private copies of the binaries: a rebuild during the benchmark must not swap them under it.
comm_src="$(dirname "$exe")/tests/bench/ed-bench-comm"
cp "$exe" "$out/expert-dist"
exe="$out/expert-dist"
comm_exe=""
if [ -x "$comm_src" ]; then cp "$comm_src" "$out/ed-bench-comm"; comm_exe="$out/ed-bench-comm"; fi

max=0
for n in $nodes_list; do [ "$n" -gt "$max" ] && max=$n; done
"$cluster" start --nodes "$max" >/dev/null

cores=$(nproc)
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $cores cores; $("$exe" --version 2>/dev/null | head -n 1)"
flags=$(grep -m 1 '^flags' /proc/cpuinfo || true)
isa=generic
for f in avx2 avx512f avx512_bf16 amx_tile; do case " $flags " in *" $f "*) isa=$f ;; esac; done
echo "ISA: best of avx2/avx512f/avx512_bf16/amx_tile present: $isa; GEMM libraries linked: $(ldd "$exe" | grep -oE 'lib(openblas|dnnl|mkl|blis)[^ ]*' | sort -u | tr '\n' ' ')"
echo "load before: $(uptime | sed 's/.*load average/load average/')"
declare -A base
[ "$comm_only" = 1 ] || {
echo
echo "| preset | nodes | link | grad-comm | tokens/s | step s | comm wait | speedup vs 1 node |"
echo "|---|---|---|---|---|---|---|---|"
for preset in $presets; do
    case "$preset" in
        small) shape=(--batch-size 4 --max-length 256 --stride 256) ;;
        seed) shape=(--batch-size 1 --max-length 512 --stride 512) ;;
        *) shape=() ;;
    esac
    for link in $links; do
        "$cluster" start --nodes "$max" --link "$link" >/dev/null
        for n in $nodes_list; do
            comms=fp32
            for l in $bf16_links; do [ "$l" = "$link" ] && [ "$n" -gt 1 ] && comms="fp32 bf16"; done
            for comm in $comms; do
                log="$out/$preset-$n-$link-$comm.log"
                "$cluster" mpirun --nodes "$n" --per-node 1 --bind-to none "$exe" train --preset "$preset" \
                    --threads 1 "${shape[@]}" --max-steps "$steps" --quiet --grad-comm "$comm" \
                    --train-file "$here/data/fortunes-train.txt" --val-file "" --checkpoint-dir "$out/ck" \
                    ${extra[@]+"${extra[@]}"} >"$log" 2>&1 ||
                    { echo "run $preset $n $link $comm failed, see $log:" >&2; tail -n 20 "$log" >&2; exit 1; }
                line="$(grep -E '^done:' "$log" | tail -n 1)"
                tps="$(sed -E 's/.* ([0-9.]+) tokens\/s.*/\1/' <<<"$line")"
                wait="$(sed -E 's/.*allreduce wait ([0-9.]+%).*/\1/' <<<"$line")"
                # target tokens per step: windows x (max-length - 1) x ranks
                per_step=$(awk -v p="$preset" -v n="$n" 'BEGIN { print (p == "seed" ? 511 : 1020) * n }')
                step_s=$(awk -v t="$tps" -v k="$per_step" 'BEGIN { printf "%.2f", k / t }')
                [ "$n" = 1 ] && [ "$comm" = fp32 ] && base[$preset-$link]=$tps
                speed=$(awk -v a="$tps" -v b="${base[$preset-$link]:-$tps}" 'BEGIN { printf "%.2fx", a / b }')
                note=""
                [ "$n" -gt "$cores" ] && note=" (ranks > cores)"
                echo "| $preset | $n$note | $link | $comm | $tps | $step_s | $wait | $speed |"
            done
        done
    done
done
}

# The gradient exchange alone (ed-bench-comm: the trainer's bucketed sync, no compute),
# best of 3: what the links deliver, against the model's 2(N-1)/N x bytes / bandwidth.
if [ -n "$comm_exe" ]; then
    echo
    echo "Gradient exchange alone (no compute), seconds per step, best of 3:"
    echo
    echo "| params | nodes | link | grad-comm | seconds | MB sent per rank | per-rank GB/s | model s (link rate) |"
    echo "|---|---|---|---|---|---|---|---|"
    for link in $links; do
        "$cluster" start --nodes "$max" --link "$link" >/dev/null
        for preset in $presets; do
            case "$preset" in small) params=5785088 ;; seed) params=30602240 ;; *) continue ;; esac
            for n in $nodes_list; do
                [ "$n" -gt 1 ] || continue
                for comm in fp32 bf16; do
                    r=$("$cluster" mpirun --nodes "$n" --per-node 1 --bind-to none "$comm_exe" "$params" "$comm" 3 | grep '^comm ')
                    sec=$(awk '{print $11}' <<<"$r"); bytes=$(awk '{print $13}' <<<"$r"); gbps=$(awk '{print $15}' <<<"$r")
                    model=$(awk -v b="$bytes" -v l="$link" 'BEGIN { r = l == "1gbit" ? 1e9 : l == "10gbit" ? 1e10 : 0;
                        if (r == 0) print "-"; else printf "%.3f", b * 8 / r }')
                    echo "| $preset ($params) | $n | $link | $comm | $sec | $(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }') | $gbps | $model |"
                done
            done
        done
    done
fi
echo
echo "load after: $(uptime | sed 's/.*load average/load average/')"
