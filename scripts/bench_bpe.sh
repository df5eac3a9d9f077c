#!/usr/bin/env bash
# bench_bpe.sh — byte-level BPE and prepared-file figures on this machine:
#   1. train 8000 merges (vocab 8260) on the bundled corpus: seconds (wall and CPU)
#   2. encode the corpus with it: MB/s, cold and warm encode cache
#   3. prepare a ~100 MB synthetic corpus (the bundled corpus repeated, in /tmp) with
#      1 and 2 MPI ranks (threads per rank = cores / ranks): tokens/s
#   4. start-up of training from the prepared file vs from the text (same windows)
# Usage: scripts/bench_bpe.sh [--mb N] [--ranks "1 2"]   (BUILD_DIR=build by default)
# The machine is shared by whatever else runs; CPU seconds are printed next to wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
MB=100
RANKS="1 2"
while [ $# -gt 0 ]; do
  case "$1" in
    --mb) MB=$2; shift 2 ;;
    --ranks) RANKS=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "bench_bpe.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
BUILD_DIR=${BUILD_DIR:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1

if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" -j2 --target bench_bpe bench_prepare >/dev/null
if [ ! -f data/fortunes-train.txt ]; then
  scripts/make_corpus.sh --quiet
fi

work=$(mktemp -d /tmp/ed-bench-bpe.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "== BPE: train 8000 merges, encode (bundled corpus) =="
for corpus in data/fortunes-train.txt data/fortunes-ru-train.txt; do
  [ -f "$corpus" ] || continue
  "$BUILD_DIR/tests/tokenizer/bench_bpe" "$corpus" 8260 "$work/$(basename "$corpus" .txt).bpe.json"
done

# The tokenizer for the prepare runs sees both languages, like the synthetic corpus.
if [ -f data/fortunes-ru-train.txt ]; then
  echo "-- mixed English + Russian (the tokenizer used below)"
  { cat data/fortunes-train.txt; printf '\n\n'; cat data/fortunes-ru-train.txt; } > "$work/mixed.txt"
  "$BUILD_DIR/tests/tokenizer/bench_bpe" "$work/mixed.txt" 8260 "$work/mixed.bpe.json"
  tok="$work/mixed.bpe.json"
else
  tok="$work/fortunes-train.bpe.json"
fi

echo "== prepare: ~${MB} MB synthetic corpus (bundled corpus repeated) =="
# Whole paragraphs only: each copy ends with a blank line, so documents never merge.
big="$work/big.txt"
srcs=(data/fortunes-train.txt)
[ -f data/fortunes-ru-train.txt ] && srcs+=(data/fortunes-ru-train.txt)
: > "$big"
while [ "$(stat -c %s "$big")" -lt $((MB * 1000 * 1000)) ]; do
  for s in "${srcs[@]}"; do cat "$s"; printf '\n\n'; done >> "$big"
done
echo "corpus=$big bytes=$(stat -c %s "$big")"
cores=$(getconf _NPROCESSORS_ONLN)  # not nproc: it obeys OMP_NUM_THREADS
for n in $RANKS; do
  threads=$(( cores / n > 0 ? cores / n : 1 ))  # ranks x threads = the cores, as the trainer does
  echo "-- $n rank(s) x $threads thread(s)"
  OMP_NUM_THREADS=$threads mpirun --oversubscribe --bind-to none -x OMP_NUM_THREADS -n "$n" \
    "$BUILD_DIR/tests/prepared/bench_prepare" \
    "$big" "$tok" "$work/big-$n.h5"
  ls -l "$work/big-$n.h5" | awk '{print "prepared_file_bytes=" $5}'
  rm -f "$work/big-$n.h5"
done
