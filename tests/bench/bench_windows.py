#!/usr/bin/env python3
"""bench_windows.py — training throughput on the bundled corpus by window mode (issue 24),
ours against PyTorch at the same windows, ratios from one run (scripts/bench.sh --windows).

Ours: `expert-dist train --preset P --data-file` on one prepared file (so every run sees the
same tokens), for --steps steps in each mode, the modes interleaved --rounds times:
  per-window   the default: per-document windows packed into rows, block-diagonal attention
  pad-to-max   the same windows, one padded row each (the original pipeline's batches)
  pack         --pack: full windows over the concatenated documents
tok/s is the trainer's own figure (target tokens per second over the steps after the
first); the best of the rounds is kept (the machine may be shared: compare ratios).

PyTorch (tests/reference/gpt.py's model, AdamW, clip 1.0, the same thread count, the same
per-document windows from the same file, --batch-size windows a step):
  torch padded  each window a row padded to max-length - 1, as a PyTorch user writes it:
                scaled_dot_product_attention(is_causal=True) where the version has it,
                else the reference's masked softmax
  torch packed  the same windows packed into rows (first fit, longest first) with a
                block-diagonal causal mask (SDPA attn_mask, else masked softmax) and
                per-window position ids
Prints one table (markdown) with the CPU named."""
import argparse
import math
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        name = re.search(r"model name\s*:\s*(.*)", info).group(1).strip()
        fam = re.search(r"cpu family\s*:\s*(\d+)", info).group(1)
        model = re.search(r"model\s*:\s*(\d+)", info).group(1)
        return "%s (family %s model %s), %d cores" % (name, fam, model, os.cpu_count())
    except (OSError, AttributeError):
        return "unknown CPU"


