#!/usr/bin/python3
"""Real Slurm tests of the batch scripts in slurm/: each case submits with sbatch to the
local cluster started by scripts/slurm-local.sh (the ctest fixture) and checks what
Slurm and the run directory report afterwards.

  slurm_jobs.py train     train.sbatch, 2 ranks, runs to COMPLETED, exit 0, last.h5 opens
  slurm_jobs.py preempt   USR1 to the batch shell -> checkpoint, exit 3, self-requeue,
                          resume in the same run dir, COMPLETED with a continuous history
  slurm_jobs.py fallback  a second cluster without PMIx: auto picks mpirun; preempt + requeue
  slurm_jobs.py startup   USR1 while the ranks start up (they die of it): still requeued
  slurm_jobs.py errors    missing config, bad launcher, sweep index past LRS, bad flag: exit 2;
                          a launch that returns 0 without the trainer's final summary: FAILED
  slurm_jobs.py cancel    plain `scancel JOBID` mid-run: CANCELLED, never requeued, last.h5 loads
  slurm_jobs.py single    single-node.sbatch, 4 ranks, COMPLETED, last.h5 opens
  slurm_jobs.py sweep     sweep.sbatch, 2-task array, 1 rank each under mpirun, a history per lr

The jobs run the real `expert-dist train`: the tiny preset on a slice of the bundled
corpus (the first paragraphs of data/fortunes-{train,val}.txt), so an epoch takes seconds.

Environment (set by tests/slurm/CMakeLists.txt): SLURM_CONF, ED_SLURM_DIR,
ED_SLURM_CTLD_PORT, ED_SOURCE_DIR, ED_WORK_DIR, ED_BIN (the expert-dist binary).
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import h5py

SRC = os.environ["ED_SOURCE_DIR"]
BIN = os.environ["ED_BIN"]
JOB_TIMEOUT = float(os.environ.get("ED_SLURM_JOB_TIMEOUT", "150"))


def fail(msg, log=None):
    print(f"FAIL: {msg}", flush=True)
    if log and os.path.exists(log):
        print(f"---- {log}\n{open(log, errors='replace').read()}----", flush=True)
    sys.exit(1)


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        fail(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def workdir(name):
    d = os.path.join(os.environ["ED_WORK_DIR"], name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def corpus_slice(w, n_train=160, n_val=32):
    """Trainer flags for a few-second epoch: the first paragraphs of the bundled corpus."""
    args = []
    for split, n in (("train", n_train), ("val", n_val)):
        src = os.path.join(SRC, "data", f"fortunes-{split}.txt")
        if not os.path.exists(src):
            fail(f"{src} missing: build the bundled corpus first (scripts/setup.sh)")
        paras = [p for p in re.split(r"\n[ \t]*\n", open(src, encoding="utf-8").read()) if p.strip()]
        dst = os.path.join(w, f"{split}.txt")
        with open(dst, "w", encoding="utf-8") as f:
            f.write("\n\n".join(paras[:n]) + "\n")
        args += [f"--{split}-file", dst]
    return args + ["--log-interval", "2"]


def sbatch(script, args, cwd, env_extra, sbatch_flags):
    env = dict(os.environ, ED_BIN=BIN)
    env.update(env_extra)
    out = run(["sbatch", "--parsable", *sbatch_flags, os.path.join(SRC, "slurm", script), *args],
              cwd=cwd, env=env)
    return out.strip().split(";")[0]


def job_records(jobid):
    """`scontrol show job` as one dict per job (an array shows one per task)."""
    out = subprocess.run(["scontrol", "show", "job", "-o", jobid], capture_output=True, text=True).stdout
    recs = []
    for line in out.splitlines():
        recs.append(dict(m.groups() for m in re.finditer(r"(\w+)=(\S*)", line)))
    return recs


FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"}


def wait_final(jobid, n_tasks, log_hint):
    t0 = time.time()
    while time.time() - t0 < JOB_TIMEOUT:
        recs = job_records(jobid)
        if len(recs) == n_tasks and all(r.get("JobState") in FINAL for r in recs):
            return recs
        time.sleep(0.5)
    subprocess.run(["scancel", jobid])
    fail(f"job {jobid} not finished after {JOB_TIMEOUT:.0f}s: "
         f"{[(r.get('JobId'), r.get('JobState')) for r in job_records(jobid)]}", log_hint)


def expect_completed(rec, log):
    if rec.get("JobState") != "COMPLETED" or rec.get("ExitCode") != "0:0":
        fail(f"job {rec.get('JobId')}: JobState={rec.get('JobState')} ExitCode={rec.get('ExitCode')}, "
             "want COMPLETED 0:0", log)


def check_checkpoint(path, log, epochs):
    """last.h5 opens, is an expert-dist checkpoint with weights, and is of the finished run."""
    if not os.path.exists(path):
        fail(f"{path} missing", log)
    try:
        with h5py.File(path, "r") as f:
            fmt = f.attrs.get("format")
            fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
            if fmt != "expert-dist-checkpoint" or "trainer" not in f or "model" not in f or not len(f["model"]):
                fail(f"{path}: format={fmt!r}, groups={list(f)}: not an expert-dist checkpoint", log)
            got = int(f["trainer"].attrs["epoch"])
            if got != epochs:
                fail(f"{path}: /trainer epoch={got}, want {epochs} (the finished run)", log)
            return int(f["trainer"].attrs["global_step"])
    except OSError as e:
        fail(f"{path} does not open as HDF5: {e}", log)


def read_history(path, log):
    if not os.path.exists(path):
        fail(f"{path} missing", log)
    with open(path) as f:
        return json.load(f)


def loss_lines(log):
    return [ln for ln in open(log, errors="replace") if re.search(r"\bloss\b", ln)] if os.path.exists(log) else []


def stale_segments():
    """Two Open MPI shared-memory segments 'of a killed job' on this node (an hour old): one
    no process maps (stale: the next job's rank.sh must remove it) and one a live process
    maps (a job still running: it must stay). Returns (stale, live, the live holder)."""
    host = socket.gethostname()
    stale, live = (f"/dev/shm/vader_segment.{host}.ed{os.getpid():x}.{i}" for i in (0, 1))
    for f in (stale, live):
        with open(f, "wb") as fh:
            fh.write(b"\0" * 4096)
        os.utime(f, (time.time() - 3600,) * 2)
    holder = subprocess.Popen([sys.executable, "-c", "import mmap, sys, time\n"
                               "f = open(sys.argv[1], 'r+b'); m = mmap.mmap(f.fileno(), 0); print(1, flush=True)\n"
                               "time.sleep(600)", live], stdout=subprocess.PIPE, text=True)
    holder.stdout.readline()  # mapped
    return stale, live, holder


def case_train():
    w = workdir("train")
    log, run_dir = os.path.join(w, "train.out"), os.path.join(w, "run")
    stale, live, holder = stale_segments()
    # The config file as the first argument (configs/tiny.ini: tiny preset, 1 epoch).
    # No ED_HOME: train.sbatch must find slurm/launch.sh through `scontrol show job`
    # (sbatch runs a spooled copy of the script, and the submit dir is not the checkout).
    jobid = sbatch("train.sbatch", [os.path.join(SRC, "configs", "tiny.ini"), *corpus_slice(w)], w,
                   {"RUN_DIR": run_dir},
                   ["--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1", "--time=5", f"--output={log}"])
    try:
        rec = wait_final(jobid, 1, log)[0]
    finally:
        holder.kill()
        holder.wait()
    expect_completed(rec, log)
    text = open(log, errors="replace").read()
    if not loss_lines(log):
        fail("the log never mentions the loss", log)
    left = os.path.exists(stale)
    os.unlink(live)
    if left or "removed 1 stale Open MPI shared-memory segment(s)" not in text:
        fail(f"{stale} (unmapped, older than the job) should be removed with one line in the log; "
             f"{live} (mapped) kept", log)
    # The binary under test (ED_BIN from CMake), whatever the build directory is called.
    for want in ("2 ranks x 1 threads", "launcher srun", "2 rank(s) x 1 thread(s)", "# model tiny:", f" {BIN} train "):
        if want not in text:
            fail(f"the log lacks {want!r}", log)
    # The full effective configuration is in the run directory, not in the log.
    if "preset = tiny" not in open(os.path.join(run_dir, "config.ini")).read():
        fail("config.ini in the run directory lacks 'preset = tiny'", log)
    check_checkpoint(os.path.join(run_dir, "last.h5"), log, 1)
    hist = read_history(os.path.join(run_dir, "history.json"), log)
    if len(hist.get("train_loss", [])) != 1:
        fail(f"history has {len(hist.get('train_loss', []))} epochs, want 1", log)
    print(f"ok: job {jobid} COMPLETED 0:0, {len(loss_lines(log))} loss lines, last.h5 opens", flush=True)


def preempt_run(w, launcher, epochs):
    """Submits train.sbatch, sends USR1 to the batch shell once the trainer steps, and
    checks checkpoint -> exit 3 -> requeue -> resume -> COMPLETED with a whole history."""
    log = os.path.join(w, "preempt.out")
    # ED_HOME set, RUN_DIR not: the run dir defaults to <submit dir>/runs/<job id>, the
    # key that survives the requeue.
    jobid = sbatch("train.sbatch", ["--preset", "tiny", "--epochs", str(epochs), *corpus_slice(w)], w,
                   {"ED_HOME": SRC},
                   ["--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1", "--time=5", f"--output={log}"])
    t0 = time.time()
    while len(loss_lines(log)) < 2:  # progress: the trainer is past start-up and stepping
        recs = job_records(jobid)
        if recs and recs[0].get("JobState") in FINAL:
            fail(f"job {jobid} ended ({recs[0].get('JobState')}) before it could be preempted", log)
        if time.time() - t0 > JOB_TIMEOUT:
            fail("no training progress to preempt", log)
        time.sleep(0.2)
    run(["scancel", "--signal=USR1", "--batch", jobid])
    t1 = time.time()
    rec = wait_final(jobid, 1, log)[0]
    expect_completed(rec, log)
    text = open(log, errors="replace").read()
    for want in (f"launcher {launcher}", "got SIGUSR1", "trainer exited with status 3", f"requeueing job {jobid}",
                 "attempt 2", "--resume auto", "resuming from"):
        if want not in text:
            fail(f"the log lacks {want!r}", log)
    if int(rec.get("Restarts", "0")) < 1:
        fail(f"scontrol shows Restarts={rec.get('Restarts')}, want >= 1", log)
    run_dir = os.path.join(w, "runs", jobid)
    total = check_checkpoint(os.path.join(run_dir, "last.h5"), log, epochs)
    # The attempts' summaries ("preempted: N steps ...", "done: M steps ...") must add up
    # to the run's steps: the second attempt continued, it neither restarted nor skipped.
    runs = [(m.group(1), int(m.group(2))) for m in re.finditer(r"^(preempted|done): (\d+) steps in", text, re.M)]
    if [k for k, _ in runs] != ["preempted", "done"] or sum(n for _, n in runs) != total or runs[0][1] < 1:
        fail(f"attempt summaries {runs} do not add up to the {total} steps in last.h5", log)
    hist = read_history(os.path.join(run_dir, "history.json"), log)
    ep = [int(e) for e in hist.get("epoch", [])]
    steps = hist.get("steps", {}).get("step", [])
    if ep != list(range(1, epochs + 1)) or len(hist.get("train_loss", [])) != epochs:
        fail(f"history epochs {ep}: want 1..{epochs}, each once", log)
    if not steps or any(b <= a for a, b in zip(steps, steps[1:])) or steps[-1] != total:
        fail(f"history step column {steps} is not increasing up to {total}", log)
    print(f"ok: job {jobid} ({launcher}) preempted after {runs[0][1]} steps, requeued "
          f"(Restarts={rec.get('Restarts')}), resumed, COMPLETED with epochs {ep}; "
          f"{time.time() - t1:.1f}s from signal to end", flush=True)


def case_preempt():
    preempt_run(workdir("preempt"), "srun", 4)


def case_fallback():
    """A second cluster whose Slurm has no PMIx plugin (ED_SLURM_PMIX=0): the scripts'
    automatic choice must fall back to mpirun, and preemption must work through it."""
    env = dict(os.environ, ED_SLURM_PMIX="0", ED_SLURM_DIR=os.environ["ED_SLURM_DIR"] + "-nopmix",
               ED_SLURM_CTLD_PORT=str(int(os.environ["ED_SLURM_CTLD_PORT"]) + 2))
    script = os.path.join(SRC, "scripts", "slurm-local.sh")
    r = subprocess.run([script, "start"], env=env, capture_output=True, text=True)
    try:
        if r.returncode != 0:
            fail(f"slurm-local.sh start (no PMIx) failed: {r.stdout}{r.stderr}")
        os.environ["SLURM_CONF"] = os.path.join(env["ED_SLURM_DIR"], "etc", "slurm.conf")
        if "pmix" in run(["srun", "--mpi=list"]):
            fail("the no-PMIx cluster still offers pmix")
        preempt_run(workdir("fallback"), "mpirun", 2)
    finally:
        subprocess.run([script, "stop"], env=env)


def case_startup():
    """USR1 before the ranks have installed their handler: they die of it (status 138);
    the script must still requeue. The "ranks" here are a script that stays in start-up
    (sleeps) on the first attempt and succeeds at once on the second: the window in
    which the real trainer can be killed this way is too short to hit on purpose."""
    w = workdir("startup")
    log = os.path.join(w, "startup.out")
    rank = os.path.join(w, "starting-rank.sh")
    with open(rank, "w") as f:
        # The second attempt "trains" at once: a final summary, as the trainer prints it.
        f.write('#!/bin/sh\n[ "${SLURM_RESTART_COUNT:-0}" -gt 0 ] && echo "done: 0 steps in 0s" && exit 0\n'
                'exec sleep 120\n')
    os.chmod(rank, 0o755)
    env = {"ED_HOME": SRC, "ED_BIN": rank}
    jobid = sbatch("train.sbatch", [], w, env,
                   ["--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1", "--time=5", f"--output={log}"])
    t0 = time.time()
    while "running:" not in (open(log).read() if os.path.exists(log) else ""):
        if time.time() - t0 > JOB_TIMEOUT:
            fail("the job never started its ranks", log)
        time.sleep(0.2)
    time.sleep(1)  # let srun start the ranks
    run(["scancel", "--signal=USR1", "--batch", jobid])
    rec = wait_final(jobid, 1, log)[0]
    expect_completed(rec, log)
    text = open(log, errors="replace").read()
    for want in ("trainer exited with status 138", "treated as preempted", f"requeueing job {jobid}", "attempt 2"):
        if want not in text:
            fail(f"the log lacks {want!r}", log)
    print(f"ok: job {jobid}: ranks killed in start-up, requeued, COMPLETED", flush=True)


def case_errors():
    """Bad input fails the job at once with one clear line and exit status 2, no requeue."""
    w = workdir("errors")
    # --time=5: train.sbatch asks for USR1 120 s before the limit, so with --time=2 the
    # signal is due at once and, when slurmctld's signal check fires before the trainer
    # has failed, the job is "preempted" and requeued instead of failing (seen in CI).
    flags = ["--nodes=1", "--ntasks=2", "--cpus-per-task=1", "--time=5"]
    subs = {
        "config": ("train.sbatch", ["no-such.ini"], {}, "config file 'no-such.ini' not found"),
        "launcher": ("single-node.sbatch", [], {"ED_LAUNCHER": "ssh"}, "ED_LAUNCHER must be auto, srun or mpirun"),
        "sweep": ("sweep.sbatch", [], {"LRS": "1e-3"}, "LRS has 1 values"),
        "flag": ("train.sbatch", ["--no-such-flag", "1"], {}, "no-such-flag"),
        # srun returned 0 after a failed task launch (seen after a node restart): a
        # "trainer" that exits 0 without training stands in for it.
        "nosummary": ("train.sbatch", [], {"ED_BIN": "/bin/true"}, "training did not complete"),
    }
    jobs = {}
    for name, (script, args, env, _) in subs.items():
        extra = ["--array=1"] if script == "sweep.sbatch" else []
        jobs[name] = sbatch(script, args, w, dict(env, ED_HOME=SRC),
                            [*flags, *extra, f"--output={w}/{name}.out"])
    for name, (_, _, _, want) in subs.items():
        log = os.path.join(w, f"{name}.out")
        rec = wait_final(jobs[name], 1, log)[0]
        code = "1:0" if name == "nosummary" else "2:0"
        if rec.get("JobState") != "FAILED" or rec.get("ExitCode") != code or rec.get("Restarts") != "0":
            fail(f"{name}: JobState={rec.get('JobState')} ExitCode={rec.get('ExitCode')} "
                 f"Restarts={rec.get('Restarts')}, want FAILED {code} without requeue", log)
        if want not in open(log, errors="replace").read():
            fail(f"{name}: the log lacks {want!r}", log)
    print(f"ok: {len(subs)} bad submissions FAILED (exit 2; 1 for the launch without a summary) "
          "with a clear message", flush=True)


def case_cancel():
    """A plain `scancel JOBID` (SIGTERM to the batch shell and the ranks): the ranks save
    last.h5 and stop, the job ends CANCELLED and is never requeued."""
    w = workdir("cancel")
    log = os.path.join(w, "cancel.out")
    jobid = sbatch("train.sbatch", ["--preset", "tiny", "--epochs", "20", *corpus_slice(w)], w,
                   {"ED_HOME": SRC},
                   ["--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1", "--time=5", f"--output={log}"])
    t0 = time.time()
    while len(loss_lines(log)) < 2:
        recs = job_records(jobid)
        if recs and recs[0].get("JobState") in FINAL:
            fail(f"job {jobid} ended ({recs[0].get('JobState')}) before it could be cancelled", log)
        if time.time() - t0 > JOB_TIMEOUT:
            fail("no training progress to cancel", log)
        time.sleep(0.2)
    run(["scancel", jobid])
    rec = wait_final(jobid, 1, log)[0]
    # Give a wrongly requeued job the time to show up as one (the old script requeued it
    # and it ran again 17 s later): the batch shell must have finished with its verdict.
    t0 = time.time()
    while "cancelled: not requeueing" not in open(log, errors="replace").read() and time.time() - t0 < 60:
        time.sleep(0.5)
    rec = job_records(jobid)[0]
    text = open(log, errors="replace").read()
    if rec.get("JobState") != "CANCELLED" or rec.get("Restarts") != "0":
        fail(f"JobState={rec.get('JobState')} Restarts={rec.get('Restarts')}, want CANCELLED without requeue", log)
    for want in ("got SIGTERM", "signal received: writing last.h5", "cancelled: not requeueing"):
        if want not in text:
            fail(f"the log lacks {want!r}", log)
    if "requeueing job" in text or "attempt 2" in text:
        fail("a cancelled job was requeued", log)
    path = os.path.join(w, "runs", jobid, "last.h5")
    r = subprocess.run([BIN, "inspect", path], capture_output=True, text=True)
    m = re.search(r"global_step (\d+)", r.stdout)
    if r.returncode != 0 or not m or int(m.group(1)) < 1:
        fail(f"{path} does not load as a checkpoint of the run: {r.stdout}{r.stderr}", log)
    print(f"ok: job {jobid} CANCELLED by scancel, not requeued, last.h5 at step {m.group(1)} loads", flush=True)


def case_single():
    w = workdir("single")
    log = os.path.join(w, "single.out")
    jobid = sbatch("single-node.sbatch", ["--preset", "tiny", "--epochs", "1", *corpus_slice(w)], w,
                   {"ED_HOME": SRC}, ["--ntasks=4", "--cpus-per-task=1", "--time=5", f"--output={log}"])
    rec = wait_final(jobid, 1, log)[0]
    expect_completed(rec, log)
    text = open(log, errors="replace").read()
    if "4 ranks x 1 threads" not in text or "4 rank(s) x 1 thread(s)" not in text:
        fail("the log does not show 4 ranks x 1 thread", log)
    check_checkpoint(os.path.join(w, "runs", jobid, "last.h5"), log, 1)
    print(f"ok: job {jobid} (single-node, 4 ranks) COMPLETED 0:0", flush=True)


def case_sweep():
    w = workdir("sweep")
    lrs = ["1e-3", "2e-3"]
    # The mpirun launcher, forced: the automatic choice is srun wherever Slurm has PMIx.
    # One rank per task (the other cases run 2 and 4), both tasks at once.
    jobid = sbatch("sweep.sbatch", ["--preset", "tiny", "--epochs", "1", *corpus_slice(w)], w,
                   {"ED_HOME": SRC, "LRS": " ".join(lrs), "ED_LAUNCHER": "mpirun"},
                   ["--array=0-1", "--ntasks=1", "--cpus-per-task=1", "--time=5", f"--output={w}/sweep-%A_%a.out"])
    recs = wait_final(jobid, 2, None)
    for r in recs:
        log = os.path.join(w, f"sweep-{jobid}_{r.get('ArrayTaskId')}.out")
        expect_completed(r, log)
    seen = []
    for i, lr in enumerate(lrs):
        log = os.path.join(w, f"sweep-{jobid}_{i}.out")
        text = open(log, errors="replace").read()
        if "launcher mpirun" not in text or "1 rank(s) x 1 thread(s)" not in text:
            fail("the sweep task did not run 1 rank under mpirun", log)
        d = os.path.join(w, "runs", f"sweep-{jobid}", f"lr-{lr}")
        hist = read_history(os.path.join(d, "history.json"), log)
        got = float(hist.get("config", {}).get("lr", "nan"))
        if abs(got - float(lr)) > 1e-6 * float(lr):
            fail(f"{d}/history.json records lr {got}, want {lr}", log)
        if len(hist.get("train_loss", [])) != 1:
            fail(f"{d}/history.json has {len(hist.get('train_loss', []))} epochs, want 1", log)
        check_checkpoint(os.path.join(d, "last.h5"), log, 1)
        seen.append(got)
    print(f"ok: array {jobid}: 2 tasks COMPLETED, histories with lr {seen}", flush=True)


if __name__ == "__main__":
    cases = {"train": case_train, "preempt": case_preempt, "fallback": case_fallback,
             "startup": case_startup, "errors": case_errors, "cancel": case_cancel,
             "single": case_single,
             "sweep": case_sweep}
    if len(sys.argv) != 2 or sys.argv[1] not in cases:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(cases)}")
    if not os.environ.get("SLURM_CONF"):
        fail("SLURM_CONF is not set (start the cluster with scripts/slurm-local.sh start)")
    cases[sys.argv[1]]()
