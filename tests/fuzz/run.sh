#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang and fuzzes them (docs/reliability.md).
#   tests/fuzz/run.sh                       all targets, 60 s each, build in build-fuzz/
#   tests/fuzz/run.sh --seconds 3600 jsonl  one target for an hour (a long campaign)
#   tests/fuzz/run.sh --build-only          just (re)build
#   options: --build-dir DIR (default build-fuzz)  --no-build  --seconds N  --jobs N
#            --check-clang (exit 0 when clang can link a libFuzzer program)
# Targets: txt jsonl word bpe vocab ini argv ckpt safetensors compressed hfjson refs hfindex.
# New interesting inputs go to DIR/corpus/<target>/ (the seeds in tests/fuzz/corpus/ are
# read, never written). A crash leaves DIR/artifacts/<target>/crash-*: copy it into
# tests/fuzz/regressions/<target>/ so the normal test suite replays it from then on.
# Prints "fuzz <target>: N execs in S s ..." per target; exits non-zero on any crash.
# ckpt: checkpoints are read as users get them, behind their checksum header. With
# ED_CKPT_NO_VERIFY=1 exported, the fuzzer reaches HDF5 1.10 itself, which crashes on
# corrupted metadata within seconds (known; docs/reliability.md) — for campaigns only.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$SRC/tests/fuzz"
BUILD_DIR="$SRC/build-fuzz"
SECONDS_PER=60
BUILD=1
BUILD_ONLY=0
JOBS=$(nproc)
TARGETS=()
ALL=(txt jsonl word bpe vocab ini argv ckpt safetensors compressed hfjson refs hfindex)
CC_BIN=$(command -v clang || command -v clang-14 || true)

check_clang() {
  [ -n "$CC_BIN" ] || return 1
  local d
  d=$(mktemp -d)
  printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' > "$d/t.c"
  printf '#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n' > "$d/o.c"
  local ok=0
  "$CC_BIN" -fsanitize=fuzzer,address "$d/t.c" -o "$d/t" 2>/dev/null &&
    "$CC_BIN" -fopenmp "$d/o.c" -o "$d/o" 2>/dev/null || ok=1
  rm -rf "$d"
  return $ok
}

while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD_DIR=$2; shift 2 ;;
    --seconds) SECONDS_PER=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --build-only) BUILD_ONLY=1; shift ;;
    --check-clang) check_clang; exit $? ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")

if ! check_clang; then
  echo "run.sh: clang with libFuzzer (and libomp) not found: apt-get install clang libclang-rt-14-dev libomp-dev" >&2
  exit 77 # ctest SKIP_RETURN_CODE
fi

if [ "$BUILD" = 1 ]; then
  # The library is instrumented for coverage (fuzzer-no-link) and checked by ASan+UBSan
  # (the Asan build type); only the harnesses link libFuzzer's main.
  cmake -S "$SRC" -B "$BUILD_DIR" -DCMAKE_C_COMPILER="$CC_BIN" -DCMAKE_CXX_COMPILER="${CC_BIN}++" -DCMAKE_BUILD_TYPE=Asan -DED_FUZZ=ON \
        -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" > "$BUILD_DIR.configure.log" 2>&1 ||
    { cat "$BUILD_DIR.configure.log"; exit 1; }
  cmake --build "$BUILD_DIR" -j "$JOBS" --target fuzz_all
fi
[ "$BUILD_ONLY" = 1 ] && exit 0

# Per-target input size limits: enough for real structure, small enough to stay fast.
max_len() {
  case "$1" in
    ckpt) echo 262144 ;;
    txt|jsonl|vocab|compressed|hfjson) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
status=0
for t in "${TARGETS[@]}"; do
  exe="$BUILD_DIR/tests/fuzz/ed_fuzz_$t"
  [ -x "$exe" ] || { echo "run.sh: $exe not built (run without --no-build)" >&2; exit 1; }
  work="$BUILD_DIR/corpus/$t" art="$BUILD_DIR/artifacts/$t"
  mkdir -p "$work" "$art"
  log="$BUILD_DIR/fuzz-$t.log"
  seeds=("$HERE/corpus/$t")
  [ -d "$HERE/regressions/$t" ] && seeds+=("$HERE/regressions/$t")
  total=0 secs=0
  for per in "$SECONDS_PER"; do
    rc=0
    TMPDIR="$BUILD_DIR" "$exe" -max_total_time="$per" -timeout=10 -rss_limit_mb=2048 \
        -max_len="$(max_len "$t")" -print_final_stats=1 -close_fd_mask=1 -artifact_prefix="$art/" \
        "$work" "${seeds[@]}" > "$log" 2>&1 || rc=$?
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    total=$(( total + ${n:-0} )); secs=$(( secs + per ))
    if [ "$rc" != 0 ]; then
      status=1
      echo "fuzz $t: FAILED (exit $rc) after ${n:-?} execs; log $log; artifacts:"
      ls "$art" | sed 's/^/  /'
      grep -E "ERROR|runtime error|fuzz property failed|SUMMARY" "$log" | head -20 | sed 's/^/  /'
      echo "  -> copy the crash file into tests/fuzz/regressions/$t/ (replayed by fuzz_replay_$t)"
      break
    fi
  done
  echo "fuzz $t: $total execs in $secs s, corpus $(ls "$work" | wc -l) files (+ $(ls "$HERE/corpus/$t" | wc -l) seeds)"
done
exit $status
