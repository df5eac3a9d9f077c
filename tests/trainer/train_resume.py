#!/usr/bin/env python3
"""Bit-exact resume: 2 epochs in one go == 1 epoch + `--resume auto` for the second, and
== a run stopped in the middle of epoch 1 (--max-steps) and resumed. Same losses in the
history and the same weights, BYTE FOR BYTE (the same ranks do the same arithmetic in the
same order; everything that feeds a result is in the checkpoint). Also checks that
--save-steps writes step-<N>.h5 and --keep-last rotates them."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edtest as T  # noqa: E402

import numpy as np  # noqa: E402

args = T.parse_args()
n = args.ranks
d = T.tmpdir()
train = T.corpus(os.path.join(d, "train.txt"), 60, seed=2)
val = T.corpus(os.path.join(d, "val.txt"), 12, seed=3)
common = T.TINY + ["--train-file", train, "--val-file", val, "--batch-size", 2, "--grad-accum", 2,
                   "--log-interval", 2, "--lr", "1e-3", "--dropout", "0.1"]


def go(out, flags):
    T.run(args, n, common + ["--checkpoint-dir", out] + flags, check=0, timeout=180)
    return T.history(os.path.join(out, "history.json"))


full = go(os.path.join(d, "full"), ["--epochs", 2])
ep = os.path.join(d, "by_epoch")
go(ep, ["--epochs", 1])
by_epoch = go(ep, ["--epochs", 2, "--resume", "auto"])
mid = os.path.join(d, "mid")
go(mid, ["--epochs", 2, "--max-steps", 3, "--save-steps", 1, "--keep-last", 2])
steps = sorted(f for f in os.listdir(mid) if f.startswith("step-"))
T.expect(steps == ["step-2.h5", "step-3.h5"], "keep-last 2 should leave step-2/3.h5, found %s" % steps)
mid_h = go(mid, ["--epochs", 2, "--resume", "auto"])

ref_w = T.weights(os.path.join(d, "full", "last.h5"))
for name, h, out in (("epoch resume", by_epoch, ep), ("mid-epoch resume", mid_h, mid)):
    for key in ("train_loss", "val_loss", "perplexity", "val_accuracy"):
        T.expect(h[key] == full[key], "%s: %s %s != uninterrupted %s" % (name, key, h[key], full[key]))
    T.expect(h["lr"] == full["lr"] and h["steps"]["grad_norm"] == full["steps"]["grad_norm"],
             "%s: lr or grad norms differ" % name)
    T.expect(h["steps"]["loss"] == full["steps"]["loss"],
             "%s: logged losses differ:\n%s\n%s" % (name, h["steps"]["loss"], full["steps"]["loss"]))
    w = T.weights(os.path.join(out, "last.h5"))
    for k in ref_w:
        T.expect(w[k].tobytes() == ref_w[k].tobytes(),
                 "%s: %s not bit-identical (max diff %g)" % (name, k, np.max(np.abs(w[k] - ref_w[k]))))
T.expect(len(full["train_loss"]) == 2, "expected 2 epochs in the history")

# Another global batch at resume (issue 17 item 1): the epoch continues at the window the
# first run stopped at, whatever the new G, so the epoch sees every window exactly once:
# its target tokens add up to those of an uninterrupted epoch. (The old resume point,
# step_in_epoch x the NEW G, skipped windows 3G..6G of the epoch here.)
import h5py  # noqa: E402


def trainer_attrs(out):
    with h5py.File(os.path.join(out, "last.h5"), "r") as f:
        return {k: int(v) if not isinstance(v, float) else v for k, v in f["trainer"].attrs.items()}


one = os.path.join(d, "one_epoch")
go(one, ["--epochs", 1])
regrouped = os.path.join(d, "regrouped")
go(regrouped, ["--epochs", 1, "--max-steps", 3])
G = 2 * 2 * n
T.expect(trainer_attrs(regrouped)["epoch_windows"] == 3 * G, "3 steps consumed %d windows" % (3 * G))
flags = [f for f in common if f != "--quiet"] + ["--checkpoint-dir", regrouped, "--epochs", 1, "--resume", "auto",
                                                 "--batch-size", 4]
p = T.run(args, n, flags, check=0, timeout=180)
line = [x for x in p.stdout.splitlines() if x.startswith("resuming from")]
T.expect(len(line) == 1 and ("%d of " % (3 * G)) in line[0] and ("global batch %d -> %d" % (G, 2 * G)) in line[0],
         "one line should say where the epoch resumes and that the global batch changed:\n" + p.stdout)
a, b = trainer_attrs(one), trainer_attrs(regrouped)
T.expect(b["epoch"] == 1 and b["tokens_seen"] == a["tokens_seen"],
         "the regrouped epoch saw %d target tokens, the uninterrupted one %d (windows skipped or repeated)"
         % (b["tokens_seen"], a["tokens_seen"]))
print("PASS: resumed runs are bit-identical to the uninterrupted one (-n %d)" % n)
