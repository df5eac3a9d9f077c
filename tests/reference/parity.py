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

--precision fp16 compares with the reference's emulated fp16 (GPT.gemm_dtype =
torch.float16: every matmul's operands rounded to float16, products in float32, forward
and backward), because torch 1.13 has no float16 autocast on the CPU; the engine's own
fp16 path is the same computation, so the bounds (FP16_*) are tighter than bf16's. The
GradScaler logic is reproduced here on the CPU (torch.cuda.amp.GradScaler needs CUDA):
the backward of scale/N x the loss sum, gradients times N/(scale x count), an Inf/NaN
norm skips the step and halves the scale, 2 clean steps double it; the engine's sequence
of scales and skips must be the same step for step, its parameters after the 10 steps
within FP16_PARAM_BOUND.

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


FP16_LOSS_BOUND = 1e-4    # engine fp16 vs the emulated reference (same roundings; fp32 sums differ)
FP16_GRAD_BOUND = 2e-3    # per tensor, norm-relative (measured: see docs/design.md)
FP16_PARAM_BOUND = 5e-3   # after the scaler's 10 AdamW steps: Adam turns the rounding noise
                          # on near-zero gradients (biases) into lr-size steps (measured 1.3e-3)
FP16_VS_FP32_BOUND = 1e-2  # how far fp16 may move loss and gradients from fp32 at all


def fp16_backward(model, x, y, scale, nominal, smoothing=0.0):
    """The trainer's fp16 backward: loss sum x scale/N, gradients times N/scale (the
    gradient of the loss sum). Returns (loss sum, gradients)."""
    model.zero_grad()
    loss = loss_sum(model(x), y, smoothing)
    (loss * (scale / nominal)).backward()
    return loss.item(), [p.grad.detach().clone().numpy() * (nominal / scale) for p in model.parameters()]


def fp16_scaler_steps(model, cfg, params0, x, y, f):
    """GradScaler on the CPU, as parity_dump's train_steps_fp16. Returns (scales, skipped,
    norms, worst fraction of 65504 reached by a clean step's scaled operand)."""
    load_flat(model, params0)
    opt = torch.optim.AdamW(param_groups(model, cfg['wd']), lr=cfg['lr'], betas=(cfg['beta1'], cfg['beta2']),
                            eps=cfg['eps'])
    scale, tracker, N = f['scale0'], 0, f['nominal_tokens']
    count = int((y != -100).sum())
    scales, skipped, norms = [], [], []
    for _ in range(len(f['scales'])):
        opt.zero_grad()
        loss = loss_sum(model(x), y)
        (loss * (scale / N)).backward()
        with torch.no_grad():
            for p in model.parameters():
                p.grad.mul_(N / scale / count)
            norm = float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.parameters())))
        found_inf = not math.isfinite(norm)
        scales.append(scale)
        skipped.append(int(found_inf))
        norms.append(None if found_inf else norm)
        if found_inf:
            scale, tracker = scale * 0.5, 0
        else:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg['max_norm'])
            opt.step()
            tracker += 1
            if tracker == f['growth']:
                scale, tracker = scale * 2.0, 0
    return scales, skipped, norms


