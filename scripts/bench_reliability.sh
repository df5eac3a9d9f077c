#!/usr/bin/env bash
# What the reliability machinery costs a run (docs/reliability.md, "Costs"):
#  1. checkpoints: the same run with --no-async-save and with --async-save (the default),
#     a checkpoint after every step; the trainer's summary line "checkpoints: N saved,
#     step stall S s/save, write W s/save" gives the stall per save and the write time;
#     plus the step time of each run;
#  2. the watchdog: step time and allreduce wait with --comm-timeout 0 (plain blocking MPI
#     waits) and the default 600 (test loops), alternating for --rounds rounds at -n 2.
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
printf '%-16s %12s %18s %18s\n' mode "s/step" "stall s/save" "write s/save"
for mode in --no-async-save --async-save; do
  out=$("$exe" --preset "$preset" --train-file "$train" --batch-size 1 --max-steps "$steps" --save-steps 1 \
        --keep-last 1 -t "$threads" --quiet $mode -o "$work/ck$mode" 2>&1)
  steps_s=$(sed -n 's/.* steps in \([0-9.]*\)s.*/\1/p' <<<"$out" | head -1)
  line=$(grep '^checkpoints:' <<<"$out")
  stall=$(sed -n 's/.*step stall \([0-9.]*\) s\/save.*/\1/p' <<<"$line")
  write=$(sed -n 's/.*write \([0-9.]*\) s\/save.*/\1/p' <<<"$line")
  summary=$(grep -E '^done:' <<<"$out")
  tok=$(sed -n 's/.* \([0-9]*\) tokens\/s.*/\1/p' <<<"$summary")
  printf '%-16s %12s %18s %18s   (%s tokens/s incl. saves)\n' "$mode" "$tok" "$stall" "$write" "$tok"
done

echo "== watchdog: -n 2 -t 1, --preset tiny, 60 steps, $rounds rounds"
printf '%-18s %14s %14s\n' "--comm-timeout" "tokens/s" "allreduce wait"
for r in $(seq "$rounds"); do
  for to in 0 600; do
    out=$(mpirun --oversubscribe -n 2 "$exe" --preset tiny --train-file "$train" --max-steps 60 -t 1 --quiet \
          --comm-timeout $to --no-async-save -o "$work/wd" 2>&1)
    summary=$(grep -E '^done:' <<<"$out")
    printf '%-18s %14s %14s\n' "$to" "$(sed -n 's/.* \([0-9]*\) tokens\/s.*/\1/p' <<<"$summary")" \
      "$(sed -n 's/.*allreduce wait \([0-9.]*%\).*/\1/p' <<<"$summary")"
  done
done
