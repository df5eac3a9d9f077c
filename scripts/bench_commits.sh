#!/usr/bin/env bash
# Before/after: the engine benchmark (ed-bench, see scripts/bench.sh) at several commits,
# run round-robin in one session so that every commit sees the same machine.
#
#   scripts/bench_commits.sh [--config small|seed] [--rounds N] [--steps N] COMMIT...
#   scripts/bench_commits.sh 1d62ce0 b266ed9 df432f8 6f67505 HEAD
#
# Each commit is checked out into a temporary git worktree and built (Release) there;
# commits older than the benchmark program get today's first version of it
# (tests/bench/bench_engine.c as of 6c3319e), which only uses the engine API they share.
# Prints one line per commit: the round with the median tokens/s, its ours% (effective GFLOPS as a fraction
# of raw sgemm at the same shapes, measured in the same run) over the rounds, and the
# speed-up against the first commit. Not a test: timings are noisy on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
config=small rounds=3 steps=5 commits=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --config|--rounds|--steps)
      [ $# -ge 2 ] || { echo "bench_commits.sh: $1 needs a value" >&2; exit 2; }
      case "$1" in --config) config=$2 ;; --rounds) rounds=$2 ;; --steps) steps=$2 ;; esac
      shift 2 ;;
    -*) echo "bench_commits.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) commits+=("$1"); shift ;;
  esac
done
[ ${#commits[@]} -ge 1 ] || { usage >&2; exit 2; }
for c in "${commits[@]}"; do
  git rev-parse --verify --quiet "$c^{commit}" >/dev/null ||
    { echo "bench_commits.sh: '$c' is not a commit of this repository" >&2; exit 2; }
done

work=$(mktemp -d /tmp/ed-bench-commits.XXXXXX)
cleanup() {
  for d in "$work"/wt-*; do [ -d "$d" ] && git worktree remove --force "$d" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

first_bench=6c3319e # the commit that introduced tests/bench/bench_engine.c
i=0
for c in "${commits[@]}"; do
  sha=$(git rev-parse --short "$c^{commit}")
  wt="$work/wt-$i"
  git worktree add --detach "$wt" "$sha" >/dev/null 2>&1
  if [ ! -f "$wt/tests/bench/bench_engine.c" ]; then
    mkdir -p "$wt/tests/bench"
    git show "$first_bench:tests/bench/bench_engine.c" >"$wt/tests/bench/bench_engine.c"
    git show "$first_bench:tests/bench/CMakeLists.txt" >"$wt/tests/bench/CMakeLists.txt"
  fi
  echo "building $sha ..." >&2
  cmake -S "$wt" -B "$wt/build" -DCMAKE_BUILD_TYPE=Release >"$work/cfg-$i.log" 2>&1
  cmake --build "$wt/build" -j 2 --target ed-bench >"$work/build-$i.log" 2>&1 ||
    { echo "bench_commits.sh: $sha does not build (see $work/build-$i.log)" >&2; trap - EXIT; exit 1; }
  i=$((i + 1))
done

# Round-robin: commit 0, 1, ..., then again, so slow drifts of the load hit all alike.
for r in $(seq 1 "$rounds"); do
  for j in $(seq 0 $((i - 1))); do
    "$work/wt-$j/build/tests/bench/ed-bench" --config "$config" --steps "$steps" --no-torch |
      awk -v j="$j" -v cfg="$config" '
        $1 == "config" { for (k = 1; k <= NF; k++) col[$k] = k }   # versions differ in columns
        $1 == cfg && (!col["prec"] || $(col["prec"]) == "fp32") { print j, $(col["tok/s"]), (col["ours%"] ? $(col["ours%"]) : "-") }' >>"$work/rows"
  done
done

echo "# ed-bench --config $config, median of $rounds round(s) x $steps steps, $(date -u +%F), $(nproc) cores"
printf '%-10s %10s %8s %8s  %s\n' commit "tok/s" "ours%" speedup subject
awk '{ print }' "$work/rows" | sort -n -k1,1 -k2,2g | awk '
  { n[$1]++; tok[$1, n[$1]] = $2; pct[$1, n[$1]] = $3 }
  END { for (j in n) { m = int((n[j] + 1) / 2); print j, tok[j, m], pct[j, m] } }' | sort -n >"$work/med"
base=$(awk 'NR == 1 { print $2 }' "$work/med")
j=0
for c in "${commits[@]}"; do
  read -r _ tok pct < <(awk -v j="$j" '$1 == j' "$work/med")
  printf '%-10s %10s %8s %7.2fx  %s\n' "$(git rev-parse --short "$c^{commit}")" "$tok" "$pct" \
    "$(awk -v a="$tok" -v b="$base" 'BEGIN { print a / b }')" "$(git log -1 --format=%s "$c" | cut -c1-60)"
  j=$((j + 1))
done
