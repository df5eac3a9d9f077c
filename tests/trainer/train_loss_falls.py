#!/usr/bin/env python3
"""The loss falls on the bundled corpus (data/fortunes-train.txt) in a short run: 40 steps
of a small model with -n N. Compares the mean loss of the first and last 10 logged steps
(uniform guessing over 2000 words is ln 2000 = 7.6; unigram statistics alone bring it
well below that, so a working trainer drops by > 1 nat; a broken update does not)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edtest as T  # noqa: E402

args = T.parse_args()
data = os.path.join(args.source_dir, "data")
if not os.path.exists(os.path.join(data, "fortunes-train.txt")):
    print("SKIP: bundled corpus not built (scripts/make_corpus.sh)")
    sys.exit(T.SKIP)
d = T.tmpdir()
out = os.path.join(d, "ck")
flags = ["--d-model", 64, "--n-layers", 1, "--n-heads", 2, "--d-ff", 128, "--max-seq-len", 64,
         "--max-length", 64, "--stride", 32, "--tokenizer", "word", "--vocab-size", 2000, "--threads", 1, "--quiet",
         "--batch-size", 8, "--max-steps", 40, "--log-interval", 1, "--lr", "3e-3", "--checkpoint-dir", out]
T.run(args, args.ranks, flags, check=0, timeout=240, env={"ED_DATA_DIR": data})
loss = T.history(os.path.join(out, "history.json"))["steps"]["loss"]
first, last = sum(loss[:10]) / 10, sum(loss[-10:]) / 10
T.expect(len(loss) == 40, "expected 40 logged steps, got %d" % len(loss))
T.expect(last < first - 1.0, "loss did not fall: first 10 steps %.3f, last 10 steps %.3f" % (first, last))
print("PASS: loss %.3f -> %.3f in 40 steps (-n %d)" % (first, last, args.ranks))
