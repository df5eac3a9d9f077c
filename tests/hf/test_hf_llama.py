#!/usr/bin/env python3
"""Llama in the Hugging Face layout (LlamaForCausalLM), in and out.

A Llama-shaped model (grouped-query: 4 heads over 2 key/value heads, untied head) is made
with the project's independent PyTorch reference (tests/reference/llama_reference.py) and
written the way transformers saves LlamaForCausalLM: config.json, model.safetensors
written byte by byte here (no safetensors package), with the tokenizer of a tiny llama
trained by expert-dist and exported (expert-dist-tokenizer.json), or a SentencePiece
tokenizer.model trained here. Then:
  - `import` and the reference agree on the logits (1e-5), for F32 in one file, BF16 in
    two shards with model.safetensors.index.json (plus an old rotary inv_freq buffer),
    and F16 with a tied head (and its stored lm_head copy);
  - import -> export -> import is bit-identical (weights), export -> export the same bytes,
    the exported tensors are the original bytes, and the PyTorch reference reading the
    exported directory computes the same logits;
  - a SentencePiece Llama keeps the tokenizer's ids and roles (bos/eos from config.json
    checked against it) and its tokenizer.model is exported back byte for byte;
  - `generate` runs on the import, `train --init-from` fine-tunes it (the loss falls);
  - unsupported or contradictory configs, shard indexes naming missing files, truncated
    shards, missing/unexpected/misshapen tensors and an untied lm_head under a tied config
    are one error line each, exit 1, nothing written."""
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
sys.path.insert(0, os.path.join(HERE, "..", "trainer"))
from llama_reference import Llama, hf_name  # noqa: E402
import edtest as T  # noqa: E402


def extra(p):
    p.add_argument("--dump", required=True)


args = T.parse_args(extra)
d = T.tmpdir()


def ed(flags, check=0):
    return T.run(args, 1, [str(f) for f in flags], check=check, timeout=180)


def params(ck):
    out = ck + ".params"
    subprocess.run([args.dump, ck, "params", out], check=True)
    return open(out, "rb").read()


def logits(ck, ids):
    ids.astype(np.int32).tofile(os.path.join(d, "ids.i32"))
    subprocess.run([args.dump, ck, "logits", os.path.join(d, "ids.i32"), os.path.join(d, "logits.f32")], check=True)
    return np.fromfile(os.path.join(d, "logits.f32"), np.float32).reshape(len(ids), -1)


# The tokenizer: a tiny llama trained for one step and exported.
train = T.corpus(os.path.join(d, "train.txt"), 60, seed=3)
seed_ck = os.path.join(d, "seed")
ed(["--arch", "llama", "--tokenizer", "word", "--train-file", train, "--d-model", 16, "--n-layers", 1, "--n-heads", 2, "--d-ff", 16,
    "--max-seq-len", 16, "--max-length", 16, "--stride", 8, "--vocab-size", 64, "--max-steps", 1, "--threads", 1,
    "-q", "-o", seed_ck, "--sample-tokens", 0])
ed(["export", os.path.join(seed_ck, "last.h5"), "-o", os.path.join(d, "seed-hf"), "-q"])
TOK = os.path.join(d, "seed-hf", "expert-dist-tokenizer.json")
V = json.load(open(os.path.join(d, "seed-hf", "config.json")))["vocab_size"]

D, L, H, G, FF, P, THETA, EPS = 32, 2, 4, 2, 48, 40, 500.0, 1e-5


def make_model(tied):
    torch.manual_seed(2 + tied)
    m = Llama(V, D, L, H, G, FF, P, THETA, EPS, tied)
    with torch.no_grad():
        for p in m.parameters():  # norms away from 1, weights well above rounding
            p.add_(0.05 * torch.randn_like(p))
    return m