def fp16_checks(model, cfg, params0, x, y, f32):
    """The engine's fp16 forward/backward (with the loss scale) and its GradScaler steps
    against the emulated-fp16 reference, and against fp32."""
    f = cfg['fp16']
    S, N = f['loss_scale'], f['nominal_tokens']
    print(f"fp16: engine vs reference with fp16-rounded matmul operands, loss scale {S:g}, N {N}:")
    load_flat(model, params0)
    model.gemm_dtype = torch.float16
    logits = model(x)
    ref_loss, ref_grads = fp16_backward(model, x, y, S, N)
    ref_loss_ls, ref_grads_ls = fp16_backward(model, x, y, S, N, cfg['label_smoothing'])
    _, unscaled = fp16_backward(model, x, y, 1.0, 1.0)  # the same fp16 backward without loss scaling
    model.gemm_dtype = None
    loss32, fp_grads = fp16_backward(model, x, y, 1.0, 1.0)
    c_loss = cfg['loss0']
    print(f"  losses: engine fp16 {c_loss:.6f}, reference fp16 {ref_loss:.6f}, fp32 {loss32:.6f}")
    check("loss vs reference fp16 (relative)", abs(c_loss - ref_loss) / abs(ref_loss), FP16_LOSS_BOUND)
    check("loss (smoothing) vs reference", abs(cfg['loss_ls'] - ref_loss_ls) / abs(ref_loss_ls), FP16_LOSS_BOUND)
    check("loss vs fp32 (relative)", abs(c_loss - loss32) / abs(loss32), FP16_VS_FP32_BOUND)
    check("logits vs reference fp16", rel(f32('logits0.f32'), logits.detach().numpy().reshape(-1)), FP16_LOSS_BOUND)
    compare_flat("grad vs reference fp16", model, f32('grads0.f32'), ref_grads, FP16_GRAD_BOUND)
    compare_flat("grad (smoothing) vs reference", model, f32('grads_ls.f32'), ref_grads_ls, FP16_GRAD_BOUND)
    compare_flat("grad vs fp32", model, f32('grads0.f32'), fp_grads, FP16_VS_FP32_BOUND)
    # not vacuous: fp16 really changed the gradients (an fp32 path would give ~1e-6) ...
    moved = max(rel(c, t) for (_, c), t in zip(split_flat(model, f32('grads0.f32')), fp_grads))
    check("fp16 moved the gradients (1e-5 / worst diff)", 1e-5 / moved, 1.0)
    # ... and, for the record, the same fp16 backward without a loss scale (the mean loss,
    # scale 1/count, and the sum): this model's gradients sit well inside fp16's range, so
    # here the scale is about overflow, not underflow (a report line, not a check)
    model.gemm_dtype = torch.float16
    _, mean_unscaled = fp16_backward(model, x, y, 1.0 / int((y != -100).sum()), 1.0)
    model.gemm_dtype = None
    err_mean = max(rel(c, t) for c, t in zip(mean_unscaled, fp_grads))
    err_sum = max(rel(c, t) for c, t in zip(unscaled, fp_grads))
    print(f"  worst tensor vs fp32: engine (loss scale {S:g}) {moved:.2e}; reference fp16 without a loss scale: "
          f"mean loss {err_mean:.2e}, loss sum {err_sum:.2e}")

    print(f"fp16: GradScaler, {len(f['scales'])} AdamW steps from scale {f['scale0']:g}, growth every {f['growth']} clean steps:")
    model.gemm_dtype = torch.float16
    scales, skipped, norms = fp16_scaler_steps(model, cfg, params0, x, y, f)
    print(f"  engine scales    {[int(s) for s in f['scales']]}\n  reference scales {[int(s) for s in scales]}")
    print(f"  engine skipped   {f['skipped']}\n  reference        {skipped}")
    check("scale sequence equal (steps differing)", sum(a != b for a, b in zip(scales, f['scales'])), 0)
    check("skipped steps equal (steps differing)", sum(a != b for a, b in zip(skipped, f['skipped'])), 0)
    check("overflow and growth both happened (1 = yes)", 0 if (any(skipped) and len(set(scales)) > 2) else 1, 0)
    clean = [(a, b) for a, b in zip(f['norms'], norms) if a is not None and b is not None]
    check("grad norms of the clean steps", rel([a for a, _ in clean], [b for _, b in clean]), FP16_GRAD_BOUND)
    compare_flat("params after the scaler's steps", model, f32('params_fp16.f32'),
                 [p.detach().numpy() for p in model.parameters()], FP16_PARAM_BOUND)
    model.gemm_dtype = None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--dump-exe', required=True)
    ap.add_argument('--workdir', required=True)
    ap.add_argument('--gemm', default='openblas', choices=['openblas', 'onednn'])
    ap.add_argument('--precision', default='fp32', choices=['fp32', 'bf16', 'fp16'])
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
    if a.precision == 'fp16':
        fp16_checks(model, cfg, params0, x, y, f32)
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
