#!/usr/bin/env python3
"""`expert-dist prepare` + `train --data-file`: tokenizing once into an HDF5 token file must
not change training. The same corpus trained from text and from its prepared file (word
and BPE tokenizers) gives bit-identical losses and weights; a prepared file with the
wrong layout is a clear error. Also: prepare itself runs under mpirun with N ranks."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edtest as T  # noqa: E402

import h5py  # noqa: E402

args = T.parse_args()
n = args.ranks
d = T.tmpdir()
train = T.corpus(os.path.join(d, "train.txt"), 50, seed=21)
val = T.corpus(os.path.join(d, "val.txt"), 8, seed=22)
common = T.TINY + ["--batch-size", 2, "--log-interval", 2, "--lr", "2e-3"]

for kind in ("word", "bpe"):
    tok = ["--tokenizer", kind, "--vocab-size", 300]
    h5 = os.path.join(d, "data-%s.h5" % kind)
    p = T.run(args, n, ["prepare", "--data-file", h5, "--train-file", train, "--val-file", val] + tok, check=0)
    T.expect("prepared" in p.stdout, "prepare printed no summary:\n" + p.stdout)
    with h5py.File(h5, "r") as f:
        T.expect("train/tokens" in f and "val/tokens" in f, "prepared file lacks /train or /val tokens")
    text_dir, prep_dir = os.path.join(d, "text-" + kind), os.path.join(d, "prep-" + kind)
    T.run(args, n, common + tok + ["--train-file", train, "--val-file", val, "-o", text_dir], check=0)
    T.run(args, n, common + ["--data-file", h5, "-o", prep_dir], check=0)
    ht = T.history(os.path.join(text_dir, "history.json"))
    hp = T.history(os.path.join(prep_dir, "history.json"))
    for key in ("train_loss", "val_loss"):
        T.expect(ht[key] == hp[key], "%s: %s differs, text %s vs prepared %s" % (kind, key, ht[key], hp[key]))
    wt, wp = T.weights(os.path.join(text_dir, "last.h5")), T.weights(os.path.join(prep_dir, "last.h5"))
    T.expect(wt.keys() == wp.keys(), "different tensors")
    for k in wt:
        T.expect((wt[k] == wp[k]).all(), "%s: weight %s differs between text and prepared runs" % (kind, k))

# A prepared file that is not one: one clear line, exit 1, on every world size.
bad = os.path.join(d, "bad.h5")
with h5py.File(bad, "w") as f:
    f["train/tokens"] = [1, 2, 3]
p = T.run(args, n, common + ["--data-file", bad, "-o", os.path.join(d, "bad")], check=1)
ours = [l for l in p.stderr.splitlines() if l.startswith("expert-dist")]  # mpirun adds its own banner
T.expect(len(ours) == 1 and bad in ours[0] and "not a prepared token file" in ours[0],
         "expected one error naming the file:\n" + p.stderr)
# verify: the good file passes; a token id damaged after prepare is found by verify
# (file, dataset, offset) and by training at the first window that holds it: one line,
# exit 1, on every world size, whichever rank drew the window.
good = os.path.join(d, "data-word.h5")
v = T.run(args, n, ["verify", good], check=0)
T.expect("ok" in v.stdout and good in v.stdout, "verify printed no verdict:\n" + v.stdout)
dam = os.path.join(d, "damaged.h5")
with open(good, "rb") as src, open(dam, "wb") as dst:
    dst.write(src.read())
with h5py.File(dam, "r+") as f:
    f["train/tokens"][7] = 60000  # beyond the 300-token vocabulary, still a uint16
v = T.run(args, n, ["verify", dam], check=1)
T.expect(dam in v.stderr and "/train/tokens[7] = 60000" in v.stderr, "verify missed the damage:\n" + v.stderr)
p = T.run(args, n, common + ["--data-file", dam, "-o", os.path.join(d, "dam")], check=1)
ours = [l for l in p.stderr.splitlines() if l.startswith("expert-dist")]
T.expect(len(ours) == 1 and dam in ours[0] and "/train/tokens[7] = 60000 is outside the vocabulary" in ours[0],
         "expected one error naming the file and offset:\n" + p.stderr)
# prepare without an output file is a usage error
T.run(args, n, ["prepare", "--train-file", train], check=2)
print("ok: text and prepared runs identical (word, bpe) on %d rank(s)" % n)
