#!/usr/bin/python3
"""Export an expert-dist checkpoint to a PyTorch state_dict, and check it in PyTorch.

    export_pytorch.py CHECKPOINT.h5 [-o MODEL.pt] [--ids WINDOWS.txt] [--tokenizer-out VOCAB.json]

Reads /model of the HDF5 checkpoint with h5py into the project's reference model
(tests/reference/gpt.py, the architecture the C engine reproduces), loading it with
strict=True so a missing, extra or misshapen tensor is an error, and saves its
state_dict with torch.save. The model shape comes from the /model attributes.

--ids FILE evaluates the model on token windows, one per line (space-separated ids, as
written by tests/checkpoint/dump_windows): inputs = window[:-1], targets = window[1:],
and prints "loss <mean cross-entropy over all targets> tokens <count>", the number
`expert-dist eval` reports for the same windows. Tokenizing text is deliberately left
to the C side (the tokenizer is stored in the checkpoint under /tokenizer;
--tokenizer-out writes it to a file).

Needs /usr/bin/python3 with torch, numpy and h5py (Debian: python3-torch python3-h5py).
"""
import argparse
import importlib.util
import os
import sys

import h5py
import numpy as np

FORMAT = "expert-dist-checkpoint"
FORMAT_VERSION = 2


def load_reference():
    """The reference model module, by path relative to this script (no install needed)."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "tests", "reference", "gpt.py")
    spec = importlib.util.spec_from_file_location("expert_reference_gpt", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fail(msg):
    print(f"export_pytorch: {msg}", file=sys.stderr)
    sys.exit(1)


def read_checkpoint(path):
    """Returns (config dict, {name: float32 array}, tokenizer bytes or None)."""
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        fail(f"{path}: cannot open as HDF5: {e}")
    with f:
        fmt = f.attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode()
        if fmt != FORMAT:
            fail(f"{path}: not an expert-dist checkpoint (format {fmt!r})")
        version = int(f.attrs.get("format_version", 0))
        if version > FORMAT_VERSION:
            fail(f"{path}: format_version {version} is newer than this script supports ({FORMAT_VERSION})")
        if "model" not in f:
            fail(f"{path}: /model: missing group")
        g = f["model"]
        cfg = {}
        for k, v in g.attrs.items():  # numbers, and the architecture's name (a string)
            v = v.decode() if isinstance(v, bytes) else v
            cfg[k] = v if isinstance(v, str) else float(v) if k in ("dropout", "rope_theta", "rms_eps") else int(v)
        if cfg.get("arch", "gpt2") != "gpt2":
            fail(f"{path}: a {cfg['arch']} model: this script rebuilds the GPT-2 reference only; "
                 "`expert-dist export` writes a llama in the Hugging Face layout")
        tensors = {name: np.asarray(g[name][()], dtype=np.float32) for name in g}
        tok = f["tokenizer"][()] if "tokenizer" in f else None
    return cfg, tensors, tok


def build_model(ref, cfg, tensors, path):
    import torch
    model = ref.GPT(cfg["vocab_size"], cfg["d_model"], cfg["n_layers"], cfg["n_heads"], cfg["d_ff"],
                    cfg["max_seq_len"])
    state = {k: torch.from_numpy(v) for k, v in tensors.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        fail(f"{path}: /model does not match the reference model: {e}")
    model.eval()
    return model


def eval_ids(model, ids_path):
    """Mean cross-entropy over every target of every window (one window at a time: no padding)."""
    import torch
    import torch.nn.functional as F
    total, count = 0.0, 0
    with open(ids_path) as fh, torch.no_grad():
        for lineno, line in enumerate(fh, 1):
            ids = [int(x) for x in line.split()]
            if len(ids) < 2:
                fail(f"{ids_path}:{lineno}: a window needs at least 2 token ids")
            x = torch.tensor(ids[:-1], dtype=torch.long).unsqueeze(0)
            y = torch.tensor(ids[1:], dtype=torch.long)
            logits = model(x)[0].double()  # double: the sum over many tokens stays exact enough
            total += F.cross_entropy(logits, y, reduction="sum").item()
            count += len(ids) - 1
    if count == 0:
        fail(f"{ids_path}: no windows")
    return total / count, count


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="expert-dist HDF5 checkpoint (best.h5, last.h5, step-N.h5)")
    ap.add_argument("-o", "--output", help="write the state_dict here (torch.save)")
    ap.add_argument("--ids", help="token windows, one per line, to evaluate the loss on")
    ap.add_argument("--tokenizer-out", help="write the checkpoint's serialized tokenizer (/tokenizer) here")
    ap.add_argument("--threads", type=int, default=1, help="torch threads [1]")
    a = ap.parse_args()

    cfg, tensors, tok = read_checkpoint(a.checkpoint)
    import torch  # only now: a wrong file is reported without the seconds torch takes to load
    torch.set_num_threads(a.threads)
    model = build_model(load_reference(), cfg, tensors, a.checkpoint)
    n = sum(p.numel() for p in model.parameters())
    print(f"model: vocab {cfg['vocab_size']}, d_model {cfg['d_model']}, {cfg['n_layers']} layers, "
          f"{cfg['n_heads']} heads, d_ff {cfg['d_ff']}, max_seq_len {cfg['max_seq_len']}: {n} parameters")
    if a.output:
        torch.save(model.state_dict(), a.output)
        print(f"wrote {a.output}")
    if a.tokenizer_out:
        if tok is None:
            fail(f"{a.checkpoint}: /tokenizer: missing dataset")
        with open(a.tokenizer_out, "wb") as fh:
            fh.write(tok)
        print(f"wrote {a.tokenizer_out}")
    if a.ids:
        loss, count = eval_ids(model, a.ids)
        print(f"loss {loss:.9f} tokens {count}")


if __name__ == "__main__":
    main()
