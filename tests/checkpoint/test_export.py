#!/usr/bin/python3
"""A checkpoint written by a real `expert-dist train` run, read by other tools:
h5dump -H shows the documented layout, h5py reads every group with the documented types,
the /model names and shapes are exactly the reference PyTorch model's state_dict, and
scripts/export_pytorch.py reproduces the C engine's loss (dump_windows) and
`expert-dist eval`'s loss on the same windows.

    test_export.py --exe build/expert-dist --dump-windows build/.../dump_windows --workdir DIR
"""
import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import synth_corpus  # noqa: E402

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXPORT = os.path.join(SRC, "scripts", "export_pytorch.py")
PY = "/usr/bin/python3"


def run(cmd, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120, **kw)
    if p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def check(cond, msg):
    if not cond:
        sys.exit(f"FAIL: {msg}")
    print(f"ok: {msg}")


def reference_gpt():
    spec = importlib.util.spec_from_file_location("ref_gpt", os.path.join(SRC, "tests", "reference", "gpt.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def corpus(workdir):
    """A small generated train/val split, so the run takes a second."""
    return (synth_corpus.write(os.path.join(workdir, "train.txt"), 300, 11),
            synth_corpus.write(os.path.join(workdir, "val.txt"), 60, 12))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exe", required=True)
    ap.add_argument("--dump-windows", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    train, val = corpus(a.workdir)
    ck = os.path.join(a.workdir, "ck")
    run([a.exe, "train", "--train-file", train, "--val-file", val, "--d-model", "32", "--n-layers", "2",
         "--n-heads", "4", "--d-ff", "48", "--max-length", "24", "--stride", "12", "--max-seq-len", "32",
         "--tokenizer", "word", "--vocab-size", "400", "--epochs", "1", "--max-steps", "30", "--batch-size", "4", "--threads", "1",
         "--lr", "2e-3", "--compress", "4", "-o", ck, "--quiet"])
    path = os.path.join(ck, "last.h5")

    # --- h5dump -H: the documented layout, readable by the stock HDF5 tools --------------
    dump = run(["h5dump", "-H", "-p", path]).stdout
    for want in ['ATTRIBUTE "format"', 'ATTRIBUTE "format_version"', 'ATTRIBUTE "created"',
                 'ATTRIBUTE "git_commit"', 'GROUP "config"', 'ATTRIBUTE "lr"', 'GROUP "model"',
                 'DATASET "wte.weight"', 'DATASET "blocks.1.fc_out.weight"', 'GROUP "optimizer"',
                 'GROUP "m"', 'GROUP "v"', 'GROUP "trainer"',
                 'GROUP "history"', 'DATASET "val_loss"', 'DATASET "tokenizer"', "H5T_IEEE_F32LE",
                 "COMPRESSION DEFLATE { LEVEL 4 }"]:
        check(want in dump, f"h5dump -H shows {want}")
    m = re.search(r'DATASET "wpe.weight" \{\s*DATATYPE\s+H5T_IEEE_F32LE\s*DATASPACE\s+SIMPLE \{ \( 32, 32 \)', dump)
    check(m is not None, "h5dump -H: wpe.weight is float32 [max_seq_len, d_model]")

    # --- h5py: every group with its documented types ---------------------------------------
    ref = reference_gpt()
    with h5py.File(path, "r") as f:
        check(f.attrs["format"] == "expert-dist-checkpoint" and int(f.attrs["format_version"]) == 2,
              "root format attributes")
        check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", f.attrs["created"]) is not None,
              "created is ISO-8601 UTC")
        c = f["config"].attrs
        check(isinstance(c["batch-size"], np.int64) and int(c["batch-size"]) == 4, "/config int option typed int64")
        check(isinstance(c["lr"], np.float64) and abs(c["lr"] - 2e-3) < 1e-12, "/config float option typed float64")
        check(c["optimizer"] == "adamw" and c["train-file"] == train, "/config string options")
        check(isinstance(c["seed"], np.uint64) and int(c["seed"]) == 42, "/config seed typed uint64")
        g = f["model"]
        V = int(g.attrs["vocab_size"])
        model = ref.GPT(V, int(g.attrs["d_model"]), int(g.attrs["n_layers"]), int(g.attrs["n_heads"]),
                        int(g.attrs["d_ff"]), int(g.attrs["max_seq_len"]))
        sd = model.state_dict()
        check(list(g) == list(sd), "/model names == reference state_dict keys, in state_dict order")
        check(all(g[k].shape == tuple(sd[k].shape) and g[k].dtype == np.float32 for k in sd),
              "/model shapes == state_dict shapes, float32")
        check(int(g.attrs["num_params"]) == sum(p.numel() for p in model.parameters()), "num_params")
        for grp in ("optimizer/m", "optimizer/v"):
            check(list(f[grp]) == list(sd) and all(f[grp][k].shape == tuple(sd[k].shape) for k in sd),
                  f"/{grp} mirrors /model")
        check(f["optimizer"].attrs["kind"] == "adamw" and int(f["optimizer"].attrs["step"]) == 30, "/optimizer attrs")
        t = f["trainer"].attrs
        check(int(t["global_step"]) == 30 and int(t["world_size"]) == 1, "/trainer global_step, world_size")
        check("dropout_rng" not in f["trainer"], "no /trainer/dropout_rng since format 2 (dropout draws none)")
        h = f["history"]
        check(all(h[k].dtype == np.float64 and h[k].ndim == 1 for k in h), "/history columns are 1-D float64")
        check(h["log_loss"].shape[0] >= 1, "/history has log rows")
        tok = f["tokenizer"][()]
        check(tok.startswith(b"{") and f["tokenizer"].attrs["kind"] == "word", "/tokenizer holds the word JSON")
        weights = {k: g[k][()] for k in g}

    # --- export_pytorch.py: a strict state_dict, and the same loss as C and eval ------------
    pt = os.path.join(a.workdir, "model.pt")
    ids = os.path.join(a.workdir, "ids.txt")
    c_out = run([a.dump_windows, path, val, ids]).stdout
    c_loss = float(re.search(r"loss (\S+)", c_out).group(1))
    py_out = run([PY, EXPORT, path, "-o", pt, "--ids", ids]).stdout
    check("wrote" in py_out, "export_pytorch writes the .pt")
    loaded = torch.load(pt)
    check(list(loaded) == list(sd), ".pt keys == reference state_dict keys")
    check(all(np.array_equal(loaded[k].numpy(), weights[k]) for k in loaded), ".pt tensors == checkpoint, bit for bit")
    py_loss = float(re.search(r"loss (\S+)", py_out).group(1))
    ev = run([a.exe, "eval", path, val, "--threads", "1"]).stdout
    ev_loss = float(re.search(r"loss (\S+)", ev).group(1))
    print(f"loss: C {c_loss:.9f}  PyTorch {py_loss:.9f}  expert-dist eval {ev_loss:.4f}")
    check(abs(py_loss - c_loss) < 1e-4, "PyTorch loss == C engine loss (1e-4)")
    # eval prints 4 decimals: its rounding (<= 5e-5) plus float noise stays inside 1e-4
    check(abs(py_loss - ev_loss) < 1e-4, "PyTorch loss == expert-dist eval loss (1e-4)")

    # --- the script refuses what is not a checkpoint ---------------------------------------
    bad = os.path.join(a.workdir, "bad.h5")
    with h5py.File(bad, "w") as f:
        f["x"] = np.zeros(3)
    p = subprocess.run([PY, EXPORT, bad], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    check(p.returncode == 1 and "not an expert-dist checkpoint" in p.stderr, "export_pytorch rejects a foreign HDF5 file")
    shutil.rmtree(a.workdir, ignore_errors=True)
    print("PASS")


if __name__ == "__main__":
    main()
