#!/usr/bin/env python3
"""--recompute (activation recomputation) changes memory, never results: a run with it
must be BIT-identical to one without (history, every weight and optimizer moment in
last.h5), with dropout and gradient accumulation on, at any rank count; a run may switch
it on at resume; and --dry-run must report fewer activation bytes with it."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edtest as T  # noqa: E402


args = T.parse_args()
n = args.ranks
d = T.tmpdir()
train = T.corpus(os.path.join(d, "train.txt"), 40, seed=21)
val = T.corpus(os.path.join(d, "val.txt"), 8, seed=22)
# Three layers, so two blocks are recomputed (the top one never is); dropout exercises the
# per-layer seeds; grad-accum 2 exercises accumulation across recomputed backwards.
common = T.TINY + ["--n-layers", 3, "--dropout", "0.1", "--grad-accum", 2, "--train-file", train,
                   "--val-file", val, "--batch-size", 2, "--log-interval", 1, "--lr", "3e-3"]


def go(out, flags):
    T.run(args, n, common + ["-o", out] + flags, check=0, timeout=180)
    return T.history(os.path.join(out, "history.json"))


plain, rec = os.path.join(d, "plain"), os.path.join(d, "rec")
hp = go(plain, ["--epochs", 2])
hr = go(rec, ["--epochs", 2, "--recompute"])
T.expect(len(hp["steps"]["loss"]) >= 4, "too few logged steps to compare: %s" % hp["steps"])
T.expect(hp["train_loss"][-1] < hp["train_loss"][0], "the loss did not fall: %s" % hp["train_loss"])
T.expect_same_run(plain, hp, rec, hr, "--recompute vs without")

res = os.path.join(d, "resumed")
go(res, ["--epochs", 1])
hres = go(res, ["--epochs", 2, "--recompute", "--resume", "auto"])
T.expect_same_run(plain, hp, res, hres, "resumed with --recompute")


def activations(flags):
    p = T.run(args, n, ["--dry-run"] + common + ["-o", os.path.join(d, "dry")] + flags, check=0, timeout=60)
    m = re.search(r"activations\s+([\d.]+) MB", p.stdout)
    T.expect(m, "no activations line in the dry-run report:\n" + p.stdout)
    return float(m.group(1))


a0, a1 = activations([]), activations(["--recompute"])
print("activations: %.3f MB without, %.3f MB with --recompute" % (a0, a1))
T.expect(a1 < a0, "--recompute does not lower the reported activation memory (%.3f vs %.3f MB)" % (a1, a0))
print("ok: --recompute bit-identical at -n %d" % n)
