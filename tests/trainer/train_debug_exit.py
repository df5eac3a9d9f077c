#!/usr/bin/env python3
"""A rank that dies mid-training must take the job down, not leave the others waiting in
an allreduce: with --debug-exit-rank R --debug-exit-step 5, rank R calls exit(1) before
step 6; mpirun must return non-zero. The subprocess timeout (60 s) is the hang detector:
the run would otherwise take minutes (--epochs 1000)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edtest as T  # noqa: E402

args = T.parse_args()
d = T.tmpdir()
train = T.corpus(os.path.join(d, "train.txt"), 40, seed=6)
rank = args.ranks - 1  # the last rank: never the one that prints
try:
    p = T.run(args, args.ranks, T.TINY + ["--train-file", train, "--batch-size", 1, "--epochs", 1000,
                                          "--debug-exit-rank", rank, "--debug-exit-step", 5,
                                          "--checkpoint-dir", os.path.join(d, "ck")], timeout=60)
except subprocess.TimeoutExpired:
    T.fail("the job hung after rank %d exited" % rank)
T.expect(p.returncode != 0, "mpirun returned 0 although rank %d exited with 1" % rank)
T.expect("debug-exit-step 5 reached" in p.stderr, "missing the rank's exit message:\n" + p.stderr)
print("PASS: rank %d exit -> mpirun status %d (-n %d)" % (rank, p.returncode, args.ranks))
