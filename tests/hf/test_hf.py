#!/usr/bin/env python3
"""GPT-2 in the Hugging Face layout, in and out.

A GPT-2-shaped model (small dimensions) is made with the project's PyTorch reference
(tests/reference/gpt.py) and written the way transformers' GPT2LMHeadModel saves it:
config.json, model.safetensors written byte by byte here (struct + json: no safetensors
package), Conv1D weights [in, out], a tied lm_head.weight and a causal-mask buffer, with
GPT-2's tokenizer files (tests/tokenizer/gpt2-mini). Then:
  - `import` and the reference model agree on the logits of every GPT-2 id (1e-5);
  - the same files without the "transformer." prefix import to the same weights;
  - import -> export -> import is bit-identical (weights), export -> export the same bytes,
    and the exported tensors are the original bytes;
  - `train --init-from` starts from exactly the imported weights and the loss falls;
  - broken inputs are one error line each (header longer than the file, overlapping
    tensors, offsets out of range, wrong dtype, wrong shape, missing/unexpected tensor,
    untied head, bad config, too short)."""
import argparse
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
from gpt import GPT  # noqa: E402
import edtest as T  # noqa: E402

dump_exe = None


def extra(p):
    p.add_argument("--dump", required=True)


args = T.parse_args(extra)
d = T.tmpdir()
src = os.path.join(HERE, "..", "tokenizer", "gpt2-mini")
vocab = json.load(open(os.path.join(src, "vocab.json")))
V, EOT = len(vocab), vocab["<|endoftext|>"]
D, L, H, FF, P = 64, 2, 4, 160, 48

torch.manual_seed(1)
model = GPT(V, D, L, H, FF, P)
with torch.no_grad():
    for p in model.parameters():  # non-trivial biases and LayerNorms
        p.add_(0.05 * torch.randn_like(p))
sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}

BLOCK = [("ln1.weight", "ln_1.weight", 0), ("ln1.bias", "ln_1.bias", 0), ("qkv.weight", "attn.c_attn.weight", 1),
         ("qkv.bias", "attn.c_attn.bias", 0), ("proj.weight", "attn.c_proj.weight", 1),
         ("proj.bias", "attn.c_proj.bias", 0), ("ln2.weight", "ln_2.weight", 0), ("ln2.bias", "ln_2.bias", 0),
         ("fc.weight", "mlp.c_fc.weight", 1), ("fc.bias", "mlp.c_fc.bias", 0),
         ("fc_out.weight", "mlp.c_proj.weight", 1), ("fc_out.bias", "mlp.c_proj.bias", 0)]


def hf_tensors(prefix="transformer."):
    t = [(prefix + "wte.weight", sd["wte.weight"]), (prefix + "wpe.weight", sd["wpe.weight"])]
    for i in range(L):
        for ours, hf, conv in BLOCK:
            w = sd["blocks.%d.%s" % (i, ours)]
            t.append(("%sh.%d.%s" % (prefix, i, hf), np.ascontiguousarray(w.T) if conv else w))
        t.append(("%sh.%d.attn.bias" % (prefix, i), np.tril(np.ones((1, 1, P, P), np.float32))))
    t += [(prefix + "ln_f.weight", sd["ln_f.weight"]), (prefix + "ln_f.bias", sd["ln_f.bias"]),
          ("lm_head.weight", sd["wte.weight"])]
    return t


def st_bytes(tensors, dtype="F32", header_edit=None):
    """safetensors by hand: u64 LE header length, JSON header, raw LE data."""
    hdr, data = {"__metadata__": {"format": "pt"}}, b""
    for name, a in tensors:
        raw = np.ascontiguousarray(a, dtype="<f4").tobytes()
        hdr[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if header_edit:
        header_edit(hdr)
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


CONFIG = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": V, "n_positions": P,
          "n_ctx": P, "n_embd": D, "n_layer": L, "n_head": H, "n_inner": FF, "activation_function": "gelu_new",
          "layer_norm_epsilon": 1e-5, "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1,
          "scale_attn_weights": True, "tie_word_embeddings": True, "bos_token_id": EOT, "eos_token_id": EOT}


def model_dir(name, st=None, config=None, tok=True):
    m = os.path.join(d, name)
    os.makedirs(m, exist_ok=True)
    json.dump(config or CONFIG, open(os.path.join(m, "config.json"), "w"))
    open(os.path.join(m, "model.safetensors"), "wb").write(st if st is not None else st_bytes(hf_tensors()))
    if tok:
        for f in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(src, f), m)
    return m


