#!/usr/bin/env python3
"""Preemption: SIGUSR1 to mpirun (it forwards the signal to every rank, like Slurm's
--signal) while training. All ranks must agree to stop after the same step, write
last.h5 and exit 3 (ED_EXIT_PREEMPTED). `--resume auto` then finishes the run, and the
result must be bit-identical to an uninterrupted run: wherever the signal landed, the
checkpoint holds everything the remaining steps depend on (cosine schedule with warmup,
so the learning rate of every step is checked too)."""
import os
import shlex
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edtest as T  # noqa: E402

args = T.parse_args()
n = args.ranks
d = T.tmpdir()
train = T.corpus(os.path.join(d, "train.txt"), 80, seed=9)
val = T.corpus(os.path.join(d, "val.txt"), 10, seed=10)
common = [a for a in T.TINY if a != "--quiet"] + ["--train-file", train, "--val-file", val, "--batch-size", 1,
                                                  "--epochs", 2, "--log-interval", 1, "--lr", "1e-3",
                                                  "--lr-schedule", "cosine", "--warmup-steps", 4]

full = os.path.join(d, "full")
T.run(args, n, common + ["-o", full], check=0, timeout=180)

out = os.path.join(d, "pre")
cmd = shlex.split(args.mpiexec) + ["-n", str(n), args.exe] + [str(a) for a in common + ["-o", out]]
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", ED_PROGRESS="plain")
proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
seen = []
for line in proc.stdout:
    seen.append(line)
    if line.startswith("epoch 1/2 step 5/"):
        proc.send_signal(signal.SIGUSR1)
        break
rest, err = proc.communicate(timeout=120)
T.expect(proc.returncode == 3, "expected exit 3 after SIGUSR1, got %d\n%s\n%s" % (proc.returncode, rest, err))
T.expect("signal received" in err, "rank 0 should say why it stops:\n" + err)
T.expect(os.path.exists(os.path.join(out, "last.h5")), "last.h5 must be written on preemption")
h = T.history(os.path.join(out, "history.json"))
stopped_at = h["steps"]["step"][-1]
T.expect(stopped_at >= 5, "stopped at step %s, before the signal" % stopped_at)

T.run(args, n, common + ["-o", out, "--resume", "auto"], check=0, timeout=180)
a, b = T.history(os.path.join(full, "history.json")), T.history(os.path.join(out, "history.json"))
for key in ("train_loss", "val_loss", "lr"):
    T.expect(a[key] == b[key], "%s differs after preempt + resume:\n%s\n%s" % (key, a[key], b[key]))
for key in ("loss", "lr", "grad_norm"):
    T.expect(a["steps"][key] == b["steps"][key], "logged %s differ after preempt + resume" % key)
wa, wb = T.weights(os.path.join(full, "last.h5")), T.weights(os.path.join(out, "last.h5"))
for k in wa:
    T.expect(wa[k].tobytes() == wb[k].tobytes(), "%s is not bit-identical after preempt + resume" % k)
print("PASS: preempted at step %d, resumed bit-exactly (-n %d)" % (stopped_at, n))
