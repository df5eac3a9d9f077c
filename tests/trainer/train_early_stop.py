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

# Continuing a stopped run (issue 17 item 2). The same command again: nothing to do.
import h5py  # noqa: E402


def state():
    with h5py.File(os.path.join(out, "last.h5"), "r") as f:
        return {k: f["trainer"].attrs[k] for k in ("epoch", "global_step", "stop", "bad_evals")}


flags = T.TINY + ["--train-file", train, "--val-file", val, "--batch-size", 4, "--lr", "1e-2",
                  "--checkpoint-dir", out, "--resume", "auto"]
s0 = state()
T.expect(s0["stop"] == 1 and s0["epoch"] == len(vl), "last.h5 holds the early stop: %s" % s0)
T.run(args, args.ranks, flags + ["--epochs", 40, "--early-stopping-patience", 2], check=0, timeout=180)
T.expect(state()["global_step"] == s0["global_step"], "resuming a stopped run with the same patience trains nothing")
# --more-epochs 2: exactly two more epochs, the stop cleared.
p = T.run(args, args.ranks, [f for f in flags if f != "--quiet"] + ["--more-epochs", 2, "--early-stopping-patience", 2],
          check=0, timeout=180)
s1 = state()
h1 = T.history(os.path.join(out, "history.json"))
T.expect(s1["epoch"] == s0["epoch"] + 2 and len(h1["val_loss"]) == len(vl) + 2 and s1["global_step"] > s0["global_step"],
         "--more-epochs 2 after an early stop trains 2 more epochs: %s -> %s\n%s" % (s0, s1, p.stdout))
T.expect("--more-epochs 2: training to epoch %d" % (s0["epoch"] + 2) in p.stdout, "--more-epochs says so:\n" + p.stdout)
# The command: --epochs as a total, patience off: the run continues to that total.
T.run(args, args.ranks, flags + ["--epochs", s1["epoch"] + 2, "--early-stopping-patience", 0], check=0, timeout=180)
s2 = state()
T.expect(s2["epoch"] == s1["epoch"] + 2 and s2["stop"] == 0,
         "--resume with --early-stopping-patience 0 continues to --epochs: %s -> %s" % (s1, s2))
# --more-epochs without a checkpoint to continue is a usage error.
p = T.run(args, 1, T.TINY + ["--train-file", train, "--more-epochs", 2], check=2)
T.expect("--resume" in p.stderr, "--more-epochs without --resume names --resume: " + p.stderr)
print("PASS: stopped after %d epochs, best at epoch %d (-n %d)" % (len(vl), best + 1, args.ranks))