def ed(flags, check=0):
    return T.run(args, 1, [str(f) for f in flags], check=check, timeout=180)


def params(ck):
    out = ck + ".params"
    subprocess.run([args.dump, ck, "params", out], check=True)
    return open(out, "rb").read()


def our_id(h):
    return h  # an imported tokenizer keeps GPT-2's ids


# ---- import and logits against the reference -------------------------------------------
hf = model_dir("hf")
a = os.path.join(d, "a.h5")
ed(["import", hf, "-o", a])
rng = np.random.default_rng(5)
ids_hf = np.concatenate([[EOT], rng.integers(0, V, size=P - 1)]).astype(np.int64)
ids_hf[20] = EOT
ours = np.array([our_id(int(h)) for h in ids_hf], np.int32)
ours.tofile(os.path.join(d, "ids.i32"))
subprocess.run([args.dump, a, "logits", os.path.join(d, "ids.i32"), os.path.join(d, "logits.f32")], check=True)
got = np.fromfile(os.path.join(d, "logits.f32"), np.float32).reshape(P, V)
with torch.no_grad():
    ref = model(torch.from_numpy(ids_hf)[None])[0].numpy()
sel = got[:, [our_id(h) for h in range(V)]]
err = float(np.abs(sel - ref).max() / np.abs(ref).max())
print("logits vs reference: max |diff| / max |ref| = %.2e" % err)
T.expect(err < 1e-5, "imported logits differ from the reference model: %.2e" % err)

# ---- the same files without the "transformer." prefix (the hub's gpt2 layout) ------------
noprefix = model_dir("hf-noprefix", st=st_bytes([(n.replace("transformer.", ""), x) for n, x in hf_tensors()]))
a2 = os.path.join(d, "a2.h5")
ed(["import", noprefix, "-o", a2, "-q"])
T.expect(params(a) == params(a2), "import without the transformer. prefix gives other weights")

# ---- round trips -----------------------------------------------------------------------
d2, d3, b = os.path.join(d, "out2"), os.path.join(d, "out3"), os.path.join(d, "b.h5")
ed(["export", a, "-o", d2])
ed(["import", d2, b, "-q"])
T.expect(params(a) == params(b), "import -> export -> import changed the weights")
ed(["export", b, "-o", d3, "-q"])
for f in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
    T.expect(open(os.path.join(d2, f), "rb").read() == open(os.path.join(d3, f), "rb").read(), "export of the re-import differs: " + f)
raw = open(os.path.join(d2, "model.safetensors"), "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
T.expect(n % 8 == 0 and hdr["__metadata__"] == {"format": "pt"}, "exported header")
data = raw[8 + n:]
orig = dict(hf_tensors())
for name, e in hdr.items():
    if name == "__metadata__":
        continue
    T.expect(e["dtype"] == "F32" and name in orig, "exported tensor %s" % name)
    x = np.frombuffer(data[e["data_offsets"][0]:e["data_offsets"][1]], "<f4").reshape(e["shape"])
    T.expect(x.tobytes() == np.ascontiguousarray(orig[name]).tobytes(), "exported %s is not the original" % name)
T.expect(len(hdr) - 1 == 2 + 12 * L + 2, "exported tensor count %d" % (len(hdr) - 1))
cfg2 = json.load(open(os.path.join(d2, "config.json")))
T.expect(all(cfg2[k] == CONFIG[k] for k in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner",
                                              "eos_token_id")), "exported config.json: %s" % cfg2)
# the tokenizer as a tokenizer.json with GPT-2's vocabulary, merges and ids
tj = json.load(open(os.path.join(d2, "tokenizer.json")))
T.expect(tj["model"]["vocab"] == vocab, "exported tokenizer.json's vocab differs from GPT-2's")
T.expect([" ".join(m) for m in tj["model"]["merges"]] ==
         [x for x in open(os.path.join(src, "merges.txt")).read().split("\n")[1:] if x], "exported merges differ")
tc = json.load(open(os.path.join(d2, "tokenizer_config.json")))
T.expect(tc["bos_token"] == tc["eos_token"] == "<|endoftext|>" and tc["pad_token"] is None,
         "exported tokenizer_config.json: %s" % tc)

