#!/usr/bin/env python3
"""Early stopping: a small training set the model memorises and a validation set of
other random text, so val loss soon stops improving. With --early-stopping-patience 2
the run must stop before --epochs 40, every rank must exit 0, and the history must show
the rule: the best val loss is exactly `patience` epochs before the last one."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edtest as T  # noqa: E402

args = T.parse_args()
d = T.tmpdir()
train = T.corpus(os.path.join(d, "train.txt"), 16, seed=4)
val = T.corpus(os.path.join(d, "val.txt"), 8, seed=5)
out = os.path.join(d, "ck")
p = T.run(args, args.ranks, T.TINY + ["--train-file", train, "--val-file", val, "--batch-size", 4, "--epochs", 40,
                                      "--lr", "1e-2", "--early-stopping-patience", 2, "--checkpoint-dir", out],
          check=0, timeout=180)
h = T.history(os.path.join(out, "history.json"))
vl = h["val_loss"]
T.expect(2 < len(vl) < 40, "expected early stopping before epoch 40, ran %d epochs: %s" % (len(vl), vl))
best = vl.index(min(vl))
T.expect(best == len(vl) - 3, "best epoch %d should be 2 before the last (%d): %s" % (best + 1, len(vl), vl))
T.expect(os.path.exists(os.path.join(out, "best.h5")) and os.path.exists(os.path.join(out, "last.h5")),
         "best.h5 and last.h5 expected")
T.expect("early stopping" in p.stdout, "the summary should say early stopping:\n" + p.stdout)
print("PASS: stopped after %d epochs, best at epoch %d (-n %d)" % (len(vl), best + 1, args.ranks))
