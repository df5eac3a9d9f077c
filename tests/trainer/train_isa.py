#!/usr/bin/env python3
"""Kernel paths end to end: the same training run forced onto each ISA path this CPU runs
(ED_ISA=baseline, avx2, avx512 in a portable build; native in an -DED_NATIVE=ON build) gives
the same per-step losses and final weights to fp32 tolerance; the banner names the path;
a path the CPU or the build lacks, and an unknown name, are one-line usage errors (exit 2)
on every rank before any work. Paths this CPU lacks are reported as SKIPPED.

Tolerance as in train_equivalence.py: the paths differ only in vector width, i.e. in the
order of fp32 reductions (LayerNorm sums, softmax sums, cross-entropy), ~1e-7 relative per
step; Adam amplifies that for near-zero gradients. rtol 1e-4 on losses, atol 2e-5 +
rtol 1e-4 on weights; a kernel bug moves losses at the 1e-2 level."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edtest as T  # noqa: E402

import numpy as np  # noqa: E402

ALL = ("baseline", "avx2", "avx512", "native")
args = T.parse_args()
d = T.tmpdir()
train = T.corpus(os.path.join(d, "train.txt"), 80, seed=3)
flags = [f for f in T.TINY if f != "--quiet"] + [
    "--train-file", train, "--val-file", "", "--batch-size", 2, "--max-steps", 12, "--log-interval", 1,
    "--lr", "1e-3", "--dropout", "0.1"]

p = T.run(args, args.ranks, flags + ["--checkpoint-dir", os.path.join(d, "auto")], check=0, timeout=180)
m = re.search(r"^# cpu: .*; kernels: (\w+) \(ED_ISA=auto; this CPU runs: ([\w ]+)\)$", p.stdout, re.M)
T.expect(m, "no kernels line in the banner:\n" + p.stdout[:3000])
chosen, runs = m.group(1), m.group(2).split()
T.expect(chosen == runs[-1], "auto chose %s, the widest path the CPU runs is %s" % (chosen, runs[-1]))
print("banner:", m.group(0))

ref = None
for path in runs:
    out = os.path.join(d, path)
    p = T.run(args, args.ranks, flags + ["--checkpoint-dir", out], check=0, timeout=180, env={"ED_ISA": path})
    T.expect(re.search(r"^# cpu: .*; kernels: %s \(ED_ISA=%s;" % (path, path), p.stdout, re.M),
             "ED_ISA=%s: the banner does not name the forced path:\n%s" % (path, p.stdout[:3000]))
    loss = np.array(T.history(os.path.join(out, "history.json"))["steps"]["loss"])
    w = T.weights(os.path.join(out, "last.h5"))
    T.expect(len(loss) == 12, "ED_ISA=%s: %d logged steps" % (path, len(loss)))
    if ref is None:
        ref = (path, loss, w)
        continue
    T.expect(np.allclose(loss, ref[1], rtol=1e-4, atol=0),
             "ED_ISA=%s losses differ from %s:\n%s\n%s" % (path, ref[0], loss, ref[1]))
    for k in w:
        T.expect(np.allclose(w[k], ref[2][k], rtol=1e-4, atol=2e-5),
                 "ED_ISA=%s: %s differs from %s (max abs diff %g)" % (path, k, ref[0], np.max(np.abs(w[k] - ref[2][k]))))
    print("ED_ISA=%s vs %s: max loss rel diff %.2e, max weight abs diff %.2e" % (
        path, ref[0], float(np.max(np.abs(loss - ref[1]) / ref[1])),
        max(float(np.max(np.abs(w[k] - ref[2][k]))) for k in w)))

for path in [a for a in ALL if a not in runs] + ["sse9"]:
    p = T.run(args, args.ranks, flags + ["--checkpoint-dir", os.path.join(d, "x")], check=2, timeout=60,
              env={"ED_ISA": path})
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("expert-dist:")]  # not mpirun's notes
    T.expect(len(lines) == 1 and lines[0].startswith("expert-dist: ED_ISA=%s: " % path),
             "ED_ISA=%s: expected one error line, got:\n%s" % (path, p.stderr))
    T.expect("# model" not in p.stdout, "ED_ISA=%s: the run started anyway" % path)
    if path != "sse9":
        print("SKIPPED %s (refused as expected: %s)" % (path, lines[0]))
print("PASS")