# ---- generate/eval use it; train --init-from fine-tunes it --------------------------------
p = ed(["inspect", a])
T.expect("progress: none" in p.stdout, "inspect of an imported model:\n" + p.stdout)
p = ed(["generate", a, "hello world", "-n", 5, "-T", 0])
T.expect(p.stdout.startswith("hello world"), "generate on an imported model:\n" + p.stdout)
train = T.corpus(os.path.join(d, "train.txt"), 60, seed=3)
ft = ["--init-from", a, "--train-file", train, "--max-length", 32, "--stride", 16, "-b", 4, "--threads", 1, "-q"]
o0 = os.path.join(d, "ft0")
ed(ft + ["--max-steps", 1, "--lr", "1e-30", "--weight-decay", 0, "-o", o0])
T.expect(params(os.path.join(o0, "last.h5")) == params(a), "--init-from did not start from the imported weights")
o1 = os.path.join(d, "ft1")
ed(ft + ["--max-steps", 40, "--log-interval", 1, "--lr", "3e-3", "-o", o1])
loss = T.history(os.path.join(o1, "history.json"))["steps"]["loss"]
first, last = sum(loss[:5]) / 5, sum(loss[-5:]) / 5
T.expect(len(loss) == 40 and last < first - 0.5, "fine-tuning loss did not fall: %.3f -> %.3f" % (first, last))
print("fine-tuning from the import: loss %.3f -> %.3f in 40 steps" % (first, last))
p = ed(["inspect", os.path.join(o1, "last.h5")])
T.expect("global_step 40" in p.stdout, "the fine-tuning run is a new run from step 0:\n" + p.stdout)


# ---- bad inputs --------------------------------------------------------------------------
def bad(name, want, st=None, config=None, tok=True):
    m = model_dir("bad-" + name, st=st, config=config, tok=tok)
    p = ed(["import", m, "-o", os.path.join(d, name + ".h5")], check=None)
    errs = [x for x in p.stderr.splitlines() if x.startswith("expert-dist:")]
    T.expect(p.returncode == 1 and len(errs) == 1 and want in errs[0],
             "%s: expected one error with %r, exit 1; got %d:\n%s" % (name, want, p.returncode, p.stderr))
    T.expect(not os.path.exists(os.path.join(d, name + ".h5")), name + ": an output file was left behind")


good = st_bytes(hf_tensors())
hl = struct.unpack("<Q", good[:8])[0]
bad("header-longer", "longer than the file", st=struct.pack("<Q", len(good)) + good[8:])
bad("too-short", "too short", st=good[:5])


def edit(fn):
    return st_bytes(hf_tensors(), header_edit=fn)


def overlap(h):
    h["transformer.ln_f.bias"]["data_offsets"] = list(h["transformer.ln_f.weight"]["data_offsets"])


def out_of_range(h):
    o = h["lm_head.weight"]["data_offsets"]
    h["lm_head.weight"]["data_offsets"] = [o[0] + 4, o[1] + 4]


def wrong_dtype(h):
    h["transformer.ln_f.bias"]["dtype"] = "I32"


bad("overlap", "overlap", st=edit(overlap))
bad("out-of-range", "outside the", st=edit(out_of_range))
bad("wrong-dtype", "dtype I32", st=edit(wrong_dtype))
bad("bad-json", "header byte", st=struct.pack("<Q", 8) + b'{"a": [1' + good[16:])
t = hf_tensors()
bad("not-transposed", "has shape", st=st_bytes([(n, x.T if n.endswith("c_attn.weight") else x) for n, x in t]))
bad("missing", "is missing", st=st_bytes([(n, x) for n, x in t if not n.endswith("h.1.mlp.c_fc.bias")]))
bad("unexpected", "unexpected tensor", st=st_bytes(t + [("transformer.h.0.attn.extra", np.zeros(3, np.float32))]))
bad("untied", "untied", st=st_bytes([(n, x + 1 if n == "lm_head.weight" else x) for n, x in t]))
bad("activation", "activation_function", config=dict(CONFIG, activation_function="relu"))
bad("vocab", "vocab_size", config=dict(CONFIG, vocab_size=V + 1))
bad("no-tokenizer", "no tokenizer", tok=False)
print("PASS: import/export (logits vs reference %.1e, round trips bit-identical, --init-from, %s)" % (err, "bad inputs"))
