#!/usr/bin/env bash
# bench_scaling.sh — data-parallel scaling of expert-dist on this machine: tokens/s with
# -n 1 and -n 2 ranks (1 thread each) at a fixed PER-RANK batch (so -n 2 does twice the
# work per step), and the fraction of step time spent waiting in the gradient allreduce
# (measured by the trainer, printed in its final summary).
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/bench_scaling.sh [options] [-- extra expert-dist flags]

Runs `mpirun -n N expert-dist train` for each N in --ranks with 1 thread per rank on the
bundled corpus and prints a Markdown table:

  | ranks | threads | tokens/s | speedup | allreduce wait | mfu |

Options:
  --exe PATH        the binary (default: build/expert-dist, else build-*/expert-dist)
  --ranks "1 2"     rank counts to run (default "1 2")
  --preset NAME     model preset (default small)
  --steps N         optimizer steps per run (default 30; the first steps warm caches)
  --batch-size N    windows per rank per step (default 8)
  --bucket-mb N     allreduce bucket size (default 4)
  --out DIR         where runs write checkpoints/logs (default: a temp dir, removed)
  -h, --help        this text

The per-run log (the trainer's summary line) is kept in OUT/n<N>.log.
Tokens/s is the trainer's own count over the timed steps of the run (global, all ranks).
USAGE
}

here="$(cd "$(dirname "$0")/.." && pwd)"
exe=""
ranks="1 2"
preset=small
steps=30
batch=8
bucket=4
out=""
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --exe) exe="$2"; shift 2 ;;
        --ranks) ranks="$2"; shift 2 ;;
        --preset) preset="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        --batch-size) batch="$2"; shift 2 ;;
        --bucket-mb) bucket="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "bench_scaling.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
if [ -z "$exe" ]; then
    for c in "$here/build/expert-dist" "$here"/build-*/expert-dist; do
        if [ -x "$c" ]; then exe="$c"; break; fi
    done
fi
[ -n "$exe" ] && [ -x "$exe" ] || { echo "bench_scaling.sh: no expert-dist binary found (use --exe)" >&2; exit 2; }
[ -f "$here/data/fortunes-train.txt" ] || { echo "bench_scaling.sh: run scripts/make_corpus.sh first" >&2; exit 2; }
cleanup=0
if [ -z "$out" ]; then out="$(mktemp -d)"; cleanup=1; fi
mkdir -p "$out"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ED_PROGRESS=plain
echo "# $("$exe" --version | sed -n 2p); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| ranks | threads | tokens/s | speedup | allreduce wait | mfu |"
echo "|---|---|---|---|---|---|"
base=""
for n in $ranks; do
    log="$out/n$n.log"
    mpirun --oversubscribe --bind-to none -n "$n" "$exe" train --preset "$preset" --threads 1 \
        --batch-size "$batch" --max-steps "$steps" --bucket-mb "$bucket" --quiet \
        --train-file "$here/data/fortunes-train.txt" --val-file "" --checkpoint-dir "$out/ck$n" \
        ${extra[@]+"${extra[@]}"} > "$log" 2>&1 || { echo "run with -n $n failed, see $log" >&2; cat "$log" >&2; exit 1; }
    line="$(grep -E '^(done|early stopping):' "$log" | tail -1)"
    tps="$(sed -E 's/.* ([0-9.]+) tokens\/s.*/\1/' <<<"$line")"
    wait="$(sed -E 's/.*allreduce wait ([0-9.]+%).*/\1/' <<<"$line")"
    mfu="$(sed -E 's/.*mfu ([0-9.]+%).*/\1/' <<<"$line")"
    [ -n "$base" ] || base="$tps"
    speedup="$(awk -v a="$tps" -v b="$base" 'BEGIN { printf "%.2fx", a / b }')"
    echo "| $n | 1 | $tps | $speedup | $wait | $mfu |"
done
if [ "$cleanup" = 1 ]; then rm -rf "$out"; fi
