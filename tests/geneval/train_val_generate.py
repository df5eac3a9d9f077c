#!/usr/bin/env python3
"""train --val-generate end to end on a tiny model (-n 2 by default):
  - every --val-generate-every 2nd validation and the last one carry BLEU and ROUGE in
    metrics.jsonl and history.json (null / NaN at the others), the same numbers in both,
    and TensorBoard has them (val/bleu, val/rouge1, val/rouge2, val/rougeL);
  - --best-metric bleu: best.h5 is the model of the highest logged BLEU, which
    `eval best.h5 REFS --generate` reproduces to the printed digit;
  - a resumed run (--more-epochs) keeps the history's BLEU columns aligned with its
    validations (they travel in the checkpoint's /history)."""
import json
import math
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "trainer"))
import edtest as T  # noqa: E402

args = T.parse_args()
d = T.tmpdir()
SENTS = ["the cat sat on a mat and the dog ran to the big red house",
         "a small town with green tree near old river under blue sky",
         "over tall hill by quiet lake the dog ran to small town"]
r = random.Random(3)
train = os.path.join(d, "train.txt")
with open(train, "w") as f:
    f.write("\n\n".join(SENTS[r.randrange(len(SENTS))] + "." for _ in range(120)) + "\n")
refs = os.path.join(d, "refs.jsonl")
with open(refs, "w") as f:
    for s in SENTS:
        w = s.split()
        f.write(json.dumps({"prompt": " ".join(w[:3]), "reference": " ".join(w[3:])}) + "\n")
out = os.path.join(d, "ck")
base = T.TINY + ["--train-file", train, "--val-file", train, "--batch-size", 4, "--lr", "3e-3", "-o", out,
                 "--val-generate", refs, "--val-generate-every", 2, "--best-metric", "bleu", "-n", 12,
                 "--sample-tokens", 0]
tb = os.path.join(d, "tb")
p = T.run(args, args.ranks, base + ["--epochs", 2, "--eval-interval", 4, "--tensorboard", tb], check=0, timeout=300)


def val_rows():
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [x for x in map(json.loads, f) if x["type"] == "val"]


rows = val_rows()
T.expect(len(rows) >= 4, "too few validations: %d\n%s" % (len(rows), p.stdout))
for i, x in enumerate(rows):
    scored = (i + 1) % 2 == 0 or i == len(rows) - 1
    T.expect((x["bleu"] is not None) == scored,
             "validation %d (step %d): bleu %r, expected %s" % (i, x["step"], x["bleu"], "a score" if scored else "null"))
hist = T.history(os.path.join(out, "history.json"))["evals"]
T.expect(len(hist["bleu"]) == len(rows) == len(hist["step"]), "history evals and metrics.jsonl disagree")
for h, x in zip(hist["bleu"], rows):
    T.expect((x["bleu"] is None and (h is None or math.isnan(h))) or abs(h - x["bleu"]) < 1e-6,
             "history bleu %r vs metrics.jsonl %r" % (h, x["bleu"]))
T.expect(re.search(r"BLEU [0-9.]+ ROUGE-1 [0-9.]+ ROUGE-2 [0-9.]+ ROUGE-L [0-9.]+", p.stdout) or "--quiet" in base,
         "no BLEU on the validation lines:\n" + p.stdout)

# TensorBoard got the scores under val/bleu ... (tests/history checks the records themselves)
events = b"".join(open(os.path.join(tb, f), "rb").read() for f in os.listdir(tb))
T.expect(all(tag in events for tag in (b"val/bleu", b"val/rouge1", b"val/rouge2", b"val/rougeL")),
         "the TensorBoard events lack the val/bleu ... tags")

# best.h5 holds the best logged BLEU: eval --generate reproduces it
best = max(x["bleu"] for x in rows if x["bleu"] is not None)
T.expect(best > 0, "the model never produced a matching word (BLEU 0 everywhere)")
e = T.run(args, args.ranks, ["eval", os.path.join(out, "best.h5"), refs, "--generate", "-n", 12, "-t", 1],
          check=0, timeout=120)
m = re.search(r"BLEU ([0-9.]+)", e.stdout)
T.expect(m and abs(float(m.group(1)) - best) <= 0.005 + 1e-9,
         "eval --generate on best.h5 gives %s, the best logged BLEU is %.4f:\n%s" % (m and m.group(1), best, e.stdout))

# resume: the BLEU columns continue, aligned with the validations
T.run(args, args.ranks, base + ["--epochs", 2, "--eval-interval", 4, "--resume", "auto", "--more-epochs", 1],
      check=0, timeout=300)
hist2 = T.history(os.path.join(out, "history.json"))["evals"]
T.expect(len(hist2["bleu"]) == len(hist2["step"]) > len(hist["step"]),
         "after the resume: %d bleu values for %d validations" % (len(hist2["bleu"]), len(hist2["step"])))
T.expect(hist2["bleu"][:len(hist["bleu"])] == hist["bleu"], "the resumed run rewrote earlier BLEU values")
print("OK: %d validations, best BLEU %.2f reproduced by eval --generate; resumed run: %d validations"
      % (len(rows), best, len(hist2["step"])))
