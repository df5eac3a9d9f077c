#!/usr/bin/env bash
# bench_data.sh — the data path at scale on this machine (README "Data at scale"):
#   1. start-up and memory against corpus size: prepared files of 10 M, 100 M and 1 G
#      tokens (written sparse by gen_prepared): the time to open one (bench_windows) and a
#      whole `train --dry-run` at -n 1, and each rank's peak RSS of a 2-step -n 2 run;
#   2. windows served per second (random windows of a shuffled epoch, cold pages) against
#      what a training step consumes (windows/s of the 2-step run: tokens/s / T);
#   1b. start-up against documents: 64 M tokens as 10^3 .. 10^6 documents, opened with
#      the window index the file stores (stride 64: mapped) and with another shape
#      (stride 32: one pass over the documents), time and bytes held for the corpus;
#   3. `prepare` throughput: a synthetic corpus (the bundled one repeated) in 4 shards as
#      .txt, .txt.gz and .txt.zst directories, at -n 1 and -n 2, with a saved vocabulary
#      and building one (a counting pass first): MB/s of input as stored and of text, and
#      each rank's peak RSS. (--sizes "" skips 1 and 2.)
#   4. read amplification on a cold page cache: a 2^30-token file (1 M documents of 1024
#      tokens, every id written: gen_prepared + scripts/densify_tokens.py, h5py), random
#      windows of 64..1024 tokens served for 2 s after `drop_caches` (needs root; skipped
#      otherwise, or with --amp 0): bytes read from disk (/proc/self/io) and mapped file
#      pages left in the RSS, per window and per token, with the loader's MADV_RANDOM and
#      with the kernel's default (MADV_NORMAL), and the filesystem and read-ahead named.
# Usage: scripts/bench_data.sh [--sizes "10000000 100000000 1073741824"] [--mb 64] [--amp 0|1]
#        (BUILD_DIR=build by default). Prints CPU model, kernels and GEMM backend first;
#        the machine may be shared, so `uptime` is printed with the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES="10000000 100000000 1073741824"
MB=64
AMP=1
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) SIZES=$2; shift 2 ;;
    --mb) MB=$2; shift 2 ;;
    --amp) AMP=$2; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "bench_data.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
BUILD_DIR=${BUILD_DIR:-build}
PY=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 ED_PROGRESS=plain
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" -j2 --target expert-dist gen_prepared bench_windows >/dev/null
[ -f data/fortunes-train.txt ] || scripts/make_corpus.sh --quiet
EXE=$BUILD_DIR/expert-dist
work=$(mktemp -d /tmp/ed-bench-data.XXXXXX)
trap 'rm -rf "$work"' EXIT
MPI="mpirun --oversubscribe --bind-to none -x OMP_NUM_THREADS -x ED_PROGRESS"
MODEL=(--preset tiny --max-length 128 --stride 64 --batch-size 8 --threads 1)

echo "# cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(getconf _NPROCESSORS_ONLN) cores"
$MPI -n 1 $EXE --train-file data/fortunes-val.txt "${MODEL[@]}" --max-steps 1 -o "$work/probe" 2>/dev/null |
  grep -E "^# (cpu|gemm)" | head -2 || true
echo "# load: $(uptime)"

echo
echo "== 1+2. start-up, memory and windows/s against corpus size (max-length 128, stride 64) =="
printf "%-12s %10s %10s %10s %12s %12s %14s %14s\n" tokens file_MB open_ms dryrun_s rss_r0_MB rss_r1_MB windows/s step_win/s
for n in $SIZES; do
  f="$work/c$n.h5"
  "$BUILD_DIR/tests/prepared/gen_prepared" "$f" "$n" 65536 8192 128 64 >/dev/null
  bw=$("$BUILD_DIR/tests/prepared/bench_windows" "$f" 128 64 8 3)
  open_ms=$(echo "$bw" | sed -n 's/.*open_s=\([0-9.]*\).*/\1/p' | awk '{printf "%.1f", $1 * 1000}')
  wps=$(echo "$bw" | sed -n 's/.*windows_per_s=\([0-9]*\).*/\1/p')
  t0=$(date +%s.%N)
  $MPI -n 1 $EXE --data-file "$f" "${MODEL[@]}" --dry-run >/dev/null
  dry=$(echo "$(date +%s.%N) - $t0" | bc)
  out=$($MPI -n 2 $EXE --data-file "$f" "${MODEL[@]}" --max-steps 2 --log-interval 1 -o "$work/run" 2>&1)
  rss=$(echo "$out" | sed -n 's/^peak memory by rank (MB): *//p')
  toks=$(echo "$out" | sed -n 's/.*, \([0-9.]*\) tokens\/s on.*/\1/p' | tail -1)
  step_wps=$(echo "${toks:-0} / 127" | bc -l | awk '{printf "%.0f", $1}')
  printf "%-12s %10.0f %10s %10.2f %12s %12s %14s %14s\n" "$n" "$(echo "$(stat -c %s "$f") / 1048576" | bc -l)" \
    "$open_ms" "$dry" "$(echo "$rss" | awk '{print $1}')" "$(echo "$rss" | awk '{print $2}')" "$wps" "$step_wps"
  rm -rf "$f" "$work/run"
done

