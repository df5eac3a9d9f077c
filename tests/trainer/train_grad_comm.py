#!/usr/bin/env python3
"""--grad-comm bf16 (gradients on the wire as bf16, summed in fp32) against fp32: the same
300-step run on the bundled corpus (tiny preset, cut down: vocabulary 2000, 2 windows of
32 tokens per rank and step) must log a loss within 1% of the fp32 run's at every step,
and must differ from it somewhere (else bf16 never reached the wire). Needs 2+ ranks:
on one rank nothing is communicated and both runs are the same."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edtest as T  # noqa: E402

import numpy as np  # noqa: E402

args = T.parse_args()
if args.ranks < 2:
    print("skip: bf16 communication needs 2+ ranks")
    sys.exit(T.SKIP)
data = os.path.join(args.source_dir, "data")
if not os.path.exists(os.path.join(data, "fortunes-train.txt")):
    T.fail("the bundled corpus is missing (scripts/setup.sh builds it in data/)")
d = T.tmpdir()
loss = {}
for comm in ("fp32", "bf16"):
    out = os.path.join(d, comm)
    T.run(args, args.ranks, ["--preset", "tiny", "--tokenizer", "word", "--vocab-size", 2000, "--batch-size", 2, "--max-length", 32,
                             "--stride", 32, "--max-steps", 300, "--log-interval", 1, "--val-file", "",
                             "--train-file", os.path.join(data, "fortunes-train.txt"), "--threads", 1, "--quiet",
                             "--grad-comm", comm, "-o", out], check=0, timeout=600)
    loss[comm] = np.array(T.history(os.path.join(out, "history.json"))["steps"]["loss"])
    T.expect(len(loss[comm]) == 300, "%s: %d logged steps, want 300" % (comm, len(loss[comm])))
a, b = loss["fp32"], loss["bf16"]
T.expect(a[-20:].mean() < a[:20].mean() - 0.5, "fp32 loss did not fall: %s ... %s" % (a[:3], a[-3:]))
rel = np.abs(b - a) / a
T.expect(rel.max() < 0.01, "bf16 loss off by %.3g%% at step %d (%g vs %g)"
         % (100 * rel.max(), int(rel.argmax()) + 1, b[rel.argmax()], a[rel.argmax()]))
T.expect(rel.max() > 0, "bf16 and fp32 runs are identical: bf16 never went on the wire")
print("PASS: 300 steps at -n %d, bf16 vs fp32 loss: max rel diff %.2e (step %d), final %.4f vs %.4f"
      % (args.ranks, rel.max(), int(rel.argmax()) + 1, b[-1], a[-1]))
