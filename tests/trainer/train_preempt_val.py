#!/usr/bin/env python3
"""A stop signal during validation, and outside training. A long validation (the final one
of a --max-steps run, an epoch end's, an --eval-interval one) once ignored SIGTERM until
it finished: 35 minutes at --max-length 8193, and only SIGKILL stopped the job.

Per phase: an uninterrupted run; the same run signalled as soon as its output shows the
step before that validation (each validation batch held 3 s by ED_EVAL_DEBUG_DELAY, so
the signal lands inside it: the step before has already agreed on "no signal"), or, for
--val-generate, its first generated example (ED_GENEVAL_DEBUG_DELAY says so). Then:
exit 3 (SIGUSR1 to mpirun, as Slurm's --signal) or 130 (SIGINT to every rank, as srun
passes Ctrl-C), last.h5 at that step holding the state before the validation (no history
row for it), and `--resume auto` ends with the uninterrupted run's history (every
validation loss), best.h5 and weights, bit for bit.

Outside training, where nothing is unsaved: SIGTERM to `eval` in its evaluation exits 3 at
once with one line (before: eval ran to its end)."""
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edtest as T  # noqa: E402

args = T.parse_args()
n = args.ranks
d = T.tmpdir()
train = T.corpus(os.path.join(d, "train.txt"), 40, seed=9)
val = T.corpus(os.path.join(d, "val.txt"), 10, seed=10)
common = [a for a in T.TINY if a != "--quiet"] + ["--train-file", train, "--val-file", val, "--batch-size", 1,
                                                  "--epochs", 2, "--log-interval", 1, "--lr", "1e-3",
                                                  "--lr-schedule", "cosine", "--warmup-steps", 4]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", ED_PROGRESS="plain",
           OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", XDG_CACHE_HOME=T.xdg_cache())


def children(pid):
    """PIDs whose parent is pid (mpirun's ranks)."""
    out = []
    for e in os.listdir("/proc"):
        if e.isdigit():
            try:
                with open("/proc/%s/stat" % e) as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                out.append(int(e))
    return out


def catches_sigterm(pid):
    """The process has its own SIGTERM handler (bit 15 of SigCgt): past start-up's MPI_Init."""
    try:
        with open("/proc/%d/status" % pid) as f:
            cgt = [l for l in f if l.startswith("SigCgt:")][0].split()[1]
        return int(cgt, 16) >> (signal.SIGTERM - 1) & 1
    except (OSError, IndexError):
        return 0


def launch(flags, hook=None, merge=False):
    """hook: (variable, seconds) of a test hook that holds each batch/example."""
    cmd = shlex.split(args.mpiexec) + ["-n", str(n), args.exe] + [str(a) for a in flags]
    env = dict(ENV, **{hook[0]: str(hook[1])}) if hook else ENV
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge else subprocess.PIPE,
                            text=True, env=env)


def evals(h):
    return list(zip(h["evals"]["step"], h["evals"]["val_loss"]))


def step_of(path):
    """The checkpoint's global step (it loads: T.weights reads it whole too)."""
    import h5py
    with h5py.File(path, "r") as f:
        return int(f["trainer"].attrs["global_step"])


FULL = {}


def uninterrupted(extra):
    """The checkpoint directory of an uninterrupted run with these flags (run once)."""
    key = tuple(str(a) for a in extra)
    if key not in FULL:
        FULL[key] = os.path.join(d, "full-%d" % len(FULL))
        T.run(args, n, common + extra + ["-o", FULL[key]], check=0, timeout=180)
    return FULL[key]


