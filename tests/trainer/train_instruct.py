#!/usr/bin/env python3
"""Instruction data end to end (--format instruct, issue 23 item 5), on a prompt/completion
.jsonl of plain words (so this script can tokenize it the way the word tokenizer does):

1. the start-up summary's counts (examples, truncated, refused, loss tokens) equal the ones
   computed here from the truncation rule (last max-length tokens; refused when the
   completion would lose a token or its first token would have nothing before it);
2. -n 1 --batch-size 4 == -n 2 --batch-size 2 == -n 1 --batch-size 2 --grad-accum 2: the
   same per-step losses and weights to fp32 reduction-order tolerance (train_equivalence
   explains the tolerance), so the global count of loss tokens is shared exactly;
3. `eval` of the checkpoint (which takes its --loss-on) equals an independent PyTorch
   computation (tests/reference/gpt.py on the checkpoint's weights, prompt targets -100
   built here), and differs from the loss on all tokens: the mask is really applied; a
   --loss-on all run's eval equals the unmasked reference;
4. a run stopped mid-epoch and resumed is bit-identical to the uninterrupted one.
Needs 2 ranks; registered for -n 2."""
import json
import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edtest as T  # noqa: E402

import numpy as np  # noqa: E402

args = T.parse_args()
d = T.tmpdir()
ML = 24  # T.TINY's --max-length

r = random.Random(5)
examples = []
for i in range(40):
    p = [r.choice(T.WORDS) for _ in range(r.randint(0, 30))]
    c = [r.choice(T.WORDS) for _ in range(r.randint(1, 8))]
    examples.append((p, c))
examples.append(([r.choice(T.WORDS) for _ in range(3)], [r.choice(T.WORDS) for _ in range(25)]))  # refused
examples.append(([], [r.choice(T.WORDS) for _ in range(23)]))  # refused: c1 would start the window
path = os.path.join(d, "sft.jsonl")
with open(path, "w") as f:
    for p, c in examples:
        f.write(json.dumps({"prompt": " ".join(p), "completion": " " + " ".join(c)}) + "\n")

# what the rule keeps: [BOS] p c [EOS], the window is its last ML tokens
kept, truncated, refused, loss_tokens = [], 0, 0, 0
for p, c in examples:
    L, first_c = 2 + len(p) + len(c), 1 + len(p)
    if L > ML and L - ML >= first_c:
        refused += 1
        continue
    truncated += L > ML
    kept.append((p, c))
    loss_tokens += len(c) + 1

common = T.TINY + ["--format", "instruct", "--train-file", path, "--lr", "1e-3", "--log-interval", 1, "--seed", 3]


def train(ranks, out, flags, quiet=True):
    f = common + ["--checkpoint-dir", out] + flags
    if not quiet:
        f.remove("--quiet")
    p = T.run(args, ranks, f, check=0, timeout=180)
    return p, T.history(os.path.join(out, "history.json"))


# 1, 2: the same global batch of 4 windows three ways
runs = {}
for name, ranks, b, g in (("n1", 1, 4, 1), ("n2", 2, 2, 1), ("n1g2", 1, 2, 2)):
    out = os.path.join(d, name)
    p, h = train(ranks, out, ["--batch-size", b, "--grad-accum", g, "--max-steps", 8], quiet=name != "n1")
    runs[name] = (np.array(h["steps"]["loss"]), T.weights(os.path.join(out, "last.h5")), out)
    if name == "n1":
        want = "train %d examples, %d truncated, %d refused (first at line 41), %d loss tokens" % (
            len(examples), truncated, refused, loss_tokens)
        T.expect(want in p.stdout, "summary lacks %r:\n%s" % (want, p.stdout))
        print("summary:", [l for l in p.stdout.splitlines() if "instruction data" in l][0])