def hf_tensors(m):
    """(HF name, float32 array) in LlamaForCausalLM's state_dict order."""
    out = [(hf_name(k), v.detach().numpy().astype(np.float32)) for k, v in m.state_dict().items()]
    if m.tied:  # transformers saves the tied head too
        out.append(("lm_head.weight", m.embed.weight.detach().numpy().astype(np.float32)))
    return out


def to_bf16_bits(a):
    u = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def stored(a, dtype):
    """(raw bytes, the float32 values they hold) of array a in a safetensors dtype."""
    if dtype == "F32":
        a = np.ascontiguousarray(a, "<f4")
        return a.tobytes(), a
    if dtype == "F16":
        h = np.ascontiguousarray(a, "<f2")
        return h.tobytes(), h.astype(np.float32)
    b = to_bf16_bits(a)
    return b.astype("<u2").tobytes(), (b.astype(np.uint32) << 16).view(np.float32)


def st_bytes(tensors, dtype="F32", header_edit=None):
    """safetensors by hand; returns (bytes, {name: float32 values as stored})."""
    hdr, data, vals = {"__metadata__": {"format": "pt"}}, b"", {}
    for name, a in tensors:
        raw, v = stored(a, dtype)
        hdr[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
        vals[name] = v
    if header_edit:
        header_edit(hdr)
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data, vals


def config(tied):
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": V, "hidden_size": D,
            "intermediate_size": FF, "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": G,
            "max_position_embeddings": P, "rms_norm_eps": EPS, "rope_theta": THETA, "hidden_act": "silu",
            "tie_word_embeddings": tied, "rope_scaling": None, "attention_bias": False, "mlp_bias": False,
            "attention_dropout": 0.0, "bos_token_id": 2, "eos_token_id": 3, "torch_dtype": "float32"}


def model_dir(name, files, cfg, tok=True):
    """files: {file name: bytes}."""
    m = os.path.join(d, name)
    os.makedirs(m, exist_ok=True)
    json.dump(cfg, open(os.path.join(m, "config.json"), "w"))
    for f, b in files.items():
        open(os.path.join(m, f), "wb").write(b)
    if tok:
        shutil.copy(TOK, m)
    return m


def sharded(tensors, dtype, extra=()):
    """Two shards and the index; returns (files, values)."""
    half = len(tensors) // 2
    b1, v1 = st_bytes(tensors[:half] + list(extra), dtype)
    b2, v2 = st_bytes(tensors[half:], dtype)
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    wm = {n: names[0] for n, _ in tensors[:half] + list(extra)}
    wm.update({n: names[1] for n, _ in tensors[half:]})
    index = json.dumps({"metadata": {"total_size": 0}, "weight_map": wm}).encode()
    v1.update(v2)
    return {names[0]: b1, names[1]: b2, "model.safetensors.index.json": index}, v1


def reference_logits(m, values, ids):
    """The reference model with the weights as stored (BF16/F16 rounded) on ids."""
    with torch.no_grad():
        for k, p in m.state_dict().items():
            p.copy_(torch.from_numpy(values[hf_name(k)]))
        return m(torch.from_numpy(ids.astype(np.int64))[None])[0].numpy()


rng = np.random.default_rng(5)
ids = np.concatenate([[2], rng.integers(4, V, size=P - 1)])


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


