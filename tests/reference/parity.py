"""Parity of the C engine with the PyTorch references (tests/reference/gpt.py, and
tests/reference/llama_reference.py with --arch llama / llama-tied).

Runs the C dump program (tests/model/parity_dump.c), loads its initial weights and padded
batch into the reference model, redoes the same computations in PyTorch and compares:
loss and logits, every gradient (loss sum, with and without label smoothing), the
gradient norms and the parameters after 3 AdamW steps and after 3 SGD-momentum steps,
both with clip_grad_norm_. Metrics are norm-relative per tensor: ||c - t|| / ||t||.
Exit status 0 = all within bounds; anything else (including a missing torch) fails.

--gemm picks the engine's GEMM backend (openblas | onednn). --precision bf16 runs the
engine in bf16 and compares it with PyTorch's CPU mixed precision on the same weights
(torch.autocast('cpu', torch.bfloat16) around the forward, loss in fp32): the loss within
1e-2 relative, as issue 14 asks, and every gradient within BF16_GRAD_BOUND norm-relative.
Both sides round matmul inputs to bf16 but not identically (autocast also rounds matmul
OUTPUTS and runs softmax/GELU on bf16 tensors; the engine keeps them fp32), so the bound
is the measured difference plus headroom, far below what a wrong or missing gradient term
gives (order 1). The engine's bf16 gradients are also held against the fp32 ones, which
shows how far bf16 moves them at all.

    /usr/bin/python3 parity.py --dump-exe build/tests/model/parity_dump --workdir /tmp/parity [--gemm onednn] [--precision bf16]
"""
import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt import GPT, load_flat, loss_sum, param_groups, split_flat  # noqa: E402
from llama_reference import Llama  # noqa: E402

FAILS = []


def rel(c, t):
    c = np.asarray(c, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    return float(np.linalg.norm(c - t) / max(np.linalg.norm(t), 1e-30))


def check(what, err, bound):
    ok = err <= bound
    print(f"  {'ok  ' if ok else 'FAIL'} {what:34s} {err:.2e} (bound {bound:.0e})")
    if not ok:
        FAILS.append(what)


def compare_flat(label, model, c_flat, torch_grads, bound):
    """Per-tensor comparison of a flat C buffer with the matching torch tensors."""
    worst = 0.0
    for (name, c), t in zip(split_flat(model, c_flat), torch_grads):
        e = rel(c, t)
        worst = max(worst, e)
        if e > bound:
            check(f"{label} {name}", e, bound)
    check(f"{label} (worst tensor)", worst, bound)


def run_steps(model, opt, x, y, max_norm, steps):
    norms = []
    for _ in range(steps):
        opt.zero_grad()
        V = model.V
        loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, V), y.reshape(-1), ignore_index=-100)
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)))
        opt.step()
    return norms


BF16_LOSS_BOUND = 1e-2   # issue 14
BF16_GRAD_BOUND = 5e-2   # engine bf16 vs PyTorch autocast-bf16, per tensor (measured: see docs/design.md)


