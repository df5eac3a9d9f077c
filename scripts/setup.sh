#!/usr/bin/env bash
# One-command set-up on Debian 12 (as root, or with sudo): installs the packages
# expert-dist needs to build, test and benchmark, builds the bundled corpus under data/,
# then configures and builds into build/. Safe to run again (idempotent).
#   ./scripts/setup.sh            Release build
#   BUILD_TYPE=Asan ./scripts/setup.sh   sanitizer build (into build-asan/)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake pkg-config git
  libopenmpi-dev openmpi-bin libopenblas-dev libdnnl-dev libhdf5-dev hdf5-tools
  libjansson-dev libutf8proc-dev libpcre2-dev libcmocka-dev
  zlib1g-dev libzstd-dev           # .gz and .zst input shards of `prepare` (src/textin)
  libstemmer-dev python3-nltk      # ROUGE's --rouge-stem (Snowball); NLTK's BLEU in tests/metrics
  libsentencepiece-dev python3-sentencepiece python3-regex   # user tokenizers (src/tokenizer/spm_wrap.cc) and their tests
  libprotobuf-c-dev protobuf-c-compiler              # TensorBoard event files (src/history/tb_event.proto)
  protobuf-compiler python3-protobuf python3-crcmod  # ... and the test's independent reader of them
  python3-torch python3-numpy python3-h5py python3-matplotlib
  fortunes fortunes-ru
  slurm-wlm munge                 # the real local Slurm cluster of tests/slurm
  iproute2 util-linux             # emulated nodes of tests/multinode (ip, tc; nsenter, unshare, taskset)
  clang libclang-rt-14-dev libomp-dev   # libFuzzer harnesses of tests/fuzz
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Bundled default corpus (English fortunes, and a Russian one), deterministic split.
./scripts/make_corpus.sh

BUILD_TYPE=${BUILD_TYPE:-Release}
BUILD_DIR=${BUILD_DIR:-build}
if [ "$BUILD_TYPE" = "Asan" ] && [ "$BUILD_DIR" = "build" ]; then BUILD_DIR=build-asan; fi
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" ${CMAKE_ARGS:-}
cmake --build "$BUILD_DIR" -j "$(nproc)"
echo "setup: done. Binary: $BUILD_DIR/expert-dist   Tests: ./scripts/test.sh"
