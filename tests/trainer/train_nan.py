#!/usr/bin/env python3
"""NaN/Inf policy. SGD with lr 1e30 and no clipping blows the weights up after one step, so
every later loss is NaN (an honest way to produce one, no fault injection needed).
  --on-nan stop: exit 1 on every rank, one message from rank 0;
  --on-nan skip: the updates are skipped and counted, the run finishes (exit 0), and the
                 written checkpoint holds only finite weights."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edtest as T  # noqa: E402

import numpy as np  # noqa: E402

args = T.parse_args()
d = T.tmpdir()
train = T.corpus(os.path.join(d, "train.txt"), 40, seed=8)
flags = T.TINY + ["--train-file", train, "--batch-size", 2, "--max-steps", 5, "--log-interval", 1,
                  "--optimizer", "sgd", "--lr", "1e30", "--max-grad-norm", 0]

p = T.run(args, args.ranks, flags + ["--on-nan", "stop", "-o", os.path.join(d, "stop")], timeout=120)
T.expect(p.returncode == 1, "--on-nan stop: expected exit 1, got %d\n%s" % (p.returncode, p.stderr))
errs = [l for l in p.stderr.splitlines() if l.startswith("expert-dist:")]
T.expect(len(errs) == 1 and "not finite (--on-nan stop)" in errs[0], "one error line expected:\n" + p.stderr)

out = os.path.join(d, "skip")
p = T.run(args, args.ranks, flags + ["--on-nan", "skip", "-o", out], check=0, timeout=120)
T.expect("NaN steps skipped" in p.stdout, "the summary should count skipped steps:\n" + p.stdout)
loss = T.history(os.path.join(out, "history.json"))["steps"]["loss"]
T.expect(loss[0] is not None and all(x is None for x in loss[1:]),
         "step 1 finite, later steps NaN (null): %s" % loss)
w = T.weights(os.path.join(out, "last.h5"))
T.expect(all(np.all(np.isfinite(v)) for v in w.values()), "last.h5 holds non-finite weights")
print("PASS: on-nan stop and skip (-n %d)" % args.ranks)