def phase(name, extra, stop_step, sig, generate=False):
    """stop_step: None = the last step of epoch 1 (from the header). generate: the signal
    lands in --val-generate's generation (held by its hook, whose line says when)."""
    full = uninterrupted(extra)
    out = os.path.join(d, name + "-stopped")
    hook = ("ED_GENEVAL_DEBUG_DELAY", 3) if generate else ("ED_EVAL_DEBUG_DELAY", 3)
    proc = launch(common + extra + ["-o", out], hook, merge=True)
    target = stop_step
    for line in proc.stdout:
        m = re.search(r"; \d+ epoch\(s\) x (\d+) steps of", line)
        if m and target is None:
            target = int(m.group(1))
        trigger = ("debug: generating from example 1" in line if generate else
                   target is not None and re.match(r"epoch \d+/\d+ step %d/" % target, line))
        if trigger:
            if sig == signal.SIGINT:  # Ctrl-C to every rank (srun passes it on; mpirun would kill)
                for pid in children(proc.pid):
                    os.kill(pid, sig)
            else:
                proc.send_signal(sig)  # mpirun passes SIGUSR1 on to every rank
            break
    err, _ = proc.communicate(timeout=120)  # stdout and stderr
    want = 130 if sig == signal.SIGINT else 3
    T.expect(proc.returncode == want, "%s: exit %d, expected %d\n%s" % (name, proc.returncode, want, err))
    T.expect("during validation" in err, "%s: rank 0 should say it stopped in validation:\n%s" % (name, err))
    T.expect(not [f for f in os.listdir(out) if f.endswith(".tmp")], "%s: a .tmp left behind" % name)
    T.expect(step_of(os.path.join(out, "last.h5")) == target, "%s: last.h5 is not at step %d" % (name, target))
    h = T.history(os.path.join(out, "history.json"))
    T.expect(target not in h["evals"]["step"], "%s: the interrupted validation has a history row" % name)

    T.run(args, n, common + extra + ["-o", out, "--resume", "auto"], check=0, timeout=180)
    a, b = T.history(os.path.join(full, "history.json")), T.history(os.path.join(out, "history.json"))
    T.expect(evals(a) == evals(b), "%s: validations differ after the resume:\n%s\n%s" % (name, evals(a), evals(b)))
    if generate:
        T.expect(a["evals"]["bleu"] == b["evals"]["bleu"] and a["evals"]["rougeL"] == b["evals"]["rougeL"],
                 "%s: BLEU/ROUGE differ after the resume" % name)
    for key in ("train_loss", "val_loss", "lr"):
        T.expect(a[key] == b[key], "%s: %s differs after the resume:\n%s\n%s" % (name, key, a[key], b[key]))
    T.expect(a["steps"]["loss"] == b["steps"]["loss"], "%s: logged losses differ" % name)
    for f in ("last.h5", "best.h5"):
        pa, pb = os.path.join(full, f), os.path.join(out, f)
        T.expect(step_of(pa) == step_of(pb), "%s: %s at step %d, uninterrupted %d" % (name, f, step_of(pb), step_of(pa)))
        wa, wb = T.weights(pa), T.weights(pb)
        T.expect(all(wa[k].tobytes() == wb[k].tobytes() for k in wa), "%s: %s weights differ" % (name, f))
    print("ok: %s: %s at step %d -> exit %d, last.h5 before the validation; resumed = uninterrupted (%d validations)"
          % (name, sig.name, target, want, len(evals(a))), flush=True)


# The final validation of a --max-steps run (the reported case), an --eval-interval one
# with Ctrl-C (the resume repeats it before its next step), an epoch end's.
phase("final", ["--max-steps", 30], 30, signal.SIGUSR1)
phase("interval", ["--eval-interval", 20], 20, signal.SIGINT)
phase("epoch", [], None, signal.SIGUSR1)
# --val-generate: the signal in the generation of an epoch end's validation.
refs = os.path.join(d, "refs.jsonl")
with open(refs, "w") as f:
    for i in range(6):
        words = open(val).read().split()[i * 7:i * 7 + 7]
        f.write(json.dumps({"prompt": " ".join(words[:3]), "reference": " ".join(words[3:])}) + "\n")
phase("generate", ["--val-generate", refs, "--val-generate-every", 1, "-n", 6, "--sample-tokens", 0], None,
      signal.SIGUSR1, generate=True)


def stop_at_once(name, flags, delay):
    """SIGTERM to every rank once each has its handler: exit 3 and one line from rank 0."""
    proc = launch(flags, ("ED_EVAL_DEBUG_DELAY", delay))
    t0 = time.time()
    while proc.poll() is None and time.time() - t0 < 60:
        ranks = children(proc.pid)
        if len(ranks) == n and all(catches_sigterm(p) for p in ranks):
            break
        time.sleep(0.02)
    T.expect(proc.poll() is None, "%s ended before the signal" % name)
    for pid in children(proc.pid):
        os.kill(pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    lines = [l for l in err.splitlines() if "SIGTERM received" in l]
    T.expect(proc.returncode == 3 and lines == ["expert-dist: SIGTERM received: stopping (nothing unsaved to lose)"],
             "%s: exit %d, expected 3 and one line\n%s\n%s" % (name, proc.returncode, out, err))
    print("ok: %s: SIGTERM -> exit 3 at once" % name, flush=True)


# eval: 15 validation windows held 3 s each would take 45 s / n.
ckpt = os.path.join(uninterrupted(["--max-steps", 30]), "last.h5")
stop_at_once("eval", ["eval", ckpt, val], 3)
print("PASS: stop signals in validation (-n %d)" % n)
