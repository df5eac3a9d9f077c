#!/usr/bin/python3
"""Trainer-level checkpoint tests: the real `expert-dist train` under real mpirun.

    test_resume.py --exe build/expert-dist --mpirun /usr/bin/mpirun --workdir DIR CASE [-n N]

CASE:
  exact     stop a run after K steps (--max-steps), resume with --resume auto: the final
            last.h5 (written by the --async-save thread) equals an uninterrupted
            --no-async-save run's bit for bit (weights, moments, counters,
            history; only wall-clock columns may differ). Dropout and warmup on.
  sigterm   SIGTERM every rank mid-run (as Slurm does before a preemption): exit status 3,
            a consistent last.h5, no .tmp left; --resume auto then ends bit-identical to an
            uninterrupted run (cosine schedule, dropout).
  sigint    the same with SIGINT (Ctrl-C, as srun delivers it to every task): exit 130.
  crash     one rank dies (--debug-exit-rank/--debug-exit-step) after step files were
            written: the job fails, --resume auto continues from the newest step-<N>.h5
            and ends bit-identical to an uninterrupted run.
  world     write on N ranks, resume on another number of ranks with the same global batch
            (batch-size x ranks): counters continue exactly, weights agree with an
            uninterrupted run to float tolerance (the reduction order differs).
  zero      --zero 1 (sharded moments): the checkpoint holds the gathered moments; a
            resume reads each rank's slice (bit-identical), or all of it with --zero 0
            (then equal to fp32 rounding: the clipping norm is summed another way).
  v1        a format-1 checkpoint (tests/checkpoint/fixtures) still inspects, evaluates and
            resumes; the resumed run writes format 2.
  flags     resume says what it does: flags the checkpoint overrules get one warning line
            naming them and the checkpoint's values, the checkpoint's preset supplies the
            values no flag set (never half another preset), config.ini is what ran and
            `-c` of it resumes without a warning; a mid-epoch resume on other training
            data is refused (both fingerprints, --allow-data-change) unless accepted;
            eval/generate refuse flags they cannot honour (exit 2).
  rotation  best.h5 / last.h5 / step-<N>.h5 / epoch-<N>.h5 (--save-every) with --keep-last K: which files remain and
            what each one holds.
"""
import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import synth_corpus  # noqa: E402

# Wall-clock columns: the only things allowed to differ between an interrupted run and one
# that was not.
TIMING = {"history/epoch_seconds", "history/log_tokens_per_s", "history/log_elapsed", "trainer@elapsed"}


def check(cond, msg):
    if not cond:
        sys.exit(f"FAIL: {msg}")
    print(f"ok: {msg}", flush=True)


class Runner:
    def __init__(self, a):
        self.a = a
        self.work = a.workdir
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(self.work)
        self.train, self.val = self.corpus()

    def corpus(self):
        """About 3000 words of training text and 700 of validation: 2 epochs take a second."""
        return (synth_corpus.write(os.path.join(self.work, "train.txt"), 220, 1),
                synth_corpus.write(os.path.join(self.work, "val.txt"), 50, 2))

    def cmd(self, n, ckdir, *extra, batch=4):
        return [self.a.mpirun, "--oversubscribe", "--bind-to", "none", "-n", str(n), self.a.exe, "train",
                "--train-file", self.train, "--val-file", self.val, "--d-model", "32", "--n-layers", "2",
                "--n-heads", "2", "--d-ff", "64", "--max-length", "24", "--stride", "12", "--max-seq-len", "32",
                "--tokenizer", "word", "--vocab-size", "400", "--pack", "0", "--eval-interval", "0", "--epochs", "2", "--batch-size", str(batch), "--threads", "1",
                "--dropout", "0.1", "--warmup-steps", "5", "--log-interval", "5", "--quiet",
                "-o", os.path.join(self.work, ckdir), *extra]

    def run(self, n, ckdir, *extra, expect=0, batch=4):
        p = subprocess.run(self.cmd(n, ckdir, *extra, batch=batch), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=300)
        if expect is not None and p.returncode != expect:
            sys.exit(f"FAIL: {ckdir} {' '.join(extra)}: exit {p.returncode}, expected {expect}\n"
                     f"{p.stdout}\n{p.stderr}")
        return p

    def path(self, ckdir, name="last.h5"):
        return os.path.join(self.work, ckdir, name)


