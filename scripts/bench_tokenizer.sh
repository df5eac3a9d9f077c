#!/usr/bin/env bash
# Tokenizer throughput on the bundled corpus: MB/s for reading + splitting documents,
# building the word vocabulary and encoding into windows (English and Russian).
#   ./scripts/bench_tokenizer.sh                 uses build/ (BUILD_DIR=... to change)
#   ./scripts/bench_tokenizer.sh FILE [VOCAB]    another file
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" -j2 --target bench_tokenizer >/dev/null
bench="$BUILD_DIR/tests/tokenizer/bench_tokenizer"
if [ $# -gt 0 ]; then
    "$bench" "$1" "${2:-10000}"
    exit 0
fi
[ -f data/fortunes-train.txt ] || ./scripts/make_corpus.sh --quiet
for f in data/fortunes-train.txt data/fortunes-ru-train.txt; do
    [ -f "$f" ] && "$bench" "$f" 10000
done
"$bench" data/fortunes-ru-train.txt 10000 1 | sed -n '1s/$/  [lowercase]/p;2,$p'
