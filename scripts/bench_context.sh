#!/usr/bin/env bash
# Context length: training tokens/s and peak private memory (RssAnon: what the process
# owns, without mapped file pages) of the engine and of PyTorch, at T = 256 ... 8192 with
# 4096 tokens per step (B = 4096 / T; from T = 8192 one row of T tokens), --preset small
# shapes, --pack, fp32. Then the attention kernel alone at T = 2048: the tiled kernel
# against the pre-tiling one (ed-bench-attention, interleaved in one process).
#
#   scripts/bench_context.sh                        T = 256 512 1024 2048 4096 8192, 2 threads
#   scripts/bench_context.sh --T "256 4096" --steps 3 --threads 1 --no-torch
#   scripts/bench_context.sh --torch-max-T 8192     also PyTorch at 8192 (its T x T scores: ~6 GB)
#   BUILD_DIR=build-rel scripts/bench_context.sh    use/build another build directory
#
# Columns: B x T; ours_tok/s (median of the logged steps after the first) and ours_MB
# (peak RssAnon, sampled every 20 ms); the same for PyTorch (tests/reference/gpt.py
# bench: the same model, AdamW, clip; F.scaled_dot_product_attention where the torch
# has it, else its explicit softmax attention, named in the header); x = our tokens/s over
# PyTorch's. The engine trains on the bundled corpus; PyTorch on random ids of the same
# vocabulary. One run on a shared machine: compare ratios within it, not across runs.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }

Ts="256 512 1024 2048 4096 8192"
steps=4 threads=2 torch=1 torch_max=4096 tokens=4096
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --no-torch) torch=0; shift ;;
    --T|--steps|--threads|--torch-max-T|--tokens)
      [ $# -ge 2 ] || { echo "bench_context.sh: $1 needs a value" >&2; exit 2; }
      case "$1" in --T) Ts=$2 ;; --steps) steps=$2 ;; --threads) threads=$2 ;;
                   --torch-max-T) torch_max=$2 ;; --tokens) tokens=$2 ;; esac
      shift 2 ;;
    *) echo "bench_context.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

BUILD_DIR=${BUILD_DIR:-build}
PY=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ED_PROGRESS=plain OMP_NUM_THREADS=$threads
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" -j 2 --target expert-dist ed-bench-attention >/dev/null
[ -f data/fortunes-train.txt ] || scripts/make_corpus.sh --quiet
EXE=$BUILD_DIR/expert-dist
work=$(mktemp -d /tmp/ed-bench-context.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Runs a command, samples its RssAnon (and its children's) every 20 ms; prints the
# command's stdout, then "peak_rss_anon_mb=<MB>" (MiB).
peak() {
  "$PY" - "$@" <<'EOF'
import os, subprocess, sys, time
def anon(pid):
    total = 0
    for p in [pid] + children(pid):
        try:
            with open(f'/proc/{p}/status') as f:
                for line in f:
                    if line.startswith('RssAnon:'):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total
def children(pid):
    out = []
    try:
        with open(f'/proc/{pid}/task/{pid}/children') as f:
            for c in f.read().split():
                out += [int(c)] + children(int(c))
    except OSError:
        pass
    return out
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
import threading
best = [0]
def sample():
    while p.poll() is None:
        best[0] = max(best[0], anon(p.pid))
        time.sleep(0.02)
t = threading.Thread(target=sample); t.start()
out = p.stdout.read(); p.wait(); t.join()
sys.stdout.write(out)
print(f"peak_rss_anon_mb={best[0] / 1024:.1f}")
sys.exit(p.returncode)
EOF
}

# --train-file named: no validation set (the bundled one is only the default), so no
# validation pass at the end of each run
TRAIN=(--train-file data/fortunes-train.txt --preset small --pack --log-interval 1 --eval-interval 0 --save-every 0
       --threads "$threads")
probe=$("$EXE" "${TRAIN[@]}" --max-steps 1 -o "$work/probe" 2>&1 || true)
echo "$probe" | grep -E "^# (cpu|gemm)" | head -2 || true
echo "# threads: $threads; load: $(uptime | sed 's/.*load average/load average/')"
V=$(sed -n 's/^vocab-size = //p' "$work/probe/config.ini")
tv=$("$PY" -c 'import torch, torch.nn.functional as F; print(torch.__version__, "sdpa" if hasattr(F, "scaled_dot_product_attention") else "explicit softmax attention (no F.scaled_dot_product_attention in this torch)")' 2>/dev/null || echo "none")
[ "$torch" = 1 ] && echo "# pytorch: $tv"
echo "# small preset (D 256, L 4, 4 heads, FF 1024, V $V), fp32, --pack, $tokens tokens per step, $steps steps"
printf "%12s %11s %9s %11s %9s %7s\n" "B x T" "ours_tok/s" "ours_MB" "torch_tok/s" "torch_MB" "x"
for T in $Ts; do
  B=$((tokens / T)); [ "$B" -ge 1 ] || B=1
  rm -rf "$work/run"
  out=$(peak "$EXE" "${TRAIN[@]}" --max-length $((T + 1)) --max-seq-len $((T + 1)) --batch-size "$B" \
        --max-steps "$steps" -o "$work/run")
  ours_mb=$(echo "$out" | sed -n 's/^peak_rss_anon_mb=//p')
  ours=$("$PY" -c '
import json, statistics, sys
r = [json.loads(l)["tokens_per_s"] for l in open(sys.argv[1]) if "\"log\"" in l]
print(f"{statistics.median(r[1:] or r):.0f}")' "$work/run/metrics.jsonl")
  tt="-" tm="-" x="-"
  if [ "$torch" = 1 ] && [ "$T" -le "$torch_max" ]; then
    tout=$(peak "$PY" tests/reference/gpt.py bench --V "$V" --T "$T" --B "$B" --steps $((steps - 2 > 1 ? steps - 2 : 1)) \
           --threads "$threads" --sdpa 1 || true)
    tt=$(echo "$tout" | sed -n 's/.*tok_s=\([0-9.]*\).*/\1/p' | awk '{printf "%.0f", $1}')
    tm=$(echo "$tout" | sed -n 's/^peak_rss_anon_mb=//p')
    [ -n "$tt" ] && x=$(awk -v a="$ours" -v b="$tt" 'BEGIN { printf "%.2f", a / b }') || tt="failed"
  fi
  printf "%12s %11s %9s %11s %9s %7s\n" "$B x $T" "$ours" "$ours_mb" "$tt" "$tm" "$x"
done

echo
echo "== attention kernel alone, fwd + bwd, small's shapes, $tokens tokens per call (ms, median of 5) =="
"$BUILD_DIR/tests/bench/ed-bench-attention" --T 256,2048 --tokens "$tokens" --reps 5 | grep -v "^# cpu"
