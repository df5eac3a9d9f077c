#!/usr/bin/python3
"""Stand-in for `expert-dist train` used by the Slurm tests until the real trainer
trains: it keeps the parts of the contract the batch scripts rely on, and nothing else.

  standin_trainer.py train --checkpoint-dir DIR [--resume auto] [--epochs N] [--lr X]
                     [--threads T] [--config F] [--step-seconds S] [other flags ignored]

Every rank runs it (rank from PMIX_RANK / OMPI_COMM_WORLD_RANK / SLURM_PROCID); rank 0
logs "epoch E step S loss L", appends one history row per epoch, and on SIGUSR1/SIGTERM
finishes the step, writes DIR/last.h5 (HDF5, /trainer attrs) and exits 3. --resume auto
continues from DIR/last.h5 and logs "resumed from". This is not the trainer under test:
the tests check the batch scripts (launch, signal forwarding, requeue, run dirs).
"""
import json
import os
import signal
import sys
import time

import h5py

stop = []
signal.signal(signal.SIGUSR1, lambda s, f: stop.append(s))
signal.signal(signal.SIGTERM, lambda s, f: stop.append(s))

args = sys.argv[1:]
if not args or args[0] != "train":
    sys.exit("standin_trainer: usage: standin_trainer.py train --checkpoint-dir DIR ...")
opts = {"epochs": "2", "lr": "5e-4", "resume": "", "step-seconds": "0.2", "threads": "1"}
i = 1
while i < len(args):
    if args[i].startswith("--") and i + 1 < len(args):
        opts[args[i][2:]] = args[i + 1]
        i += 2
    else:
        i += 1
ckdir = opts["checkpoint-dir"]
rank = int(os.environ.get("PMIX_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("SLURM_PROCID", "0"))))
epochs, steps = int(opts["epochs"]), 10
last = os.path.join(ckdir, "last.h5")
hist_path = os.path.join(ckdir, "history.json")

epoch, step, hist = 0, 0, {"epoch": [], "train_loss": [], "config": {"lr": float(opts["lr"])}}
if opts["resume"] == "auto" and os.path.exists(last):
    with h5py.File(last, "r") as f:
        epoch, step = int(f["trainer"].attrs["epoch"]), int(f["trainer"].attrs["step_in_epoch"])
    with open(hist_path) as f:
        hist = json.load(f)
    if rank == 0:
        print(f"resumed from {last} at epoch {epoch + 1} step {step}", flush=True)

def save():
    with h5py.File(last + ".tmp", "w") as f:
        f.attrs["format"] = "expert-dist-checkpoint"
        g = f.create_group("trainer")
        g.attrs["epoch"], g.attrs["step_in_epoch"] = epoch, step
    os.replace(last + ".tmp", last)
    with open(hist_path, "w") as f:
        json.dump(hist, f)

while epoch < epochs:
    while step < steps:
        time.sleep(float(opts["step-seconds"]))
        step += 1
        if rank == 0:
            print(f"epoch {epoch + 1} step {step} loss {5.0 / (1 + epoch * steps + step):.4f}", flush=True)
        if stop:
            if rank == 0:
                save()
                print(f"preempted: checkpoint {last}", flush=True)
            sys.exit(3)
    hist["epoch"].append(epoch + 1)
    hist["train_loss"].append(5.0 / (1 + (epoch + 1) * steps))
    epoch, step = epoch + 1, 0
if rank == 0:
    save()
sys.exit(0)
