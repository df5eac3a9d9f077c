#!/usr/bin/env python3
"""--arch llama end to end (a 1-layer Llama with grouped-query attention, 4
heads over 2 key/value heads, an untied head):
  - data parallelism: -n 1 --grad-accum 2 == -n 2 (the same global batch of 4 windows
    per step) to the tolerance of train_equivalence.py, and the loss falls;
  - resume bit-exact with the capabilities on at once (-n 2 --zero 1 --recompute
    --precision bf16, dropout): 8 steps in one go == 4 steps + --resume auto;
  - -n 2 --grad-comm bf16 follows the fp32 run (losses within 1e-2);
  - generate greedily with and without the KV cache: the same text;
  - inspect and --dry-run name the architecture and count the llama's parameters."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edtest as T  # noqa: E402

import numpy as np  # noqa: E402

args = T.parse_args()
d = T.tmpdir()
train = T.corpus(os.path.join(d, "train.txt"), 120, seed=5)
LL = T.TINY + ["--arch", "llama", "--n-heads", "4", "--n-kv-heads", "2", "--train-file", train,
               "--batch-size", 2, "--lr", "1e-3", "--log-interval", 1]

# 1. -n 1 --grad-accum 2 == -n 2
runs = {}
for ranks, accum in ((1, 2), (2, 1)):
    out = os.path.join(d, "eq%d" % ranks)
    T.run(args, ranks, LL + ["--grad-accum", accum, "--max-steps", 12, "--checkpoint-dir", out], check=0, timeout=180)
    h = T.history(os.path.join(out, "history.json"))
    runs[ranks] = (np.array(h["steps"]["loss"]), T.weights(os.path.join(out, "last.h5")))
(l1, w1), (l2, w2) = runs[1], runs[2]
T.expect(len(l1) == 12 and l1[-1] < l1[0], "llama loss did not fall in 12 steps: %s" % l1)
T.expect(np.allclose(l1, l2, rtol=1e-4, atol=0), "-n 2 losses differ from -n 1 --grad-accum 2:\n%s\n%s" % (l2, l1))
T.expect(sorted(w1) == sorted(w2) and "lm_head.weight" in w1 and "blocks.0.k.weight" in w1,
         "unexpected tensors in last.h5: %s" % sorted(w1))
T.expect(w1["blocks.0.k.weight"].shape == (16, 32), "k.weight of 2 key/value heads of 8: %s" % (w1["blocks.0.k.weight"].shape,))
for k in w1:
    T.expect(np.allclose(w1[k], w2[k], rtol=1e-4, atol=2e-5), "%s differs between -n 1 and -n 2" % k)
print("-n 2 vs -n 1 --grad-accum 2: max loss rel diff %.2e" % float(np.max(np.abs(l1 - l2) / l1)))

# 2. resume bit-exact with everything on (--grad-comm bf16 needs --zero 0: below)
every = LL + ["--zero", 1, "--recompute", "--precision", "bf16", "--dropout", "0.1",
              "--save-steps", 4]
full, part = os.path.join(d, "full"), os.path.join(d, "part")
T.run(args, 2, every + ["--max-steps", 8, "--checkpoint-dir", full], check=0, timeout=180)
T.run(args, 2, every + ["--max-steps", 4, "--checkpoint-dir", part], check=0, timeout=180)
T.run(args, 2, every + ["--max-steps", 8, "--checkpoint-dir", part, "--resume", "auto"], check=0, timeout=180)
T.expect_same_run(full, T.history(os.path.join(full, "history.json")), part,
                  T.history(os.path.join(part, "history.json")), "llama resume")

out = os.path.join(d, "wire")
T.run(args, 2, LL + ["--grad-comm", "bf16", "--max-steps", 12, "--checkpoint-dir", out], check=0, timeout=180)
lw = np.array(T.history(os.path.join(out, "history.json"))["steps"]["loss"])
T.expect(np.allclose(lw, l2, rtol=1e-2, atol=0), "--grad-comm bf16 losses far from fp32:\n%s\n%s" % (lw, l2))

# 3. cached generation == uncached
ckpt = os.path.join(d, "eq1", "last.h5")
texts = []
for cache in ("--kv-cache", "--no-kv-cache"):
    p = T.run(args, 1, ["generate", "--checkpoint", ckpt, "--prompt", "the cat", "--max-new-tokens", 30,
                        "--temperature", 0, "--threads", 1, cache], check=0)
    texts.append(p.stdout)
T.expect(texts[0] == texts[1] and len(texts[0].split()) > 10, "kv cache changes the text:\n%s\n%s" % tuple(texts))

# 4. inspect and --dry-run
p = T.run(args, 1, ["inspect", "--checkpoint", ckpt], check=0)
T.expect("model: llama" in p.stdout and "2 key/value heads" in p.stdout and "untied" in p.stdout,
         "inspect does not describe the llama:\n%s" % p.stdout)
n = sum(v.size for v in w1.values())
p = T.run(args, 1, LL + ["--dry-run", "--checkpoint-dir", os.path.join(d, "dry")], check=0)
T.expect("dry run: %d parameters" % n in p.stdout, "--dry-run does not count %d parameters:\n%s" % (n, p.stdout))
print("PASS")
