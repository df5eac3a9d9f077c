#!/usr/bin/env bash
# What the reliability machinery costs a run (docs/reliability.md, "Costs"):
#  1. checkpoints: the same run with --no-async-save and with --async-save (the default),
#     a checkpoint after every step; the trainer's summary line "checkpoints: N saved,
#     step stall S s/save, write W s/save" gives the stall per save and the write time;
#     plus the step time of each run;
#  2. the watchdog: the gradient exchange and the small per-step allreduce
#     (tests/bench/bench_comm.c) with plain blocking waits and with the watchdog's test
#     loops, alternating for --rounds rounds at -n 2.
#
#   scripts/bench_reliability.sh [--preset seed] [--steps N] [--rounds N] [--threads N]
#
# Uses build/expert-dist (BUILD_DIR overrides). Not a test: timings are noisy on a shared
# machine; compare rows of one run only.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
preset=seed steps=4 rounds=3 threads=2
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --preset|--steps|--rounds|--threads)
      [ $# -ge 2 ] || { echo "bench_reliability.sh: $1 needs a value" >&2; exit 2; }
      case "$1" in --preset) preset=$2 ;; --steps) steps=$2 ;; --rounds) rounds=$2 ;; --threads) threads=$2 ;; esac
      shift 2 ;;
    *) echo "bench_reliability.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
exe=${BUILD_DIR:-build}/expert-dist
[ -x "$exe" ] || { echo "bench_reliability.sh: $exe not built" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ED_PROGRESS=plain
work=$(mktemp -d /tmp/ed-bench-rel.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$exe" --version | sed -n 2p
train=data/fortunes-train.txt # no validation set: only steps and saves are timed

echo "== checkpoints: --preset $preset, batch 1, $steps steps, a save after every step, -n 1 -t $threads"
printf '%-16s %12s %18s %18s\n' mode "tokens/s" "stall s/save" "write s/save"
for mode in --no-async-save --async-save; do
  out=$("$exe" --preset "$preset" --train-file "$train" --batch-size 1 --max-steps "$steps" --save-steps 1 \
        --keep-last 1 -t "$threads" --quiet $mode -o "$work/ck$mode" 2>&1)
  line=$(grep '^checkpoints:' <<<"$out")
  stall=$(sed -n 's/.*step stall \([0-9.]*\) s\/save.*/\1/p' <<<"$line")
  write=$(sed -n 's/.*write \([0-9.]*\) s\/save.*/\1/p' <<<"$line")
  summary=$(grep -E '^done:' <<<"$out")
  tok=$(sed -n 's/.* \([0-9]*\) tokens\/s.*/\1/p' <<<"$summary")
  printf '%-16s %12s %18s %18s\n' "$mode" "$tok" "$stall" "$write"
done

echo "== watchdog: the tiny model's gradient exchange (925 k floats, 4 MB buckets) and the step's"
echo "   5-double allreduce, -n 2, plain blocking waits (0) against watched test loops (600), $rounds rounds"
comm=${BUILD_DIR:-build}/tests/bench/ed-bench-comm
[ -x "$comm" ] || cmake --build "${BUILD_DIR:-build}" --target ed-bench-comm >/dev/null
printf '%-16s %22s %22s\n' "--comm-timeout" "exchange ms (best of 20)" "small allreduce us"
for r in $(seq "$rounds"); do
  for to in 0 600; do
    out=$(ED_BENCH_COMM_TIMEOUT=$to mpirun --oversubscribe -n 2 "$comm" 925248 fp32 20 4)
    printf '%-16s %22s %22s\n' "$to" "$(awk '/^comm/ {printf "%.2f", $10 * 1000}' <<<"$out")" \
      "$(awk '/^small_allreduce_us/ {print $2}' <<<"$out")"
  done
done