ref_loss, ref_w, ref_dir = runs["n1"]
T.expect(len(ref_loss) == 8 and ref_loss[-1] < ref_loss[0], "loss did not fall: %s" % ref_loss)
for name in ("n2", "n1g2"):
    loss, w, _ = runs[name]
    T.expect(np.allclose(loss, ref_loss, rtol=1e-4, atol=0), "%s losses differ from n1:\n%s\n%s" % (name, loss, ref_loss))
    for k in w:
        T.expect(np.allclose(w[k], ref_w[k], rtol=1e-4, atol=2e-5),
                 "%s: %s differs (max abs diff %g)" % (name, k, np.max(np.abs(w[k] - ref_w[k]))))
    print("%s vs n1: max loss rel diff %.2e" % (name, float(np.max(np.abs(loss - ref_loss) / ref_loss))))

# 3: eval against PyTorch on the checkpoint's weights
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import h5py  # noqa: E402
import torch  # noqa: E402
import gpt as R  # noqa: E402


def reference(ckpt, masked):
    w = T.weights(ckpt)
    with h5py.File(ckpt, "r") as f:
        tok = json.loads(f["tokenizer"][()])
    ids = {t: i for i, t in enumerate(tok["tokens"])}
    V, D = w["wte.weight"].shape
    model = R.GPT(V, D, 1, 2, 64, w["wpe.weight"].shape[0])
    model.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()})
    total, count = 0.0, 0
    with torch.no_grad():
        for p, c in kept:
            seq = [2] + [ids[x] for x in p] + [ids[x] for x in c] + [3]  # <BOS> = 2, <EOS> = 3
            graded = [0] * (1 + len(p)) + [1] * (len(c) + 1)
            seq, graded = seq[-ML:], graded[-ML:]
            x = torch.tensor([seq[:-1]])
            y = torch.tensor([[t if g or not masked else -100 for t, g in zip(seq[1:], graded[1:])]])
            total += float(R.loss_sum(model(x).double(), y))
            count += int((y != -100).sum())
    return total / count, count


def eval_loss(ckpt):
    p = T.run(args, 2, ["eval", ckpt, path, "--format", "instruct", "--threads", 1], check=0)
    m = re.search(r"loss ([0-9.]+) .*\((\d+) tokens", p.stdout)
    T.expect(m, "no loss in eval output:\n%s" % p.stdout)
    return float(m.group(1)), int(m.group(2))


ckpt = os.path.join(ref_dir, "last.h5")
got, n_tok = eval_loss(ckpt)
want, want_n = reference(ckpt, True)
unmasked, _ = reference(ckpt, False)
print("eval --loss-on completion %.4f over %d tokens; PyTorch %.6f over %d; all tokens %.4f" % (
    got, n_tok, want, want_n, unmasked))
T.expect(n_tok == want_n == loss_tokens, "eval graded %d tokens, the reference %d, expected %d" % (n_tok, want_n, loss_tokens))
T.expect(abs(got - want) < 1.5e-4, "eval loss %.4f != reference %.6f" % (got, want))
T.expect(abs(unmasked - want) > 1e-2, "masked and unmasked losses too close to tell apart")
out = os.path.join(d, "all")
train(1, out, ["--batch-size", 4, "--max-steps", 2, "--loss-on", "all"])
got, n_tok = eval_loss(os.path.join(out, "last.h5"))
want, want_n = reference(os.path.join(out, "last.h5"), False)
T.expect(n_tok == want_n and abs(got - want) < 1.5e-4, "--loss-on all: eval %.4f (%d) != reference %.6f (%d)"
         % (got, n_tok, want, want_n))

# 4: resume mid-epoch, bit-exact (2 ranks, accumulation, 12 steps over 40 windows of 8 per step)
flags = ["--batch-size", 2, "--grad-accum", 2, "--epochs", 3, "--max-steps", 12]
full = os.path.join(d, "full")
_, hf = train(2, full, flags)
mid = os.path.join(d, "mid")
train(2, mid, flags[:-1] + [7])
_, hm = train(2, mid, flags + ["--resume", "auto"])
T.expect_same_run(full, hf, mid, hm, "mid-epoch resume")
print("PASS")
