#!/usr/bin/env bash
# The --gemm candidates: training throughput of `expert-dist train` with --gemm openblas,
# --gemm onednn and --gemm auto (what it measured and picked), for each precision, round-
# robin in one session so every row sees the same machine.
#
#   scripts/bench_gemm.sh [--preset small] [--steps 12] [--rounds 2] [--threads 2]
#                         [--precision fp32,bf16]
#
# Each run: the bundled corpus (tokenized once by `prepare`), --max-steps STEPS, no validation or step checkpoints, and
# --gemm-cache off, so every auto run measures afresh (its pick may differ between rounds
# on a noisy machine: the table counts them). tok/s is the run's final summary (steps
# after the first). Prints the CPU, ISA and GEMM libraries (`expert-dist --version`), then
# one row per precision x --gemm: the median tok/s over the rounds and the ratio to
# --gemm openblas. Not a test: compare rows of one run only. BUILD_DIR overrides build/.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
preset=small steps=12 rounds=2 threads=2 precisions=fp32,bf16
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --preset|--steps|--rounds|--threads|--precision)
      [ $# -ge 2 ] || { echo "bench_gemm.sh: $1 needs a value" >&2; exit 2; }
      case "$1" in
        --preset) preset=$2 ;; --steps) steps=$2 ;; --rounds) rounds=$2 ;; --threads) threads=$2 ;;
        --precision) precisions=$2 ;;
      esac
      shift 2 ;;
    *) echo "bench_gemm.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

BUILD_DIR=${BUILD_DIR:-build}
[ -f "$BUILD_DIR/CMakeCache.txt" ] || cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j 2 --target expert-dist >/dev/null
work=$(mktemp -d /tmp/ed-bench-gemm-XXXXXX)
trap 'rm -rf "$work"' EXIT
exe="$work/expert-dist" # a copy: a rebuild during the benchmark does not change it
cp "$BUILD_DIR/expert-dist" "$exe"

"$exe" --version | sed -n '2p' | sed 's/^/# /'
# Tokenize the training corpus once (the preset's tokenizer and windows; no validation
# split, so no run spends time validating), so runs time training only.
data_dir=${ED_DATA_DIR:-data}
"$exe" prepare --preset "$preset" --train-file "$data_dir/fortunes-train.txt" --data-file "$work/data.h5" \
  --quiet >/dev/null
echo "# preset $preset, $steps steps, $threads thread(s), $rounds round(s), --gemm-cache off"

IFS=',' read -r -a precs <<<"$precisions"
gemms=(openblas onednn auto)
rows=()
for p in "${precs[@]}"; do for g in "${gemms[@]}"; do rows+=("$p|$g"); done; done
nrows=${#rows[@]}
declare -A tps ran picks figures
for ((r = 0; r < rounds; r++)); do
  for ((j = 0; j < nrows; j++)); do
    i=$(((r + j) % nrows)) # each round starts at another row: no row always runs first
    IFS='|' read -r p g <<<"${rows[$i]}"
    cmd=("$exe" --preset "$preset" --data-file "$work/data.h5" --max-steps "$steps" --threads "$threads"
         --precision "$p" --gemm "$g" --gemm-cache off --eval-interval 0 --save-steps 0 --log-interval 1000
         -o "$work/run")
    if ! out=$(XDG_CACHE_HOME="$work/xdg" "${cmd[@]}" 2>"$work/err"); then
      echo "bench_gemm.sh: failed: ${cmd[*]}" >&2
      cat "$work/err" >&2
      exit 1
    fi
    t=$(sed -n 's/.*), \([0-9.]*\) tokens\/s on .*/\1/p' <<<"$out")
    tps[$i]="${tps[$i]:-} $t"
    gl=$(grep '^# gemm:' <<<"$out")
    ran[$i]=$(sed -E 's/^# gemm: ([a-z]+).*/\1/' <<<"$gl")
    if [ "$g" = auto ]; then
      picks[$i]="${picks[$i]:-} ${ran[$i]}"
      figures[$i]=$(sed -n 's/.*auto picked [a-z]*: \([^(]*GFLOPS\).*/\1/p' <<<"$gl")
    fi
  done
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo
echo "| precision | --gemm | ran on | tok/s (median of $rounds) | vs openblas | auto's measurement (GFLOPS at the step's shapes) |"
echo "|---|---|---|---|---|---|"
for ((i = 0; i < nrows; i++)); do
  IFS='|' read -r p g <<<"${rows[$i]}"
  m=$(median <<<"${tps[$i]}")
  base=$(median <<<"${tps[$((i - i % ${#gemms[@]}))]}")
  ratio=$(awk -v a="$m" -v b="$base" 'BEGIN {printf (b > 0 ? "%.2fx" : "?"), a / b}')
  on=${ran[$i]}
  extra=""
  if [ "$g" = auto ]; then
    on=$(tr ' ' '\n' <<<"${picks[$i]}" | sed '/^$/d' | sort | uniq -c |
         awk -v n="$rounds" '{printf "%s%s %d/%d", (NR > 1 ? ", " : ""), $2, $1, n}')
    extra="${figures[$i]} (last round)"
  fi
  echo "| $p | $g | $on | $m | $ratio | $extra |"
done
