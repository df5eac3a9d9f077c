#!/usr/bin/env bash
# Portable binary vs native build: the engine benchmark (ed-bench, see scripts/bench.sh)
# of the default portable build on each kernel path this CPU runs (ED_ISA=auto, then every
# forced path) against an -DED_NATIVE=ON build of the same source, round-robin in one
# session so that every row sees the same machine.
#
#   scripts/bench_isa.sh [--config small|seed] [--rounds N] [--steps N] [--threads N]
#
# Builds build/ (portable, Release) and build-native/ (-DED_NATIVE=ON) when needed
# (PORTABLE_DIR / NATIVE_DIR override the directories). Prints the CPU, the paths and the
# GEMM backend, then one row per binary/path: the median over the rounds of ed-bench's
# tokens/s (each round itself a median over --steps) and the ratio to the native build.
# Not a test: timings are noisy on a shared machine; compare rows of one run only.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
config=small rounds=3 steps=5 threads=2
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --config|--rounds|--steps|--threads)
      [ $# -ge 2 ] || { echo "bench_isa.sh: $1 needs a value" >&2; exit 2; }
      case "$1" in --config) config=$2 ;; --rounds) rounds=$2 ;; --steps) steps=$2 ;; --threads) threads=$2 ;; esac
      shift 2 ;;
    *) echo "bench_isa.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

PORTABLE_DIR=${PORTABLE_DIR:-build}
NATIVE_DIR=${NATIVE_DIR:-build-native}
build() { # dir, cmake flags...
  local dir=$1; shift
  [ -f "$dir/CMakeCache.txt" ] || cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j 2 --target ed-bench >/dev/null
}
build "$PORTABLE_DIR" -DED_NATIVE=OFF
build "$NATIVE_DIR" -DED_NATIVE=ON
pbench="$PORTABLE_DIR/tests/bench/ed-bench"
nbench="$NATIVE_DIR/tests/bench/ed-bench"

# The header lines of one run name CPU, kernel path, OpenBLAS core and GEMM backend.
head=$("$pbench" --config "$config" --threads 1 --steps 1 --no-torch --precision fp32)
grep -E '^# (cpu|OpenBLAS core)' <<<"$head"
runs=$(sed -n 's/.*this CPU runs: \([a-z0-9 ]*\)).*/\1/p' <<<"$head")
rows=("native|$nbench|auto" "portable|$pbench|auto")
for p in $runs; do rows+=("portable|$pbench|$p"); done

declare -A tps path
nrows=${#rows[@]}
for ((r = 0; r < rounds; r++)); do
  # each round starts at another row, so no build always runs first (right after the
  # previous round's last run) or last: an order effect would otherwise favour one
  for ((j = 0; j < nrows; j++)); do
    i=$(((r + j) % nrows))
    IFS='|' read -r kind exe isa <<<"${rows[$i]}"
    out=$(ED_ISA=$isa "$exe" --config "$config" --threads "$threads" --steps "$steps" --no-torch --precision fp32)
    path[$i]=$(sed -n 's/^# cpu: .*; kernels: \([a-z0-9]*\) .*/\1/p' <<<"$out")
    # the fp32 row: config prec gemm params tok/s ...
    tps[$i]="${tps[$i]:-} $(awk -v c="$config" '$1 == c && $2 == "fp32" { print $5 }' <<<"$out")"
  done
done
median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo "# $config fp32, $threads threads, median of $rounds rounds x $steps steps; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| build | ED_ISA | kernels | tok/s | vs native |"
echo "|---|---|---|---|---|"
base=$(median "${tps[0]}")
for ((i = 0; i < ${#rows[@]}; i++)); do
  IFS='|' read -r kind exe isa <<<"${rows[$i]}"
  m=$(median "${tps[$i]}")
  echo "| $kind | $isa | ${path[$i]} | $m | $(awk -v a="$m" -v b="$base" 'BEGIN { printf "%.1f%%", 100 * a / b }') |"
done
