"""The project's PyTorch reference Llama: an independent implementation of the C engine's
--arch llama (src/model/llama.c) written after Hugging Face's LlamaForCausalLM (modeling_llama.py):

  - LlamaRMSNorm: x in float32, x * rsqrt(mean(x^2) + eps), then weight * x;
  - LlamaRotaryEmbedding: inv_freq = 1 / theta^(arange(0, hd, 2) / hd) in float32,
    cos/sin of cat(freqs, freqs) with autocast off; apply_rotary_pos_emb with rotate_half;
  - grouped-query attention: repeat_kv (query head h reads key/value head h // (H/G)),
    eager causal softmax in float32 scaled by hd^-0.5;
  - LlamaMLP: down(silu(gate(x)) * up(x)); no biases anywhere;
  - logits = lm_head(norm(x)), lm_head tied to the embedding or not.

Parameter names are the engine's state_dict names (named_parameters order == the C flat
buffer order): embed.weight, blocks.{i}.{attn_norm,q,k,v,o,mlp_norm,gate,up,down}.weight,
norm_f.weight, lm_head.weight (untied only). HF_NAMES maps them to a HF state_dict.

    /usr/bin/python3 llama_reference.py bench --V 8192 --D 256 --L 4 --H 4 --G 2 --FF 688 --T 256 --B 8 [--bf16 1]
prints the same line as gpt.py bench (AdamW + clipping), for scripts/bench.sh.
"""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, D, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(D))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.to(torch.float32)
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rope_cos_sin(T, hd, theta):
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    with torch.autocast('cpu', enabled=False):
        freqs = torch.arange(T).float()[:, None] * inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos(), emb.sin()


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class Block(nn.Module):
    def __init__(self, D, H, G, FF, eps):
        super().__init__()
        self.H, self.G, self.hd = H, G, D // H
        self.attn_norm = RMSNorm(D, eps)
        self.q = nn.Linear(D, H * self.hd, bias=False)
        self.k = nn.Linear(D, G * self.hd, bias=False)
        self.v = nn.Linear(D, G * self.hd, bias=False)
        self.o = nn.Linear(H * self.hd, D, bias=False)
        self.mlp_norm = RMSNorm(D, eps)
        self.gate = nn.Linear(D, FF, bias=False)
        self.up = nn.Linear(D, FF, bias=False)
        self.down = nn.Linear(FF, D, bias=False)

    def forward(self, x, cos, sin):
        B, T, D = x.shape
        h = self.attn_norm(x)
        q = self.q(h).view(B, T, self.H, self.hd).transpose(1, 2)
        k = self.k(h).view(B, T, self.G, self.hd).transpose(1, 2)
        v = self.v(h).view(B, T, self.G, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.H // self.G  # repeat_kv
        k = k[:, :, None].expand(B, self.G, rep, T, self.hd).reshape(B, self.H, T, self.hd)
        v = v[:, :, None].expand(B, self.G, rep, T, self.hd).reshape(B, self.H, T, self.hd)
        w = (q @ k.transpose(2, 3)) * self.hd ** -0.5
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        w = w.masked_fill(~causal, float('-inf'))
        w = F.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
        y = (w @ v).transpose(1, 2).reshape(B, T, D)
        x = x + self.o(y)
        h = self.mlp_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    RESID = ('.o.weight', '.down.weight')  # GPT-2-style scaled init of the engine

    def __init__(self, V, D, L, H, G, FF, T, theta=10000.0, eps=1e-6, tied=False):
        super().__init__()
        self.V, self.T, self.theta, self.hd, self.tied = V, T, theta, D // H, tied
        self.embed = nn.Embedding(V, D)
        self.blocks = nn.ModuleList([Block(D, H, G, FF, eps) for _ in range(L)])
        self.norm_f = RMSNorm(D, eps)
        if not tied:
            self.lm_head = nn.Linear(D, V, bias=False)
        for name, p in self.named_parameters():
            if p.dim() == 1:
                nn.init.ones_(p)
            else:
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * L) if name.endswith(self.RESID) else 0.02)

    def forward(self, idx):
        B, T = idx.shape
        cos, sin = rope_cos_sin(T, self.hd, self.theta)
        x = self.embed(idx)
        for b in self.blocks:
            x = b(x, cos, sin)
        x = self.norm_f(x)
        return x @ self.embed.weight.T if self.tied else self.lm_head(x)


# engine name -> Hugging Face LlamaForCausalLM state_dict name
def hf_name(name):
    fixed = {'embed.weight': 'model.embed_tokens.weight', 'norm_f.weight': 'model.norm.weight',
             'lm_head.weight': 'lm_head.weight'}
    if name in fixed:
        return fixed[name]
    _, i, part, _ = name.split('.')
    sub = {'attn_norm': 'input_layernorm', 'mlp_norm': 'post_attention_layernorm', 'q': 'self_attn.q_proj',
           'k': 'self_attn.k_proj', 'v': 'self_attn.v_proj', 'o': 'self_attn.o_proj', 'gate': 'mlp.gate_proj',
           'up': 'mlp.up_proj', 'down': 'mlp.down_proj'}[part]
    return f'model.layers.{i}.{sub}.weight'


def bench(V, D, L, H, G, FF, T, B, steps, threads, bf16=0, budget=0):
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    m = Llama(V, D, L, H, G, FF, T)
    opt = torch.optim.AdamW(m.parameters(), lr=5e-4)
    n = sum(p.numel() for p in m.parameters())
    x = torch.randint(0, V, (B, T))
    y = torch.randint(0, V, (B, T))
    times = []
    warm, i = 2, 0
    while i < warm + steps:  # as gpt.py bench: warm-up, then the median of the timed steps
        if i == 1 and budget > 0 and times[0] > budget:
            warm, steps = 0, 1
            break
        if i == 1 and budget > 0 and times[0] * (warm - 1 + steps) > budget:
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
          f"loss={loss.item():.4f}", flush=True)


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('cmd', choices=['bench'])
    for k, v in dict(V=8192, D=256, L=4, H=4, G=2, FF=688, T=256, B=8, steps=5, threads=2, bf16=0,
                     budget=0).items():
        ap.add_argument('--' + k, type=int, default=v)
    o = ap.parse_args()
    bench(o.V, o.D, o.L, o.H, o.G, o.FF, o.T, o.B, o.steps, o.threads, o.bf16, o.budget)
