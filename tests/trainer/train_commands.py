#!/usr/bin/env python3
"""eval / generate / inspect on a checkpoint written by train.
  - eval on the validation file reproduces the val_loss the trainer recorded for the
    last epoch (same shards, same reduction: a real cross-check of both paths);
  - generate is deterministic for a seed and continues the prompt;
  - inspect reports the step and metrics stored in the checkpoint;
  - a missing checkpoint is one error line and exit 1;
  - scripts/plot_history.py turns the run's history into a PNG."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edtest as T  # noqa: E402

args = T.parse_args()
n = args.ranks
d = T.tmpdir()
train = T.corpus(os.path.join(d, "train.txt"), 40, seed=11)
val = T.corpus(os.path.join(d, "val.txt"), 10, seed=12)
out = os.path.join(d, "ck")
T.run(args, n, T.TINY + ["--train-file", train, "--val-file", val, "--batch-size", 2, "--epochs", 2, "-o", out],
      check=0, timeout=180)
h = T.history(os.path.join(out, "history.json"))
ck = os.path.join(out, "last.h5")

p = T.run(args, n, ["eval", ck, val, "--batch-size", 3], check=0, timeout=60)
m = re.search(r"loss ([0-9.]+) perplexity ([0-9.]+) accuracy ([0-9.]+)", p.stdout)
T.expect(m is not None and p.stdout.count("eval ") == 1, "one eval line expected:\n" + p.stdout)
T.expect(abs(float(m.group(1)) - h["val_loss"][-1]) < 1e-4,
         "eval loss %s != trainer's last val_loss %s" % (m.group(1), h["val_loss"][-1]))
T.expect(abs(float(m.group(3)) - h["val_accuracy"][-1]) < 1e-4, "eval accuracy differs from the trainer's")

gen = ["generate", ck, "the cat", "--max-new-tokens", 8, "--seed", 5]
a = T.run(args, n, gen, check=0, timeout=60).stdout
b = T.run(args, 1, gen, check=0, timeout=60).stdout
T.expect(a == b and a.startswith("the cat") and len(a.split()) > 2, "generate not deterministic:\n%s\n%s" % (a, b))

p = T.run(args, n, ["inspect", ck], check=0, timeout=60)
m = re.search(r"global_step (\d+)", p.stdout)
T.expect(m is not None and int(m.group(1)) >= max(h["steps"]["step"] or [1]), "inspect output:\n" + p.stdout)
T.expect("progress: 2 epoch(s) done," in p.stdout and "d-model = 32" in p.stdout, "inspect output:\n" + p.stdout)

p = T.run(args, n, ["eval", os.path.join(d, "missing.h5"), val], timeout=60)
errs = [l for l in p.stderr.splitlines() if l.startswith("expert-dist:")]
T.expect(p.returncode == 1 and len(errs) == 1 and "missing.h5" in errs[0], "missing checkpoint:\n" + p.stderr)
# the history plots (scripts/plot_history.py, matplotlib Agg)
if args.source_dir:
    import subprocess
    png = os.path.join(d, "curves.png")
    r = subprocess.run([sys.executable, os.path.join(args.source_dir, "scripts", "plot_history.py"),
                        os.path.join(out, "history.json"), "-o", png], capture_output=True, text=True, timeout=120)
    T.expect(r.returncode == 0, "plot_history.py failed:\n" + r.stderr)
    with open(png, "rb") as f:
        T.expect(f.read(8) == b"\x89PNG\r\n\x1a\n", "plot_history.py did not write a PNG")
print("PASS: eval == trainer val_loss, generate deterministic, inspect (-n %d)" % n)
