#!/usr/bin/env bash
# Balanced micro-batches, without a stopwatch: per-rank padded tokens of every step of one
# epoch of the bundled corpus, with the balanced split (default) and the split it replaced,
# at 1, 2 and 4 ranks (tests/bench/bench_balance.c explains the figures). Deterministic, so
# it holds on a loaded machine where scripts/bench_scaling.sh's wall-clock speedups do not.
#
#   scripts/bench_balance.sh [--preset small] [--batch-size 8] [--grad-accum 1]
#                            [--ranks "1 2 4"] [--pack] [--pad-to-max] [--train-file PATH]
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
BUILD_DIR=${BUILD_DIR:-build}
[ -f "$BUILD_DIR/CMakeCache.txt" ] || cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j 2 --target ed-bench-balance >/dev/null
[ -f data/fortunes-train.txt ] || { echo "bench_balance.sh: run scripts/make_corpus.sh first" >&2; exit 2; }
exec "$BUILD_DIR/tests/bench/ed-bench-balance" "$@"
