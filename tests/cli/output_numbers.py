#!/usr/bin/env python3
"""The numbers a run prints agree with each other (issue 25 item 12; the conventions are
docs/usage.md's "Numbers in the output"):
  - every step number is the global step: progress lines, validation lines, the summary;
  - epochs count from 1: "in epoch N" in the summary and `inspect` is the epoch the
    resume line continues ("epoch N, ... windows done"), "N epoch(s) done" after it;
  - the summary's time is the progress lines' elapsed clock (never less than the last);
  - peak memory is one line, at any number of ranks;
  - the no---val-file warning only for what the user asked (--eval-interval,
    --early-stopping-patience), never for the preset's own eval-interval, never under -q."""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "trainer"))
import edtest as T  # noqa: E402

args = T.parse_args()
n = args.ranks
d = T.tmpdir()
train = T.corpus(os.path.join(d, "train.txt"), 60, seed=3)
val = T.corpus(os.path.join(d, "val.txt"), 12, seed=4)
tiny = [a for a in T.TINY if a != "--quiet"]
out = os.path.join(d, "a")
base = tiny + ["--train-file", train, "--batch-size", 2, "-o", out]
p = T.run(args, n, base + ["--val-file", val, "--epochs", 2, "--log-interval", 3, "--eval-interval", 6], check=0)
progress = [(int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4))
            for m in re.finditer(r"^epoch (\d+)/2 step (\d+)/(\d+) .* elapsed (\S+) eta", p.stdout, re.M)]
evals = [int(s) for s in re.findall(r"^step (\d+): val_loss", p.stdout, re.M)]
T.expect(progress and evals, "progress and validation lines expected:\n" + p.stdout)
total = progress[0][2]
T.expect(all(t == total for _, _, t, _ in progress), "one total in every progress line:\n" + p.stdout)
second = [s for e, s, _, _ in progress if e == 2]
T.expect(second and min(second) > total // 2, "epoch 2's progress lines count global steps, not from 1:\n" + p.stdout)
T.expect(all(s % 6 == 0 and s in [q for _, q, _, _ in progress] for s in evals),
         "every validation line's step is a progress line's step (global, both):\n" + p.stdout)
done = re.search(r"^done: (\d+) steps in (\S+) \(global step (\d+), 2 epoch\(s\) done\)", p.stdout, re.M)
T.expect(done and int(done.group(3)) == total, "summary: global step = the progress total, 2 epoch(s) done:\n" + p.stdout)


def seconds(s):
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", s)
    return int(m.group(1) or 0) * 3600 + int(m.group(2) or 0) * 60 + int(m.group(3) or 0)


T.expect(seconds(done.group(2)) >= seconds(progress[-1][3]),
         "the summary's time is the elapsed clock of the progress lines:\n" + p.stdout)
T.expect(p.stdout.count("peak memory") == 1 and re.search(r"^peak memory by rank \(MB\):( [\d.]+){%d}$" % n,
                                                          p.stdout, re.M),
         "one peak memory line with every rank:\n" + p.stdout)

# mid-epoch: the summary, inspect and the resume line name the same epoch
mid = os.path.join(d, "mid")
p = T.run(args, n, base + ["--epochs", 2, "--max-steps", total // 2 + 2, "-o", mid], check=0)
T.expect(re.search(r"\(global step %d, in epoch 2\)" % (total // 2 + 2), p.stdout), "summary: in epoch 2:\n" + p.stdout)
i = T.run(args, 1, ["inspect", os.path.join(mid, "last.h5")], check=0)
T.expect("progress: in epoch 2 (step_in_epoch 2)" in i.stdout, "inspect says in epoch 2:\n" + i.stdout)
r = T.run(args, n, base + ["--epochs", 2, "--max-steps", total // 2 + 3, "-o", mid, "--resume", "auto"], check=0)
T.expect(re.search(r"^resuming from .*: epoch 2, ", r.stdout, re.M), "the resume line says epoch 2:\n" + r.stdout)
T.expect(re.search(r"elapsed \S+ across resumes; global step", r.stdout), "a resumed summary adds the total:\n" + r.stdout)

# the no --val-file warning: only when asked, never under -q
warn = "has nothing to measure"
p = T.run(args, n, ["--train-file", train, "--threads", 1, "--max-steps", 2, "-o", os.path.join(d, "w0")], check=0)
T.expect(warn not in p.stderr, "the tiny preset's own eval-interval is no request:\n" + p.stderr)
p = T.run(args, n, base + ["--max-steps", 2, "--eval-interval", 5], check=0)
T.expect(p.stderr.count(warn) == 1 and "--eval-interval has nothing to measure" in p.stderr,
         "--eval-interval without --val-file: one warning:\n" + p.stderr)
p = T.run(args, n, base + ["--max-steps", 2, "--eval-interval", 5, "--quiet"], check=0)
T.expect(warn not in p.stderr, "-q: no warning:\n" + p.stderr)
print("PASS: global steps, 1-based epochs, one clock, one memory line, warnings only when asked (-n %d)" % n)