def bf16_checks(model, cfg, params0, x, y, f32):
    """The engine's bf16 forward/backward (loss sum) against PyTorch autocast-bf16 and fp32."""
    print("bf16: engine vs torch.autocast('cpu', bfloat16), loss sum:")
    load_flat(model, params0)
    model.zero_grad()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        logits = model(x)
    loss = loss_sum(logits.float(), y)
    loss.backward()
    ac_grads = [p.grad.detach().clone().numpy() for p in model.parameters()]
    ac_loss = loss.item()
    model.zero_grad()
    loss32 = loss_sum(model(x), y)
    loss32.backward()
    fp_grads = [p.grad.numpy() for p in model.parameters()]
    c_loss = cfg['loss0']
    print(f"  losses: engine bf16 {c_loss:.6f}, torch autocast {ac_loss:.6f}, torch fp32 {loss32.item():.6f}")
    check("loss vs autocast (relative)", abs(c_loss - ac_loss) / abs(ac_loss), BF16_LOSS_BOUND)
    check("loss vs fp32 (relative)", abs(c_loss - loss32.item()) / abs(loss32.item()), BF16_LOSS_BOUND)
    check("logits vs autocast", rel(f32('logits0.f32'), logits.detach().float().numpy().reshape(-1)), 2e-2)
    compare_flat("grad vs autocast", model, f32('grads0.f32'), ac_grads, BF16_GRAD_BOUND)
    compare_flat("grad vs fp32", model, f32('grads0.f32'), fp_grads, BF16_GRAD_BOUND)
    # not vacuous: bf16 really changed the gradients (an fp32 path would give ~1e-6)
    worst = max(rel(c, t) for (_, c), t in zip(split_flat(model, f32('grads0.f32')), fp_grads))
    check("bf16 moved the gradients (1e-4 / worst diff)", 1e-4 / worst, 1.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--dump-exe', required=True)
    ap.add_argument('--workdir', required=True)
    ap.add_argument('--gemm', default='openblas', choices=['openblas', 'onednn'])
    ap.add_argument('--precision', default='fp32', choices=['fp32', 'bf16'])
    ap.add_argument('--arch', default='gpt2', choices=['gpt2', 'llama', 'llama-tied'])
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    subprocess.run([a.dump_exe, a.workdir, a.gemm, a.precision, a.arch], check=True)
    d = a.workdir
    cfg = json.load(open(os.path.join(d, 'config.json')))
    f32 = lambda n: np.fromfile(os.path.join(d, n), dtype=np.float32)  # noqa: E731
    i32 = lambda n: np.fromfile(os.path.join(d, n), dtype=np.int32)  # noqa: E731
    V, D, L, H, FF, Tmax, B, T = (cfg[k] for k in ('V', 'D', 'L', 'H', 'FF', 'Tmax', 'B', 'T'))
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if cfg['arch'] == 'llama':
        model = Llama(V, D, L, H, cfg['G'], FF, Tmax, cfg['theta'], cfg['rms_eps'], bool(cfg['tied']))
        resid = Llama.RESID
    else:
        model = GPT(V, D, L, H, FF, Tmax)
        model.V = V
        resid = ('proj.weight', 'fc_out.weight')
    params0 = f32('params0.f32')
    assert len(params0) == cfg['num_params'] == sum(p.numel() for p in model.parameters()), \
        "parameter count differs between C and PyTorch"

    # The C initialisation follows the GPT-2 recipe (statistics, not values: other RNG).
    print("initialisation:")
    for name, p in split_flat(model, params0):
        if p.ndim == 1:
            want = 0.0 if name.endswith('bias') else 1.0
            check(f"init {name}", float(np.abs(p - want).max()), 0.0)
        elif p.size >= 500:
            std = 0.02 / math.sqrt(2 * L) if name.endswith(resid) else 0.02
            check(f"init std {name}", abs(float(p.std()) / std - 1.0), 0.1)

    x = torch.from_numpy(i32('inputs.i32').astype(np.int64)).view(B, T)
    y = torch.from_numpy(i32('targets.i32').astype(np.int64)).view(B, T)

    if a.precision == 'bf16':
        bf16_checks(model, cfg, params0, x, y, f32)
        return finish()

    print("forward/backward, loss sum:")
    load_flat(model, params0)
    logits = model(x)
    loss = loss_sum(logits, y)
    model.zero_grad()
    loss.backward()
    check("count", abs(cfg['count0'] - int((y != -100).sum())), 0)
    check("loss", abs(cfg['loss0'] - loss.item()) / abs(loss.item()), 1e-5)
    check("logits", rel(f32('logits0.f32'), logits.detach().numpy().reshape(-1)), 1e-5)
    compare_flat("grad", model, f32('grads0.f32'), [p.grad.numpy() for p in model.parameters()], 1e-4)

    print("forward/backward, label smoothing 0.1:")
    model.zero_grad()
    loss = loss_sum(model(x), y, cfg['label_smoothing'])
    loss.backward()
    check("loss (smoothing)", abs(cfg['loss_ls'] - loss.item()) / abs(loss.item()), 1e-5)
    compare_flat("grad (smoothing)", model, f32('grads_ls.f32'),
                 [p.grad.numpy() for p in model.parameters()], 1e-4)

    print("3 AdamW steps with clipping:")
    load_flat(model, params0)
    opt = torch.optim.AdamW(param_groups(model, cfg['wd']), lr=cfg['lr'],
                            betas=(cfg['beta1'], cfg['beta2']), eps=cfg['eps'])
    norms = run_steps(model, opt, x, y, cfg['max_norm'], cfg['steps'])
    assert min(norms) > cfg['max_norm'], "clipping must be exercised: raise the lr or lower max_norm"
    check("grad norms (AdamW run)", rel(cfg['norms_adamw'], norms), 1e-5)
    # Adam divides by sqrt(v): elements whose gradient is ~0 (e.g. the key bias, which
    # softmax ignores) turn rounding noise into steps. eps = 1e-6 bounds that gain, and
    # the bound leaves room for it; a misplaced eps, bias correction or weight decay on a
    # wrong tensor errs by > 1e-3.
    compare_flat("params after AdamW", model, f32('params_adamw.f32'),
                 [p.detach().numpy() for p in model.parameters()], 5e-5)
    moved = rel(f32('params_adamw.f32'), params0)
    check("AdamW moved the weights (rel. change > 1e-2)", 1e-2 / moved, 1.0)

    print("3 SGD-momentum steps with clipping:")
    load_flat(model, params0)
    groups = param_groups(model, cfg['sgd_wd'])
    opt = torch.optim.SGD(groups, lr=cfg['sgd_lr'], momentum=cfg['momentum'])
    norms = run_steps(model, opt, x, y, cfg['max_norm'], cfg['steps'])
    check("grad norms (SGD run)", rel(cfg['norms_sgd'], norms), 1e-5)
    compare_flat("params after SGD", model, f32('params_sgd.f32'),
                 [p.detach().numpy() for p in model.parameters()], 1e-5)

    return finish()


def finish():
    if FAILS:
        print(f"parity FAILED: {len(FAILS)} check(s): {', '.join(FAILS)}")
        return 1
    print("parity OK")
    return 0


if __name__ == '__main__':
    sys.exit(main())
