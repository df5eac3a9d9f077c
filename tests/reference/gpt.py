"""The project's PyTorch reference GPT: the architecture, initialisation and loss that the
C engine (src/model) must reproduce, plus the helpers the parity test and the benchmark use.

Architecture: token + learned position embeddings; L pre-LayerNorm blocks
(ln1 -> fused qkv D->3D -> causal multi-head softmax attention scaled by 1/sqrt(hd) ->
proj D->D -> residual; ln2 -> fc D->FF -> tanh-GELU -> fc_out FF->D -> residual);
final LayerNorm (eps 1e-5); logits through the tied token embedding.
Parameter order (named_parameters == state_dict) is the C engine's flat buffer order.

    /usr/bin/python3 gpt.py bench --V 8192 --D 256 --L 4 --H 4 --FF 1024 --T 256 --B 8 --threads 2 [--bf16 1]
prints one line `params=... step_s=... tok_s=... GFLOPS=... loss=...` (AdamW + clipping).
--bf16 1 runs the forward under torch.autocast('cpu', torch.bfloat16): PyTorch's CPU mixed
precision (matmuls in bf16 through oneDNN, AMX or AVX512-BF16 where the CPU has them),
the loss computed in float32 from the logits.

GPT.gemm_dtype (None by default) = torch.float16 or torch.bfloat16 makes every matrix
product round both of its operands to that type and multiply in float32, in the forward
and in both products of its backward (RoundedMatmul): the engine's --precision fp16 / bf16
GEMM written out. It stands in for torch.autocast(dtype=torch.float16), which torch 1.13
does not offer on the CPU ("AutocastCPU only support Bfloat16"); unlike autocast it keeps
matmul outputs, softmax and GELU in float32, as the engine does.
"""
import argparse
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class RoundedMatmul(torch.autograd.Function):
    """a @ b with both operands rounded to `dtype` (round to nearest even) and the product
    in float32; the backward rounds its operands too: da = r(g) r(b)^T, db = r(a)^T r(g)."""

    @staticmethod
    def forward(ctx, a, b, dtype):
        ra, rb = a.to(dtype).float(), b.to(dtype).float()
        ctx.save_for_backward(ra, rb)
        ctx.dtype = dtype
        return ra @ rb

    @staticmethod
    def backward(ctx, g):
        ra, rb = ctx.saved_tensors
        rg = g.to(ctx.dtype).float()
        return rg @ rb.transpose(-2, -1), ra.transpose(-2, -1) @ rg, None


def matmul(a, b, dtype=None):
    """a @ b, or as the engine's half-precision GEMM computes it (see GPT.gemm_dtype)."""
    return a @ b if dtype is None else RoundedMatmul.apply(a, b, dtype)


def linear(x, layer, dtype=None):
    """layer(x), its product rounded like matmul() (one 2-D product, as the engine runs it)."""
    if dtype is None:
        return layer(x)
    y = matmul(x.reshape(-1, x.shape[-1]), layer.weight.t(), dtype) + layer.bias
    return y.view(*x.shape[:-1], -1)


class Block(nn.Module):
    def __init__(self, D, H, FF):
        super().__init__()
        self.H = H
        self.sdpa = False
        self.ln1 = nn.LayerNorm(D, eps=1e-5)
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)
        self.ln2 = nn.LayerNorm(D, eps=1e-5)
        self.fc = nn.Linear(D, FF)
        self.fc_out = nn.Linear(FF, D)

    def forward(self, x, dt=None):
        B, T, D = x.shape
        hd = D // self.H
        q, k, v = linear(self.ln1(x), self.qkv, dt).split(D, dim=2)
        q, k, v = (t.view(B, T, self.H, hd).transpose(1, 2) for t in (q, k, v))
        if self.sdpa and dt is None:  # bench --sdpa 1: PyTorch's fused kernel (torch >= 2.0)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, D)
        else:
            scores = matmul(q, k.transpose(-2, -1), dt) / math.sqrt(hd)
            causal = torch.ones(T, T, dtype=torch.bool).tril()
            probs = scores.masked_fill(~causal, float('-inf')).softmax(-1)
            y = matmul(probs, v, dt).transpose(1, 2).reshape(B, T, D)
        x = x + linear(y, self.proj, dt)
        return x + linear(F.gelu(linear(self.ln2(x), self.fc, dt), approximate='tanh'), self.fc_out, dt)