# ---- import: F32 one file; BF16 in shards; F16 tied ----------------------------------------
untied, tied = make_model(False), make_model(True)
T_UNTIED, T_TIED = hf_tensors(untied), hf_tensors(tied)  # the weights as made (reference_logits loads others)
cases = {}
b, vals = st_bytes(T_UNTIED)
cases["f32"] = (model_dir("hf-f32", {"model.safetensors": b}, config(False)), untied, vals)
inv_freq = [("model.layers.0.self_attn.rotary_emb.inv_freq", np.ones(D // H // 2, np.float32))]
files, vals = sharded(T_UNTIED, "BF16", extra=inv_freq)
cases["bf16-shards"] = (model_dir("hf-bf16", files, config(False)), untied, vals)
b, vals = st_bytes(T_TIED, "F16")
cases["f16-tied"] = (model_dir("hf-f16", {"model.safetensors": b}, config(True)), tied, vals)
ck = {}
for name, (m_dir, model, vals) in cases.items():
    ck[name] = os.path.join(d, name + ".h5")
    p = ed(["import", m_dir, "-o", ck[name]])
    T.expect("Llama with" in p.stdout, "import did not say what it read:\n" + p.stdout)
    e = rel(logits(ck[name], ids), reference_logits(model, vals, ids))
    print("%-12s logits vs reference: max |diff| / max |ref| = %.2e" % (name, e))
    T.expect(e < 1e-5, "%s: imported logits differ from the reference: %.2e" % (name, e))
T.expect(params(ck["f32"]) != params(ck["bf16-shards"]), "bf16 import should round the weights")

# ---- round trips -----------------------------------------------------------------------
a = ck["f32"]
d2, d3, b2 = os.path.join(d, "out2"), os.path.join(d, "out3"), os.path.join(d, "b.h5")
ed(["export", a, "-o", d2, "-q"])
ed(["import", d2, "-o", b2, "-q"])
T.expect(params(a) == params(b2), "import -> export -> import changed the weights")
ed(["export", b2, "-o", d3, "-q"])
for f in ("config.json", "model.safetensors", "expert-dist-tokenizer.json"):
    T.expect(open(os.path.join(d2, f), "rb").read() == open(os.path.join(d3, f), "rb").read(),
             "export of the re-import differs: " + f)
raw = open(os.path.join(d2, "model.safetensors"), "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
orig = dict(T_UNTIED)
back = {}
for name, e in hdr.items():
    if name == "__metadata__":
        continue
    T.expect(e["dtype"] == "F32" and name in orig, "exported tensor %s" % name)
    x = np.frombuffer(raw[8 + n + e["data_offsets"][0]:8 + n + e["data_offsets"][1]], "<f4").reshape(e["shape"])
    T.expect(x.tobytes() == np.ascontiguousarray(orig[name]).tobytes(), "exported %s is not the original" % name)
    back[name] = x.copy()
T.expect(sorted(back) == sorted(orig), "exported tensor set differs: %s" % sorted(set(orig) ^ set(back)))
cfg2 = json.load(open(os.path.join(d2, "config.json")))
for k, v in config(False).items():
    if k != "torch_dtype":
        T.expect(cfg2.get(k) == v, "exported config.json: %s = %r, expected %r" % (k, cfg2.get(k), v))
# the reference reads the exported directory back: same logits as the engine
fresh = Llama(cfg2["vocab_size"], cfg2["hidden_size"], cfg2["num_hidden_layers"], cfg2["num_attention_heads"],
              cfg2["num_key_value_heads"], cfg2["intermediate_size"], cfg2["max_position_embeddings"],
              cfg2["rope_theta"], cfg2["rms_norm_eps"], cfg2["tie_word_embeddings"])
e = rel(logits(b2, ids), reference_logits(fresh, back, ids))
T.expect(e < 1e-5, "the reference on the exported directory disagrees with the engine: %.2e" % e)
d4 = os.path.join(d, "out4")
ed(["export", ck["f16-tied"], "-o", d4, "-q"])
c4 = json.load(open(os.path.join(d4, "config.json")))
T.expect(c4["tie_word_embeddings"] is True, "tied export: %s" % c4)
b4 = os.path.join(d, "b4.h5")
ed(["import", d4, "-o", b4, "-q"])
T.expect(params(b4) == params(ck["f16-tied"]), "tied round trip changed the weights")

# ---- a SentencePiece tokenizer.model, its ids kept, read back from the export -------------
import sentencepiece as spm  # noqa: E402

spm.SentencePieceTrainer.train(input=train, model_prefix=os.path.join(d, "sp"), vocab_size=60, model_type="bpe",
                               hard_vocab_limit=False, minloglevel=2)
sp = spm.SentencePieceProcessor(model_file=os.path.join(d, "sp.model"))
VS = sp.get_piece_size()
torch.manual_seed(9)
spm_model = Llama(VS, D, L, H, G, FF, P, THETA, EPS, False)
t_spm = hf_tensors(spm_model)
b, vals = st_bytes(t_spm)
cfg_spm = dict(config(False), vocab_size=VS, bos_token_id=sp.bos_id(), eos_token_id=sp.eos_id())
spm_dir = model_dir("hf-spm", {"model.safetensors": b}, cfg_spm, tok=False)
shutil.copy(os.path.join(d, "sp.model"), os.path.join(spm_dir, "tokenizer.model"))
ck_spm, d5, ck_spm2 = os.path.join(d, "spm.h5"), os.path.join(d, "out5"), os.path.join(d, "spm2.h5")
ed(["import", spm_dir, "-o", ck_spm, "-q"])
ids_spm = np.array([sp.bos_id()] + sp.encode("the cat sat on a mat and the dog ran"), np.int64)
e = rel(logits(ck_spm, ids_spm), reference_logits(spm_model, vals, ids_spm))
T.expect(e < 1e-5, "sentencepiece llama: imported logits differ from the reference: %.2e" % e)
ed(["export", ck_spm, "-o", d5, "-q"])
T.expect(open(os.path.join(d5, "tokenizer.model"), "rb").read() == open(os.path.join(d, "sp.model"), "rb").read(),
         "export did not write the user's tokenizer.model back")
c5 = json.load(open(os.path.join(d5, "config.json")))
T.expect(c5["bos_token_id"] == sp.bos_id() and c5["eos_token_id"] == sp.eos_id(), "exported roles: %s" % c5)
ed(["import", d5, "-o", ck_spm2, "-q"])
T.expect(params(ck_spm) == params(ck_spm2), "sentencepiece llama round trip changed the weights")
p = ed(["generate", ck_spm, "the cat", "-n", 5, "-T", 0])
T.expect(p.stdout.startswith("the cat"), "generate with the sentencepiece llama:\n" + p.stdout)
bad_spm = dict(cfg_spm, bos_token_id=sp.eos_id())
m = model_dir("bad-spm-bos", {"model.safetensors": b}, bad_spm, tok=False)
shutil.copy(os.path.join(d, "sp.model"), os.path.join(m, "tokenizer.model"))
p = ed(["import", m, "-o", os.path.join(d, "bad-spm.h5")], check=None)
T.expect(p.returncode == 1 and "bos_token_id" in p.stderr, "a bos_token_id that is not the tokenizer's:\n" + p.stderr)
print("sentencepiece llama: logits vs reference %.1e, tokenizer.model round trip" % e)

# ---- generate on it; train --init-from fine-tunes it -------------------------------------
p = ed(["generate", a, "the cat", "-n", 5, "-T", 0])
T.expect(p.stdout.startswith("the cat"), "generate on an imported llama:\n" + p.stdout)
# --pack: full rows of 31 tokens a window, so 30 steps of 4 windows show the loss falling
# (per-document windows of this corpus hold a few tokens each; the import is what is tested)
ft = ["--init-from", a, "--train-file", train, "--max-length", 32, "--stride", 16, "-b", 4, "--threads", 1, "-q",
      "--pack"]
o1 = os.path.join(d, "ft1")
ed(ft + ["--max-steps", 30, "--log-interval", 1, "--lr", "3e-3", "-o", o1, "--sample-tokens", 0])
loss = T.history(os.path.join(o1, "history.json"))["steps"]["loss"]
first, last = sum(loss[:5]) / 5, sum(loss[-5:]) / 5
T.expect(last < first - 0.15, "fine-tuning the imported llama: loss %.3f -> %.3f" % (first, last))
print("fine-tuning from the import: loss %.3f -> %.3f in 30 steps" % (first, last))


# ---- bad inputs --------------------------------------------------------------------------
def bad(name, want, files=None, cfg=None, tok=True):
    m = model_dir("bad-" + name, files if files is not None else {"model.safetensors": st_bytes(T_UNTIED)[0]},
                  cfg or config(False), tok=tok)
    p = ed(["import", m, "-o", os.path.join(d, name + ".h5")], check=None)
    errs = [x for x in p.stderr.splitlines() if x.startswith("expert-dist:")]
    T.expect(p.returncode == 1 and len(errs) == 1 and want in errs[0],
             "%s: expected one error with %r, exit 1; got %d:\n%s" % (name, want, p.returncode, p.stderr))
    T.expect(not os.path.exists(os.path.join(d, name + ".h5")), name + ": an output file was left behind")


c = config(False)
bad("rope-scaling", '"rope_scaling"', cfg=dict(c, rope_scaling={"rope_type": "llama3", "factor": 8.0}))
bad("attention-bias", '"attention_bias"', cfg=dict(c, attention_bias=True))
bad("mlp-bias", '"mlp_bias"', cfg=dict(c, mlp_bias=True))
bad("sliding-window", '"sliding_window"', cfg=dict(c, sliding_window=16))
bad("act", '"hidden_act"', cfg=dict(c, hidden_act="gelu"))
bad("no-hidden", '"hidden_size" is missing', cfg={k: v for k, v in c.items() if k != "hidden_size"})
bad("kv-heads", '"num_key_value_heads" 3 does not divide', cfg=dict(c, num_key_value_heads=3))
bad("head-dim", '"head_dim"', cfg=dict(c, head_dim=16))
bad("vocab", "vocab_size", cfg=dict(c, vocab_size=V + 1))
bad("eos", "eos_token_id", cfg=dict(c, eos_token_id=V + 5))
t = T_UNTIED
files, _ = sharded(t, "F32")
bad("shard-missing", "does not exist", files={k: v for k, v in files.items() if not k.startswith("model-00002")})
trunc = dict(files)
trunc["model-00002-of-00002.safetensors"] = files["model-00002-of-00002.safetensors"][:-100]
bad("shard-truncated", "model-00002-of-00002.safetensors", files=trunc)
wrong = dict(files)
idx = json.loads(files["model.safetensors.index.json"])
idx["weight_map"]["model.norm.weight"] = "model-00001-of-00002.safetensors"
wrong["model.safetensors.index.json"] = json.dumps(idx).encode()
bad("shard-map", 'tensor "model.norm.weight" is not in shard', files=wrong)
trav = dict(files)
idx = json.loads(files["model.safetensors.index.json"])
idx["weight_map"]["model.norm.weight"] = "../x.safetensors"
trav["model.safetensors.index.json"] = json.dumps(idx).encode()
bad("shard-path", "not a file name of the model directory", files=trav)
bad("index-json", "model.safetensors.index.json", files=dict(files, **{"model.safetensors.index.json": b"{\"weight_map\": ["}))
bad("shape", "has shape", files={"model.safetensors": st_bytes(
    [(n, x.T if n.endswith("layers.1.mlp.up_proj.weight") else x) for n, x in t])[0]})
bad("missing", "is missing", files={"model.safetensors": st_bytes(
    [(n, x) for n, x in t if not n.endswith("layers.1.self_attn.k_proj.weight")])[0]})
bad("unexpected", "unexpected tensor", files={"model.safetensors": st_bytes(
    t + [("model.layers.0.self_attn.q_proj.bias", np.zeros(D, np.float32))])[0]})
tt = T_TIED
bad("tied-differs", "lm_head.weight differs", cfg=config(True), files={"model.safetensors": st_bytes(
    [(n, x + 1 if n == "lm_head.weight" else x) for n, x in tt])[0]})
bad("no-tokenizer", "no tokenizer", tok=False)
print("PASS: llama import/export (logits vs reference, F32/BF16 shards/F16 tied, round trips bit-identical, "
      "--init-from, bad inputs)")
