#!/usr/bin/env python3
"""`expert-dist prepare` + `train --data-file`: tokenizing once into an HDF5 token file must
not change training. The same corpus trained from text and from its prepared file (word
and BPE tokenizers) gives bit-identical losses and weights; a prepared file with the
wrong layout is a clear error. Also: prepare itself runs under mpirun with N ranks.
The window index prepare stores (--max-length/--stride, here TINY's 24/12) is mapped by a
run of that shape; a copy without it, or a run of another shape, builds it in one pass
(with one info line saying so): all bit-identical. A damaged stored index is one line
naming the file and entry, from train and from verify."""
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
    p = T.run(args, n, ["prepare", "--data-file", h5, "--train-file", train, "--val-file", val, "--max-length", 24,
                        "--stride", 12] + tok, check=0)
    T.expect("prepared" in p.stdout, "prepare printed no summary:\n" + p.stdout)
    with h5py.File(h5, "r") as f:
        T.expect("train/tokens" in f and "val/tokens" in f, "prepared file lacks /train or /val tokens")
        wb = f["train/window_blocks"]
        T.expect(wb.attrs["max_length"] == 24 and wb.attrs["stride"] == 12 and wb.attrs["block_docs"] == 64,
                 "window index attributes: %s" % dict(wb.attrs))
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
    if kind != "word":
        continue
    # the stored index vs the one-pass index: a copy without /*/window_blocks, verbose, so
    # the info line shows; the stored run prints none
    bare = os.path.join(d, "bare.h5")
    with open(h5, "rb") as src, open(bare, "wb") as dst:
        dst.write(src.read())
    with h5py.File(bare, "r+") as f:
        del f["train/window_blocks"]
        del f["val/window_blocks"]
    loud = [x for x in common if x != "--quiet"]
    runs = {}
    for name, path in (("stored", h5), ("bare", bare)):
        out = os.path.join(d, name)
        runs[name] = (out, T.run(args, n, loud + ["--data-file", path, "-o", out], check=0))
    info = [l for l in runs["bare"][1].stdout.splitlines() if l.startswith("info:")]
    T.expect(len(info) == 1 and "one pass over 50 documents" in info[0] and "the file stores none" in info[0]
             and "--max-length 24 --stride 12" in info[0], "expected one info line on the one-pass run:\n" +
             runs["bare"][1].stdout)
    T.expect(not [l for l in runs["stored"][1].stdout.splitlines() if l.startswith("info:")],
             "the run with the stored index printed an info line:\n" + runs["stored"][1].stdout)
    T.expect_same_run(runs["stored"][0], T.history(os.path.join(runs["stored"][0], "history.json")), runs["bare"][0],
                      T.history(os.path.join(runs["bare"][0], "history.json")), "stored vs one-pass window index")
    # another stride than the stored one: the one-pass path, saying what the file holds
    p = T.run(args, n, loud + ["--stride", 7, "--data-file", h5, "-o", os.path.join(d, "s7")], check=0)
    T.expect("stores it for --max-length 24 --stride 12" in p.stdout and "--max-length 24 --stride 7" in p.stdout,
             "no info line for another stride:\n" + p.stdout)

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
# a stored window index rewritten in place (entry 1 of 1 + ceil(50/64) = 2: its end,
# checked at open): one line naming the file and the entry, from train and from verify
wdam = os.path.join(d, "wdamaged.h5")
with open(good, "rb") as src, open(wdam, "wb") as dst:
    dst.write(src.read())
with h5py.File(wdam, "r+") as f:
    f["train/window_blocks"][1] += 5
p = T.run(args, n, common + ["--data-file", wdam, "-o", os.path.join(d, "wdam")], check=1)
ours = [l for l in p.stderr.splitlines() if l.startswith("expert-dist")]
T.expect(len(ours) == 1 and wdam in ours[0] and "/train/window_blocks[0]" in ours[0] and "damaged" in ours[0],
         "expected one error naming the file and the index entry:\n" + p.stderr)
v = T.run(args, n, ["verify", wdam], check=1)
T.expect(wdam in v.stderr and "/train/window_blocks[1] = " in v.stderr, "verify missed the window index:\n" + v.stderr)
# prepare without an output file is a usage error
T.run(args, n, ["prepare", "--train-file", train], check=2)
print("ok: text and prepared runs identical (word, bpe) on %d rank(s)" % n)
