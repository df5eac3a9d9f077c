#!/usr/bin/env python3
"""Label smoothing and the logged loss (issue 17 item 5): with --label-smoothing the
gradient is of the smoothed objective, but train_loss (per epoch and per log row) is the
plain cross-entropy, the same quantity as val_loss and `expert-dist eval`.

A model is trained a little without smoothing (so its predictions are far from uniform
and the smoothing term differs from the cross-entropy), then one more epoch runs with
--label-smoothing 0.2 and a learning rate too small to move the weights measurably. That
epoch's train_loss must equal `eval` of the final checkpoint on the training file (the
same windows, the same weights up to ~1e-9), while the smoothed objective would be
far off."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edtest as T  # noqa: E402

args = T.parse_args()
n = args.ranks
d = T.tmpdir()
train = T.corpus(os.path.join(d, "train.txt"), 40, seed=11)
val = T.corpus(os.path.join(d, "val.txt"), 8, seed=12)
out = os.path.join(d, "ck")
common = T.TINY + ["--train-file", train, "--val-file", val, "--batch-size", 4, "--checkpoint-dir", out,
                   "--log-interval", 1]
T.run(args, n, common + ["--epochs", 3, "--lr", "1e-2"], check=0, timeout=180)
T.run(args, n, common + ["--resume", "auto", "--more-epochs", 1, "--lr", "1e-9", "--label-smoothing", "0.2"],
      check=0, timeout=180)
h = T.history(os.path.join(out, "history.json"))
train_loss = h["train_loss"][-1]
p = T.run(args, 1, ["eval", os.path.join(out, "last.h5"), train, "--threads", "1"], check=0)
m = re.search(r"loss ([0-9.]+)", p.stdout)
T.expect(m is not None, "eval prints a loss:\n" + p.stdout)
ev = float(m.group(1))
T.expect(abs(train_loss - ev) < 2e-4 * max(1.0, ev),
         "epoch train_loss %.6f under --label-smoothing 0.2 should be the plain cross-entropy %.6f "
         "that eval measures on the same windows" % (train_loss, ev))
steps = h["steps"]
rows = [l for l, e in zip(steps["loss"], steps["epoch"]) if e == 4]
T.expect(rows and all(abs(x - ev) < 0.05 * ev for x in rows), "logged step losses are plain cross-entropy too: %s" % rows)
print("PASS: train_loss %.5f == eval %.5f with label smoothing (-n %d)" % (train_loss, ev, n))
