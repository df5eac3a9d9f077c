#!/usr/bin/env bash
# Generation speed: tokens/s with the key/value cache against a full forward per token
# (what `generate --no-kv-cache` does), small and seed presets, random weights, greedy.
# Prints CPU model, ISA path and GEMM backend, then one row per config (columns are
# described in tests/bench/bench_generate.c). Ratios within one run are what to compare.
#
#   scripts/bench_generate.sh                         both presets, 2 threads, 64 new tokens
#   scripts/bench_generate.sh --config seed --tokens 128 --uncached-tokens 8 --threads 1
#   BUILD_DIR=build-rel scripts/bench_generate.sh      use/build another build directory
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
BUILD_DIR=${BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" -j 2 --target ed-bench-generate >/dev/null
echo "# load: $(uptime | sed 's/.*load average/load average/')"
exec "$BUILD_DIR/tests/bench/ed-bench-generate" "$@"
