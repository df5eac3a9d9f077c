#!/usr/bin/env bash
# Builds if needed and runs the whole test suite with ctest (prints ctest's summary).
#   ./scripts/test.sh                 all tests
#   ./scripts/test.sh -L mpi          only one label (ctest arguments pass through)
#   BUILD_DIR=build-asan ./scripts/test.sh   the sanitizer build
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$BUILD_DIR" -j "$(nproc)"
cd "$BUILD_DIR"
ctest --output-on-failure "$@"
