#!/usr/bin/env python3
"""ZeRO-1 (--zero 1): each rank keeps the AdamW moments of one slice of the parameters,
updates that slice and all-gathers the weights. The arithmetic per element is the same as
with a replicated optimizer, so a --zero 1 run must be BIT-identical to --zero 0: weights,
the optimizer moments in last.h5 (gathered to rank 0 for the write) and the history.
Resuming works across the two modes (the checkpoint holds the whole optimizer; a ZeRO
rank reads only its slice)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edtest as T  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402

args = T.parse_args()
n = args.ranks
d = T.tmpdir()
train = T.corpus(os.path.join(d, "train.txt"), 50, seed=13)
val = T.corpus(os.path.join(d, "val.txt"), 8, seed=14)
common = T.TINY + ["--train-file", train, "--val-file", val, "--batch-size", 2, "--log-interval", 2, "--lr", "2e-3"]


def go(out, flags):
    T.run(args, n, common + ["-o", out] + flags, check=0, timeout=180)
    return T.history(os.path.join(out, "history.json"))


def state(out):
    res = {}
    with h5py.File(os.path.join(out, "last.h5"), "r") as f:
        for g in ("model", "optimizer/m", "optimizer/v"):
            f[g].visititems(lambda k, o: res.__setitem__(g + "/" + k, np.array(o)) if isinstance(o, h5py.Dataset) else None)
    return res


def same(a_dir, ha, b_dir, hb, what):
    for key in ("train_loss", "val_loss"):
        T.expect(ha[key] == hb[key], "%s: %s differs:\n%s\n%s" % (what, key, ha[key], hb[key]))
    T.expect(ha["steps"]["loss"] == hb["steps"]["loss"], "%s: logged losses differ" % what)
    sa, sb = state(a_dir), state(b_dir)
    T.expect(sorted(sa) == sorted(sb) and len(sa) > 3, "%s: different datasets in last.h5" % what)
    for k in sa:
        T.expect(sa[k].tobytes() == sb[k].tobytes(),
                 "%s: %s not bit-identical (max diff %g)" % (what, k, np.max(np.abs(sa[k] - sb[k]))))


z0, z1 = os.path.join(d, "z0"), os.path.join(d, "z1")
h0 = go(z0, ["--epochs", 2, "--zero", 0])
h1 = go(z1, ["--epochs", 2, "--zero", 1])
same(z0, h0, z1, h1, "--zero 1 vs --zero 0")

r = os.path.join(d, "resume")
go(r, ["--epochs", 1, "--zero", 0])
hr = go(r, ["--epochs", 2, "--zero", 1, "--resume", "auto"])
same(z0, h0, r, hr, "--zero 0 checkpoint resumed with --zero 1")

p = T.run(args, n, ["--dry-run", "--zero", 1] + common + ["-o", os.path.join(d, "dry")], check=0, timeout=60)
T.expect("optimizer" in p.stdout, "dry run memory report:\n" + p.stdout)
print("PASS: --zero 1 is bit-identical to --zero 0, and resumes across modes (-n %d)" % n)