def ours(exe, data, preset, steps, threads, flags, out):
    cmd = [exe, "train", "--preset", preset, "--data-file", data, "--max-steps", str(steps), "--eval-interval", "0",
           "--threads", str(threads), "--quiet", "--save-steps", "0", "-o", out] + flags
    r = subprocess.run(cmd, capture_output=True, text=True)
    m = re.search(r"done: .*?(\d+) tokens/s", r.stdout + r.stderr)
    if r.returncode != 0 or not m:
        sys.exit("bench_windows: %s failed:\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return float(m.group(1))


def windows_of(data, max_length, stride):
    """Per-document windows (start, length) as the engine cuts them (docs/formats.md)."""
    import h5py
    with h5py.File(data, "r") as f:
        tokens = np.array(f["train/tokens"], dtype=np.int64)
        off = np.array(f["train/doc_offsets"], dtype=np.int64)
    wins = []
    for d in range(len(off) - 1):
        a, L = off[d], off[d + 1] - off[d]
        s = 0
        while True:
            n = min(max_length, L - s)
            if n >= 2:
                wins.append((a + s, n))
            if s + n >= L:
                break
            s += stride
    return tokens, wins


def torch_peer(data, cfg, steps, threads, packed, batch):
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
    import gpt as ref
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    V, D, L, H, FF, Tm, ml, st = cfg
    sdpa = getattr(F, "scaled_dot_product_attention", None)

    def block(b, x, mask):
        B, T, _ = x.shape
        hd = D // H
        q, k, v = b.qkv(b.ln1(x)).split(D, dim=2)
        q, k, v = (t.view(B, T, H, hd).transpose(1, 2) for t in (q, k, v))
        if sdpa is not None:
            y = sdpa(q, k, v, is_causal=True) if mask is None else sdpa(q, k, v, attn_mask=mask[:, None])
        else:
            allowed = torch.ones(T, T, dtype=torch.bool).tril() if mask is None else mask[:, None]
            s = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
            y = s.masked_fill(~allowed, float("-inf")).softmax(-1) @ v
        x = x + b.proj(y.transpose(1, 2).reshape(B, T, D))
        return x + b.fc_out(F.gelu(b.fc(b.ln2(x)), approximate="tanh"))

    m = ref.GPT(V, D, L, H, FF, Tm)
    opt = torch.optim.AdamW(ref.param_groups(m, 0.01), lr=5e-4)
    tokens, wins = windows_of(data, ml, st)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(wins))
    W = ml - 1

    def batch_of(i):
        ws = sorted((wins[j] for j in order[i * batch:(i + 1) * batch]), key=lambda w: -w[1])
        if not packed:
            x = np.zeros((len(ws), W), np.int64)
            y = np.full((len(ws), W), -100, np.int64)
            for r, (a, n) in enumerate(ws):
                x[r, :n - 1], y[r, :n - 1] = tokens[a:a + n - 1], tokens[a + 1:a + n]
            return torch.from_numpy(x), torch.from_numpy(y), torch.arange(W)[None].expand(len(ws), W), None
        fill, place = [], []
        for a, n in ws:  # first fit, longest first
            r = next((i for i, f in enumerate(fill) if f + n - 1 <= W), len(fill))
            if r == len(fill):
                fill.append(0)
            place.append((r, fill[r]))
            fill[r] += n - 1
        R = len(fill)
        x, y = np.zeros((R, W), np.int64), np.full((R, W), -100, np.int64)
        pos, seg = np.zeros((R, W), np.int64), np.zeros((R, W), np.int64)
        for (a, n), (r, o) in zip(ws, place):
            x[r, o:o + n - 1], y[r, o:o + n - 1] = tokens[a:a + n - 1], tokens[a + 1:a + n]
            pos[r, o:o + n - 1] = np.arange(n - 1)
            seg[r, o:] = o
        t = np.arange(W)
        mask = (t[None, :, None] >= t[None, None, :]) & (seg[:, None, :] >= seg[:, :, None])
        return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(pos), torch.from_numpy(mask)

    times, counts = [], []
    for i in range(steps + 1):
        x, y, pos, mask = batch_of(i)
        t0 = time.perf_counter()
        h = m.wte(x) + m.wpe(pos)
        for b in m.blocks:
            h = block(b, h, mask)
        logits = m.ln_f(h) @ m.wte.weight.T
        count = int((y != -100).sum())
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1), ignore_index=-100, reduction="sum") / count
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        if i > 0:  # the first step warms up
            times.append(time.perf_counter() - t0)
            counts.append(count)
    return sum(counts) / sum(times), "SDPA" if sdpa is not None else "masked softmax (torch %s: no SDPA)" % torch.__version__


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--exe", required=True)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-torch", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="ed-bench-windows-")
    data = os.path.join(tmp, "corpus.h5")
    r = subprocess.run([a.exe, "prepare", "--preset", a.preset, "--data-file", data, "--quiet"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("bench_windows: prepare failed:\n" + r.stdout + r.stderr)
    modes = [("per-window (default)", []), ("--pad-to-max", ["--pad-to-max"]), ("--pack", ["--pack"])]
    best = {name: 0.0 for name, _ in modes}
    for _ in range(a.rounds):
        for name, flags in modes:
            best[name] = max(best[name], ours(a.exe, data, a.preset, a.steps, a.threads, flags,
                                              os.path.join(tmp, "run")))
    rows = [(name, best[name]) for name, _ in modes]
    if not a.no_torch:
        import h5py
        with h5py.File(data, "r") as f:
            V = int(f.attrs["vocab_size"])
        presets = {"small": (256, 4, 4, 1024, 256, 256, 128), "tiny": (128, 2, 4, 512, 128, 64, 64),
                   "seed": (512, 8, 8, 2048, 512, 512, 256)}
        D, L, H, FF, Tm, ml, st = presets[a.preset]
        cfg = (V, D, L, H, FF, Tm, ml, st)
        for name, packed in (("PyTorch, padded", 0), ("PyTorch, packed + block-diagonal mask", 1)):
            tps, how = torch_peer(data, cfg, a.steps, a.threads, packed, 8)
            rows.append((name + " (" + how + ")", tps))
    pack = best["--pack"]
    print("CPU: %s; --preset %s, %d steps x %d round(s), %d thread(s), batch 8 windows; load average "
          "at the end %s" % (cpu_name(), a.preset, a.steps, a.rounds, a.threads, os.getloadavg()[0]))
    print("| run | tok/s | vs `--pack` | vs `--pad-to-max` |")
    print("|---|---|---|---|")
    for name, tps in rows:
        print("| %s | %.0f | %.2f | %.2f |" % (name, tps, tps / pack, tps / best["--pad-to-max"]))


if __name__ == "__main__":
    main()