def contents(path):
    """Every dataset and every /trainer attribute of a checkpoint, by name."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
        f.visititems(visit)
        for k, v in f["trainer"].attrs.items():
            out[f"trainer@{k}"] = v
    return out


def same(x, y):
    """Bitwise equality for float arrays (NaN == NaN), plain equality for the rest."""
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind == "f":
        return x.shape == y.shape and np.array_equal(x, y, equal_nan=True)
    return x.shape == y.shape and np.array_equal(x, y)


def close(x, y, rtol):
    """Float arrays equal to rtol (atol rtol * max |x|, so tiny moments do not dominate)."""
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind != "f":
        return same(x, y)
    scale = float(np.max(np.abs(x))) if x.size else 0.0
    return x.shape == y.shape and np.allclose(x, y, rtol=rtol, atol=rtol * scale, equal_nan=True)


def drop_final_evals(c, steps):
    """The interrupted run validated once more where it stopped (the final validation of a
    run ended in mid-epoch, which counts for best.h5 only): its history rows at those
    steps are the one documented difference."""
    keep = ~np.isin(c["history/eval_step"], list(steps))
    for k in [k for k in c if k.startswith("history/eval_")]:  # every column of the validation rows
        c[k] = c[k][keep]


def assert_same_run(pa, pb, what, rtol=None, stops=()):
    """Bit for bit; or, with rtol, to fp32 rounding (a change of ZeRO mode sums the
    gradient norm over the ranks' slices instead of over the whole buffer). `stops`: the
    steps where run b was interrupted (each with a final validation row)."""
    a, b = contents(pa), contents(pb)
    check(all(np.isin(list(stops), b["history/eval_step"])), f"{what}: a final validation at each stop {list(stops)}")
    drop_final_evals(b, stops)
    check(set(a) == set(b), f"{what}: same datasets and trainer fields")
    eq = same if rtol is None else (lambda x, y: close(x, y, rtol))
    diff = [k for k in sorted(a) if k not in TIMING and not eq(a[k], b[k])]
    how = "bit for bit" if rtol is None else f"within rtol {rtol:g}"
    check(not diff, f"{what}: identical to the uninterrupted run {how}" + (f" (differ: {diff[:6]})" if diff else ""))


def no_tmp(r, ckdir):
    check(not glob.glob(os.path.join(r.work, ckdir, "*.tmp")), f"{ckdir}: no .tmp left behind")


def global_step(path):
    with h5py.File(path, "r") as f:
        return int(f["trainer"].attrs["global_step"])


def case_exact(r, n):
    # A writes synchronously, B in the background (--async-save, the default): the file
    # the writer thread wrote resumes to the same bits.
    r.run(n, "A", "--no-async-save")
    r.run(n, "B", "--max-steps", "37")
    check(global_step(r.path("B")) == 37, "stopped run saved last.h5 at step 37")
    check(global_step(r.path("B", "best.h5")) == 37,
          "a run ended by --max-steps in mid-epoch validates at its end: best.h5 at step 37")
    r.run(n, "B", "--resume", "auto")
    check(global_step(r.path("B")) == global_step(r.path("A")), "resumed run reaches the same final step")
    assert_same_run(r.path("A"), r.path("B"), f"-n {n} stop at 37 + resume", stops=[37])


def rank_pids(parent):
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            # ppid is the 2nd field after the parenthesised command name
            if int(stat[stat.rindex(")") + 2:].split()[1]) == parent:
                pids.append(int(d))
    return pids


def case_sigterm(r, n, sig=signal.SIGTERM):
    extra = ("--lr-schedule", "cosine", "--save-steps", "10", "--epochs", "4")
    r.run(n, "A", *extra)
    proc = subprocess.Popen(r.cmd(n, "B", *extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Wait for real progress (the first step file), then signal every rank, as Slurm does.
    deadline = time.time() + 120
    while not glob.glob(os.path.join(r.work, "B", "step-*.h5")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    check(proc.poll() is None, "run still going when the signal is sent")
    for pid in rank_pids(proc.pid):
        os.kill(pid, sig)
    out, err = proc.communicate(timeout=120)
    if sig == signal.SIGINT:  # Ctrl-C delivered to every rank (srun does; mpirun sends SIGTERM)
        check(proc.returncode == 130, f"interrupted run exits 130 (got {proc.returncode})")
        check("SIGINT received" in err, "interrupted run says it received SIGINT")
    else:
        check(proc.returncode == 3, f"preempted run exits 3 (got {proc.returncode})")
        check("signal received" in err, "preempted run says it received a signal")
    no_tmp(r, "B")
    stopped = global_step(r.path("B"))
    total = global_step(r.path("A"))
    check(0 < stopped < total, f"last.h5 written mid-run (step {stopped} of {total})")
    # A signal after the last step of a --max-steps run left that step unvalidated: the
    # resumed run, which has no step left, validates it (a copy of B, ending at the stop).
    shutil.copytree(os.path.join(r.work, "B"), os.path.join(r.work, "C"))
    r.run(n, "C", *extra, "--resume", "auto", "--max-steps", str(stopped))
    c = contents(r.path("C"))
    check(global_step(r.path("C")) == stopped and stopped in c["history/eval_step"],
          f"resumed at --max-steps {stopped}: no step taken, that step validated (a history row at it)")
    r.run(n, "B", *extra, "--resume", "auto")
    # No final validation on a signal (the lead time covers a step and the save only), so
    # the resumed run's history, validation rows included, is the uninterrupted run's.
    assert_same_run(r.path("A"), r.path("B"), f"-n {n} {sig.name} at step {stopped} + resume")


def case_sigint(r, n):
    case_sigterm(r, n, signal.SIGINT)


def case_crash(r, n):
    extra = ("--lr-schedule", "cosine", "--save-steps", "10")
    r.run(n, "A", *extra)
    p = r.run(n, "B", *extra, "--debug-exit-rank", str(n - 1), "--debug-exit-step", "23", expect=None)
    check(p.returncode != 0, f"job fails when rank {n - 1} dies at step 23")
    check(global_step(r.path("B", "step-20.h5")) == 20, "step-20.h5 was written before the crash")
    check(not os.path.exists(r.path("B")), "no last.h5 from the crashed run")
    r.run(n, "B", *extra, "--resume", "auto")
    assert_same_run(r.path("A"), r.path("B"), f"-n {n} crash at 23 + resume from step-20.h5")


def case_world(r, n):
    other = 1 if n > 1 else 2
    glob_batch = 8
    # Dropout masks are drawn per rank's rows, so they depend on the split: off here.
    r.run(other, "A", "--dropout", "0", batch=glob_batch // other)
    r.run(n, "B", "--dropout", "0", "--max-steps", "21", batch=glob_batch // n)
    with h5py.File(r.path("B"), "r") as f:
        check(int(f["trainer"].attrs["world_size"]) == n, f"checkpoint records world_size {n}")
    r.run(other, "B", "--dropout", "0", "--resume", "auto", batch=glob_batch // other)
    a, b = contents(r.path("A")), contents(r.path("B"))
    for k in ("trainer@global_step", "trainer@epoch", "trainer@step_in_epoch", "trainer@tokens_seen",
              "trainer@epoch_count", "history/log_step", "history/epoch", "history/lr"):
        check(np.array_equal(a[k], b[k]), f"-n {n} -> -n {other}: {k} continues exactly")
    check(int(b["trainer@world_size"]) == other, f"resumed checkpoint records world_size {other}")
    worst = max(float(np.max(np.abs(a[k] - b[k]))) for k in a if k.startswith("model/"))
    check(worst < 1e-4, f"-n {n} -> -n {other}: weights match the uninterrupted run (max diff {worst:.2e})")
    check(abs(a["history/val_loss"][-1] - b["history/val_loss"][-1]) < 1e-3, "final val_loss matches")


def case_zero(r, n):
    """ZeRO-1: each rank holds a slice of the moments; the checkpoint holds them all
    (gathered on rank 0) and a resume reads back only each rank's slice."""
    r.run(n, "A", "--zero", "1")
    r.run(n, "B", "--zero", "1", "--max-steps", "37")
    with h5py.File(r.path("B"), "r") as f:
        model = {k: f["model"][k].shape for k in f["model"]}
        check(all(f["optimizer/m"][k].shape == s and f["optimizer/v"][k].shape == s for k, s in model.items()),
              "a ZeRO checkpoint holds the full moments, shaped like the model")
    shutil.copytree(os.path.join(r.work, "B"), os.path.join(r.work, "C"))
    r.run(n, "B", "--zero", "1", "--resume", "auto")
    assert_same_run(r.path("A"), r.path("B"), f"-n {n} --zero 1: stop at 37 + resume", stops=[37])
    # The same checkpoint resumed without ZeRO: every rank reads the whole moments. The
    # clipping norm is then summed in another order, so equal to fp32 rounding only.
    r.run(n, "C", "--zero", "0", "--resume", "auto")
    assert_same_run(r.path("A"), r.path("C"), f"-n {n} --zero 1 checkpoint resumed with --zero 0",
                    rtol=None if n == 1 else 1e-5, stops=[37])


def case_rotation(r, n):
    r.run(n, "R", "--save-steps", "7", "--keep-last", "2", "--epochs", "3")
    d = os.path.join(r.work, "R")
    last = global_step(os.path.join(d, "last.h5"))
    steps = sorted(int(m.group(1)) for f in os.listdir(d) if (m := re.fullmatch(r"step-(\d+)\.h5", f)))
    want = [s for s in range(7, last + 1, 7)][-2:]
    check(steps == want, f"--keep-last 2 keeps the newest two step files {want} (found {steps})")
    for s in steps:
        check(global_step(os.path.join(d, f"step-{s}.h5")) == s, f"step-{s}.h5 holds global_step {s}")
    with h5py.File(os.path.join(d, "last.h5"), "r") as f:
        vl = f["history/val_loss"][()]
        check(len(vl) == 3 and int(f["trainer"].attrs["epoch"]) == 3, "last.h5 is the finished run (3 epochs)")
    with h5py.File(os.path.join(d, "best.h5"), "r") as f:
        best = float(f["trainer"].attrs["best_val_loss"])
        check(best == float(np.min(vl)), "best.h5 holds the best validation loss of the run")
        check(float(f["history/val_loss"][-1]) == best, "best.h5 was written at the epoch of that loss")
    # --save-every 1 (default): epoch-<N>.h5 per epoch, the newest --keep-last 2 of them kept
    # beside best.h5 and last.h5, each holding the state at the end of its epoch.
    epochs = sorted(int(m.group(1)) for f in os.listdir(d) if (m := re.fullmatch(r"epoch-(\d+)\.h5", f)))
    check(epochs == [2, 3], f"--keep-last 2 keeps epoch-2.h5 and epoch-3.h5 (found {epochs})")
    for e in epochs:
        with h5py.File(os.path.join(d, f"epoch-{e}.h5"), "r") as f:
            check(int(f["trainer"].attrs["epoch"]) == e and int(f["trainer"].attrs["epoch_windows"]) == 0,
                  f"epoch-{e}.h5 holds the end of epoch {e}")
    r.run(n, "E", "--save-every", "2", "--epochs", "5", "--keep-last", "0")
    files = sorted(f for f in os.listdir(os.path.join(r.work, "E")) if f.endswith(".h5"))
    check(files == ["best.h5", "epoch-2.h5", "epoch-4.h5", "last.h5"],
          f"--save-every 2 over 5 epochs: epoch-2.h5 and epoch-4.h5 beside best/last (found {files})")
    no_tmp(r, "R")
    # the files a user sees are all loadable checkpoints
    for f in glob.glob(os.path.join(d, "*.h5")):
        with h5py.File(f, "r") as h:
            check(h.attrs["format"] == "expert-dist-checkpoint", f"{os.path.basename(f)} is a checkpoint")
    r.run(n, "K", "--save-steps", "20", "--keep-last", "0")
    ks = sorted(os.listdir(os.path.join(r.work, "K")))
    check(len([f for f in ks if f.startswith("step-")]) == global_step(r.path("K")) // 20,
          "--keep-last 0 keeps every step file")


FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def case_v1(r, n):
    """fixtures/v1-midepoch.h5: a real format-1 checkpoint (written by expert-dist before
    format 2, stopped by --max-steps 20 in the middle of epoch 1 at batch size 2, with the
    dropout_rng dataset format 2 dropped). It must still inspect, evaluate and resume; what
    the resumed run writes is format 2, without dropout_rng, with the loss scaler's
    attributes (scale 0: an fp32 run has none) and NaN scale columns."""
    src = os.path.join(FIXTURES, "v1-midepoch.h5")
    ck = os.path.join(r.work, "v1.h5")
    shutil.copy(src, ck)
    with h5py.File(ck, "r") as f:
        check(int(f.attrs["format_version"]) == 1 and "dropout_rng" in f["trainer"], "the fixture is format 1")
    p = subprocess.run([r.a.exe, "inspect", ck], capture_output=True, text=True)
    check(p.returncode == 0 and "global_step 20" in p.stdout, "inspect reads a format-1 checkpoint")
    train, val = os.path.join(FIXTURES, "v1-train.txt"), os.path.join(FIXTURES, "v1-val.txt")
    p = subprocess.run([r.a.exe, "eval", ck, val], capture_output=True, text=True)
    check(p.returncode == 0 and "loss" in p.stdout, "eval reads a format-1 checkpoint")
    out = os.path.join(r.work, "V")
    p = subprocess.run([r.a.mpirun, "--oversubscribe", "--bind-to", "none", "-n", str(n), r.a.exe,
                        "--train-file", train, "--val-file", val, "--threads", "1",
                        "--batch-size", "8", "--epochs", "2", "--resume", ck, "-o", out], capture_output=True, text=True, timeout=300)
    check(p.returncode == 0, f"a format-1 checkpoint resumes\n{p.stdout}\n{p.stderr}")
    # Format 1 had no epoch_windows: 20 steps at that run's global batch 2 are 40 windows.
    check(f"40 of 122 windows done, global step 20; global batch 2 -> {8 * n} windows" in p.stdout,
          "the format-1 position is read as 40 windows and the batch change is reported")
    with h5py.File(os.path.join(out, "last.h5"), "r") as f:
        check(int(f.attrs["format_version"]) == 2 and "dropout_rng" not in f["trainer"],
              "the resumed run writes format 2 without dropout_rng")
        check(float(f["trainer"].attrs["loss_scale"]) == 0.0 and len(f["history/log_loss_scale"]) == len(f["history/log_step"]),
              "the scaler: no scale in fp32, one (NaN) log_loss_scale per log row")
        check(int(f["trainer"].attrs["epoch"]) == 2 and int(f["trainer"].attrs["global_step"]) > 20,
              "the resumed run finished the checkpoint's 2 epochs")


def warnings(p):
    return [l for l in p.stderr.splitlines() if l.startswith("warning:")]


def case_flags(r, n):
    r.run(n, "F", "--max-steps", "7")
    # the base command without --epochs: the run's length comes from the preset
    i = r.cmd(n, "F").index("--epochs")
    base = r.cmd(n, "F")[:i] + r.cmd(n, "F")[i + 2:]
    p = subprocess.run(base + ["--resume", "auto", "--max-steps", "9", "--d-model", "64", "--tokenizer", "bpe",
                               "--preset", "small", "--max-length", "16"], capture_output=True, text=True, timeout=300)
    check(p.returncode == 0, f"a resume with other shape flags runs\n{p.stderr}")
    w = warnings(p)
    check(len(w) == 1 and w[0].startswith("warning: --resume: ignoring ") and
          all(f in w[0] for f in ("--d-model 64", "--tokenizer bpe", "--preset small", "--max-length 16",
                                  "d-model 32", "tokenizer word", "preset tiny", "max-length 24")),
          f"one warning line names the ignored flags and the checkpoint's values: {w}")
    check(global_step(r.path("F")) == 9, "the resumed run continued the checkpoint's model")
    cfg = dict(l.split(" = ", 1) for l in open(r.path("F", "config.ini")).read().splitlines()
               if " = " in l and not l.startswith("#"))
    check(cfg["preset"] == "tiny" and cfg["d-model"] == "32" and cfg["tokenizer"] == "word" and
          cfg["max-length"] == "24" and cfg["epochs"] == "1",
          "config.ini is what ran: the checkpoint's preset and shape, tiny's 1 epoch (not small's 10): "
          + str({k: cfg[k] for k in ("preset", "d-model", "tokenizer", "max-length", "epochs")}))
    p = subprocess.run([r.a.mpirun, "--oversubscribe", "--bind-to", "none", "-n", str(n), r.a.exe,
                        "-c", r.path("F", "config.ini"), "--resume", "auto", "--max-steps", "11", "--quiet"],
                       capture_output=True, text=True, timeout=300)
    check(p.returncode == 0 and not warnings(p) and global_step(r.path("F")) == 11,
          f"-c RUN/config.ini --resume auto continues without a warning\n{p.stderr}")
    # other training data in mid-epoch: refused, then accepted with --allow-data-change
    other = r.cmd(n, "F", "--resume", "auto", "--max-steps", "13")
    other[other.index("--train-file") + 1] = r.val
    p = subprocess.run(other, capture_output=True, text=True, timeout=300)
    err = [l for l in p.stderr.splitlines() if l.startswith("expert-dist")]
    check(p.returncode == 1 and len(err) == 1 and "--allow-data-change" in err[0] and
          len(re.findall(r"\b[0-9a-f]{16}\b", err[0])) == 2,
          f"a mid-epoch resume on other data is refused naming both fingerprints: {err}")
    check(global_step(r.path("F")) == 11, "the refused resume left last.h5 alone")
    p = subprocess.run(other + ["--allow-data-change"], capture_output=True, text=True, timeout=300)
    check(p.returncode == 0 and global_step(r.path("F")) == 13, f"--allow-data-change accepts it\n{p.stderr}")
    with h5py.File(r.path("F"), "r") as f:
        check(int(f["trainer"].attrs["epoch"]) == 0 and int(f["trainer"].attrs["step_in_epoch"]) == 2,
              "... restarting the epoch on the new data (2 steps into it)")
    # eval / generate: a flag they cannot honour is refused, a config file's value is not
    ck = r.path("F")
    for cmd in (["eval", ck, r.val, "--no-pack"], ["eval", ck, r.val, "--recompute"],
                ["generate", ck, "the", "--max-length", "8"]):
        p = subprocess.run([r.a.exe] + cmd, capture_output=True, text=True)
        err = [l for l in p.stderr.splitlines() if l.startswith("expert-dist")]
        flag = next(a for a in cmd if a.startswith("--")).replace("--no-", "--")
        check(p.returncode == 2 and len(err) == 1 and flag in err[0] and not p.stdout,
              f"{' '.join(cmd[:1] + cmd[3:])}: refused with one line, exit 2: {err}")
    ini = os.path.join(r.work, "eval.ini")
    with open(ini, "w") as f:
        f.write("pack = true\nlr = 0.1\n")
    p = subprocess.run([r.a.exe, "eval", ck, r.val, "-c", ini, "--threads", "1"], capture_output=True, text=True)
    check(p.returncode == 0 and "loss" in p.stdout and len(warnings(p)) == 1 and "pack" in warnings(p)[0],
          f"eval -c FILE: the config's pack = true is ignored with a warning (its lr silently: one file serves all)\n{p.stderr}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("case", choices=["exact", "sigterm", "sigint", "crash", "world", "zero", "rotation", "v1", "flags"])
    ap.add_argument("-n", type=int, default=1)
    ap.add_argument("--exe", required=True)
    ap.add_argument("--mpirun", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    r = Runner(a)
    globals()[f"case_{a.case}"](r, a.n)
    shutil.rmtree(a.workdir, ignore_errors=True)
    print("PASS")


if __name__ == "__main__":
    main()
