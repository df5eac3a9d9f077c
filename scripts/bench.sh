#!/usr/bin/env bash
# Speed of the engine's training step (forward + backward + clip + AdamW), against raw
# cblas_sgemm at the same GEMM shapes and against PyTorch (tests/reference/gpt.py) on the
# same config and thread count, all in one run. Prints one table row per config.
#
#   scripts/bench.sh                      every config (small, llama-small, seed), 2 threads
#   scripts/bench.sh --config small       one config
#   scripts/bench.sh --config small,llama-small   the GPT-2 and the Llama of one size
#   scripts/bench.sh --threads 1 --steps 10 --no-torch
#   scripts/bench.sh --precision fp16     rows for one precision: fp32|bf16|fp16|both|all (default all)
#   scripts/bench.sh --recompute          also a "+rc" row: --recompute's time and memory
#   BUILD_DIR=build-rel scripts/bench.sh  use/build another build directory
#   scripts/bench.sh --windows [--steps 20] [--threads 2] [--no-torch]
#                                         window modes on the bundled corpus (--preset small):
#                                         per-window (default) vs --pad-to-max vs --pack vs
#                                         PyTorch at the same windows (tests/bench/bench_windows.py)
#
# One row per config and precision (fp32, bf16, fp16: fp16 with its loss scaling; a half
# precision without a native matmul on this CPU is emulated and says so).
# Columns: tok/s and effective GFLOPS = (6*params + 12*L*T*D)*tokens/time of our step (an
# untied embedding, llama-small's, is a lookup: not in params here);
# fwd_s/bwd_s/opt_s its phases (opt = clip + AdamW); act = activation memory;
# sgemmGF = raw sgemm GFLOPS on the step's GEMM shapes (attention at full T x T; a native
# bf16/fp16 GEMM is timed on operands already in half precision: the GEMM alone);
# ours% and torch% = effective GFLOPS as a fraction of sgemmGF; cpuE/cpuG = share of the
# cores (wall x threads) our step / the sgemm set really got (low = a busy machine);
# x = our tokens/s over PyTorch's. Medians over --steps after warm-up; on a shared
# machine figures are noisy, so compare only rows from the same run.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }
args=()
torch=1
windows=0
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --no-torch) torch=0; shift ;;
    --windows) windows=1; shift ;;
    --recompute) args+=("$1"); shift ;;
    --config|--threads|--steps|--python|--precision)
      [ $# -ge 2 ] || { echo "bench.sh: $1 needs a value" >&2; exit 2; }
      args+=("$1" "$2"); shift 2 ;;
    *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

BUILD_DIR=${BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
if [ "$windows" = 1 ]; then
  cmake --build "$BUILD_DIR" -j 2 --target expert-dist >/dev/null
  wargs=(--exe "$BUILD_DIR/expert-dist")
  set -- "${args[@]}"
  while [ $# -gt 0 ]; do
    case "$1" in
      --steps|--threads) wargs+=("$1" "$2"); shift 2 ;;
      --config) wargs+=(--preset "$2"); shift 2 ;;
      *) shift ;;
    esac
  done
  [ "$torch" = 1 ] || wargs+=(--no-torch)
  # the bundled corpus of this checkout, wherever BUILD_DIR is (the binary looks next to itself)
  export ED_DATA_DIR=${ED_DATA_DIR:-$PWD/data}
  exec /usr/bin/python3 tests/bench/bench_windows.py "${wargs[@]}"
fi
cmake --build "$BUILD_DIR" -j 2 --target ed-bench >/dev/null
if [ "$torch" = 1 ]; then
  args+=(--torch-ref tests/reference/gpt.py --torch-llama tests/reference/llama_reference.py)
else
  args+=(--no-torch)
fi
exec "$BUILD_DIR/tests/bench/ed-bench" "${args[@]}"