class GPT(nn.Module):
    def __init__(self, V, D, L, H, FF, T):
        super().__init__()
        self.wte = nn.Embedding(V, D)
        self.wpe = nn.Embedding(T, D)
        self.blocks = nn.ModuleList([Block(D, H, FF) for _ in range(L)])
        self.ln_f = nn.LayerNorm(D, eps=1e-5)
        self.gemm_dtype = None  # see the module docstring
        # GPT-2 initialisation; the residual projections get std 0.02/sqrt(2L).
        for name, p in self.named_parameters():
            if p.dim() == 1:
                nn.init.zeros_(p) if name.endswith('bias') else nn.init.ones_(p)
            else:
                resid = name.endswith(('proj.weight', 'fc_out.weight'))
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * L) if resid else 0.02)

    def forward(self, idx):
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for b in self.blocks:
            x = b(x, self.gemm_dtype)
        return matmul(self.ln_f(x), self.wte.weight.T, self.gemm_dtype)


# ---- helpers for the parity test -------------------------------------------------------

def load_flat(model, flat):
    """Copies a flat float32 array (the C engine's params/grads layout) into the model."""
    off = 0
    with torch.no_grad():
        for _, p in model.named_parameters():
            n = p.numel()
            p.copy_(torch.from_numpy(np.asarray(flat[off:off + n], dtype=np.float32)).view_as(p))
            off += n
    assert off == len(flat), f"flat buffer has {len(flat)} floats, model needs {off}"


def split_flat(model, flat):
    """Yields (name, array shaped like the parameter) slices of a flat buffer."""
    off = 0
    for name, p in model.named_parameters():
        n = p.numel()
        yield name, np.asarray(flat[off:off + n]).reshape(tuple(p.shape))
        off += n


def param_groups(model, weight_decay):
    """Weight decay on 2-D tensors only (matmul and embedding weights), as in the C engine."""
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() != 2]
    return [{'params': decay, 'weight_decay': weight_decay},
            {'params': no_decay, 'weight_decay': 0.0}]


def loss_sum(logits, targets, label_smoothing=0.0):
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-100,
                           reduction='sum', label_smoothing=label_smoothing)


# ---- the benchmark peer -----------------------------------------------------------------

def bench(V, D, L, H, FF, T, B, steps, threads, bf16=0, budget=0, sdpa=0):
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    m = GPT(V, D, L, H, FF, T)
    # --sdpa 1: F.scaled_dot_product_attention where this torch has it (2.0+), else the
    # explicit softmax attention above; the output line says which ran
    sdpa = bool(sdpa) and hasattr(F, 'scaled_dot_product_attention')
    for b in m.blocks:
        b.sdpa = sdpa
    opt = torch.optim.AdamW(m.parameters(), lr=5e-4)
    n = sum(p.numel() for p in m.parameters())
    x = torch.randint(0, V, (B, T))
    y = torch.randint(0, V, (B, T))
    times = []
    warm = 2
    i = 0
    while i < warm + steps:  # warm-up steps, then the median of the timed ones
        if i == 1 and budget > 0 and times[0] > budget:
            # one step alone exceeds the budget: it is the measurement (the one-time
            # set-up inside it is negligible at that length)
            warm, steps = 0, 1
            break
        if i == 1 and budget > 0 and times[0] * (warm - 1 + steps) > budget:
            # a slow mode (bf16 autocast on a CPU without bf16 instructions runs at a few
            # GFLOPS): keep the measurement within the budget, 1 warm-up + >= 1 timed step
            warm = 1
            steps = max(1, int(budget / times[0]) - 1)
        t0 = time.perf_counter()
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bool(bf16)):
            logits = m(x)
        loss = F.cross_entropy(logits.float().view(-1, V), y.view(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
        i += 1
    timed = sorted(times[warm:])
    dt = timed[len(timed) // 2]
    flops = 6 * n * B * T + 12 * L * B * T * T * D
    print(f"params={n} steps={len(timed)} step_s={dt:.4f} tok_s={B*T/dt:.1f} GFLOPS={flops/dt/1e9:.2f} "
          f"loss={loss.item():.4f} attention={'sdpa' if sdpa else 'explicit'}", flush=True)


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('cmd', choices=['bench'])
    for k, v in dict(V=8192, D=256, L=4, H=4, FF=1024, T=256, B=8, steps=5, threads=2, bf16=0, budget=0,
                     sdpa=0).items():
        ap.add_argument('--' + k, type=int, default=v)
    o = ap.parse_args()
    bench(o.V, o.D, o.L, o.H, o.FF, o.T, o.B, o.steps, o.threads, o.bf16, o.budget, o.sdpa)