echo
echo "== 1b. start-up against documents (64 M tokens; the file stores the index for stride 64) =="
printf "%-10s %10s %16s %16s %18s\n" documents doc_len open_ms_stored open_ms_1pass held_B_1pass
for docs in $([ -n "$SIZES" ] && echo "1000 10000 100000 1000000"); do
  f="$work/d$docs.h5"
  len=$((64000000 / docs))
  "$BUILD_DIR/tests/prepared/gen_prepared" "$f" $((docs * len)) "$len" 8192 128 64 >/dev/null
  # best of 3 opens each (warm page cache: the figure is the work, not the disk)
  best() { for k in 1 2 3; do "$BUILD_DIR/tests/prepared/bench_windows" "$f" 128 "$1" 8 0; done |
           sed -n 's/.*open_s=\([0-9.]*\).*data_bytes=\([0-9]*\).*/\1 \2/p' | sort -n | head -1; }
  s=$(best 64); p=$(best 32)
  printf "%-10s %10s %16.2f %16.2f %18s\n" "$docs" "$len" "$(echo "$s" | awk '{print $1 * 1000}')" \
    "$(echo "$p" | awk '{print $1 * 1000}')" "$(echo "$p" | awk '{print $2}')"
  rm -f "$f"
done

echo
echo "== 3. prepare throughput (~${MB} MB of text in 4 shards, bundled corpus repeated; saved or built vocabulary) =="
# Four shards of whole paragraphs: a compressed shard goes whole to one rank, so ranks
# share compressed input by shard (plain files are also cut inside, by byte range).
mkdir -p "$work/txt" "$work/gz" "$work/zst"
for k in 1 2 3 4; do
  s="$work/txt/shard-$k.txt"
  : > "$s"
  while [ "$(stat -c %s "$s")" -lt $((MB * 1000 * 1000 / 4)) ]; do
    { cat data/fortunes-train.txt; printf '\n\n'; cat data/fortunes-ru-train.txt 2>/dev/null; printf '\n\n'; } >> "$s"
  done
  gzip -1 -c "$s" > "$work/gz/shard-$k.txt.gz"
  if command -v zstd >/dev/null; then zstd -q -3 -c "$s" > "$work/zst/shard-$k.txt.zst"; fi
done
text_mb=$(du -b -c "$work"/txt/* | tail -1 | awk '{print $1 / 1000000}')
$EXE prepare --data-file "$work/v.h5" --train-file data/fortunes-train.txt,data/fortunes-ru-train.txt \
  --tokenizer word --vocab-size 16000 --quiet
$PY -c "import h5py,sys; open(sys.argv[2],'wb').write(h5py.File(sys.argv[1],'r')['tokenizer'][()])" "$work/v.h5" "$work/vocab.json"
printf "%-10s %-6s %6s %10s %10s %12s %12s %14s\n" input vocab ranks input_MB seconds input_MB/s text_MB/s peak_RSS_MB
for codec in txt gz zst; do
  [ -n "$(ls "$work/$codec")" ] || { echo "(zstd command not installed: the .zst rows are skipped)"; continue; }
  in_mb=$(du -b -c "$work/$codec"/* | tail -1 | awk '{print $1 / 1000000}')
  for vocab in saved built; do
    # built: the vocabulary (word, 16000) counted over the ranks in a first pass
    flags=(--vocab-file "$work/vocab.json")
    [ "$vocab" = built ] && flags=(--tokenizer word --vocab-size 16000)
    for r in 1 2; do
      out=$($MPI -n $r $EXE prepare --data-file "$work/p.h5" --train-file "$work/$codec" "${flags[@]}")
      secs=$(echo "$out" | sed -n 's/^prepared .* in \([0-9.]*\) s .*/\1/p')
      rss=$(echo "$out" | sed -n 's/^peak memory by rank (MB): *//p')
      printf "%-10s %-6s %6d %10.1f %10.2f %12.1f %12.1f %14s\n" "$codec" "$vocab" "$r" "$in_mb" "$secs" \
        "$(echo "$in_mb / $secs" | bc -l)" "$(echo "$text_mb / $secs" | bc -l)" "${rss// //}"
      rm -f "$work/p.h5"
    done
  done
done
echo
echo "== 4. read amplification, cold page cache (2^30 tokens, 1 M documents of 1024; batches of 8 windows for 2 s) =="
if [ "$AMP" = 0 ]; then
  echo "(skipped: --amp 0)"
elif [ "$(id -u)" != 0 ]; then
  echo "(skipped: dropping the page cache needs root)"
else
  f="$work/amp.h5"
  "$BUILD_DIR/tests/prepared/gen_prepared" "$f" 1073741824 1024 8192 128 64 >/dev/null
  $PY scripts/densify_tokens.py "$f"
  dev=$(df --output=source "$work" | tail -1)
  blk=$(lsblk -no PKNAME "$dev" 2>/dev/null | head -1); blk=${blk:-$(basename "$dev")}
  echo "# kernel $(uname -r); $(df --output=fstype "$work" | tail -1 | tr -d ' ') on $dev;" \
       "read_ahead_kb $(cat /sys/block/"$blk"/queue/read_ahead_kb 2>/dev/null || echo ?);" \
       "THP $(sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo ?)"
  printf "%-8s %-8s %10s %10s %14s %14s %16s\n" window advice windows/s windows read_B/window read_B/token rss_file_B/window
  for ml in 64 128 512 1024; do
    for advice in random normal; do
      sync; echo 3 > /proc/sys/vm/drop_caches
      bw=$("$BUILD_DIR/tests/prepared/bench_windows" "$f" "$ml" $((ml / 2)) 8 2 $([ $advice = normal ] && echo normal))
      get() { echo "$bw" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
      printf "%-8s %-8s %10s %10s %14s %14s %16s\n" $((ml - 1)) $advice "$(get windows_per_s)" "$(get windows)" \
        "$(get read_per_window)" "$(get read_per_token)" "$(get rss_file_per_window)"
    done
  done
  rm -f "$f"
fi
echo "# load: $(uptime)"
