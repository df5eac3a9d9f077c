#!/usr/bin/env python3
"""Scale: per-rank memory does not grow with the corpus (ctest label "scale").

A prepared file of 2^30 tokens (2 GiB, written sparse by gen_prepared in about a second)
and one 1024x smaller, same vocabulary, same model: `mpirun -n 2 ... --data-file F
--max-steps 3` on each. The token file is memory-mapped, so each rank's peak RSS (the
trainer's "peak memory by rank") must be within 20% between the two runs, and within 20%
of what --dry-run predicts for that run: "peak rank 0" for rank 0 (it writes last.h5),
"total/rank" (+ the "comm scratch" the report names, Open MPI's temporaries on some
ranks) for the others. The files store the window index for the run's shape (512/512),
so start-up maps it like the tokens and reads nothing per document (startup_o1.py checks
that on its own). The big file is deleted at the end. No timing is asserted."""
import argparse
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "trainer"))
import edtest as T  # noqa: E402

args = T.parse_args(lambda p: p.add_argument("--gen", required=True))
n = args.ranks
d = T.tmpdir()
BIG, DOC, VOCAB = 1 << 30, 1 << 16, 16384
MODEL = ["--d-model", 256, "--n-layers", 1, "--n-heads", 4, "--d-ff", 512, "--max-seq-len", 512, "--max-length", 512,
         "--stride", 512, "--batch-size", 4, "--pad-to-max", "--threads", 1, "--quiet"]


def gen(name, tokens):
    path = os.path.join(d, name)
    subprocess.run([args.gen, path, str(tokens), str(DOC), str(VOCAB), "512", "512"], check=True, capture_output=True)
    return path


def dry(path):
    p = T.run(args, n, MODEL + ["--data-file", path, "--dry-run"], check=0, timeout=120)
    get = lambda pat: re.search(pat, p.stdout)  # noqa: E731
    total, peak0, mapped = get(r"total/rank\s+([\d.]+) MB"), get(r"peak rank 0\s+([\d.]+) MB"), get(
        r"mapped data\s+([\d.]+) MB")
    scratch = get(r"comm scratch\s+([\d.]+) MB")
    T.expect(total and peak0 and mapped, "dry-run report lacks total/rank, peak rank 0 or mapped data:\n" + p.stdout)
    return float(total.group(1)), float(peak0.group(1)), float(mapped.group(1)), float(scratch.group(1)) if scratch else 0.0


def real(path, name):
    out = os.path.join(d, name)
    p = T.run(args, n, MODEL + ["--data-file", path, "--max-steps", 3, "-o", out], check=0, timeout=600)
    m = re.search(r"peak memory by rank \(MB\):((?: [\d.]+)+)", p.stdout)
    T.expect(m, "no peak memory line in the summary:\n" + p.stdout)
    shutil.rmtree(out, ignore_errors=True)
    return [float(x) for x in m.group(1).split()]


try:
    big = gen("big.h5", BIG)
    small = gen("small.h5", BIG // 1024)
    res = {}
    for name, path in (("big", big), ("small", small)):
        total, peak0, mapped, scratch = dry(path)
        rss = real(path, name)
        res[name] = (total, peak0, mapped, scratch, rss)
        print("%-5s %6.0f MB mapped: dry run total/rank %.1f MB, peak rank 0 %.1f MB, comm scratch %.1f MB; "
              "peak RSS by rank %s MB" % (name, mapped, total, peak0, scratch, rss))
    T.expect(res["big"][2] > 2000 and res["small"][2] < 4, "mapped sizes: %.1f and %.1f MB" % (res["big"][2], res["small"][2]))
    for r in range(n):
        a, b = res["big"][4][r], res["small"][4][r]
        T.expect(abs(a - b) <= 0.20 * b, "rank %d: peak RSS %.1f MB with 2^30 tokens vs %.1f MB with 2^20: more than "
                                         "20%% apart" % (r, a, b))
        for name in ("big", "small"):
            total, peak0, _, scratch, rss = res[name]
            got = rss[r]
            pred = [peak0] if r == 0 else [total, total + scratch]
            T.expect(any(abs(got - p) <= 0.20 * got for p in pred),
                     "%s run, rank %d: peak RSS %.1f MB, the dry run predicts %s MB (20%% allowed)" % (name, r, got, pred))
    print("ok: per-rank peak RSS independent of the corpus (2^30 vs 2^20 tokens) and predicted, on %d rank(s)" % n)
finally:
    shutil.rmtree(d, ignore_errors=True)
