#!/usr/bin/env python3
"""Tokenizers the user brings: our C encoder (through bpe_tool) against independent ones.

SentencePiece: a small BPE model (byte fallback, a <pad>) and a small unigram model (no
byte fallback: unknown characters are <unk>) are trained here with python3-sentencepiece;
ids, decoded text and the role ids must equal the Python library's on multilingual text
(Russian, English, emoji, digits) and on invalid UTF-8.

Hugging Face tokenizer.json: this script trains a small byte-level BPE itself and writes
it as three tokenizer.json files in the styles of GPT-2 (ByteLevel with its regex, merges
as "a b" strings, <|endoftext|>), Llama 3 (Split with Llama 3's regex then ByteLevel
without one, merges as ["a", "b"] pairs, ignore_merges, added special tokens, a
tokenizer_config.json naming BOS/EOS) and Qwen/SmolLM (NFC, Digits, add_prefix_space). A
reference encoder written here from the format's definition computes the ids; the C
encoder must give the same on every text, and again after a save/load round trip (the
form checkpoints hold). Exit 0 = identical everywhere."""
import argparse
import json
import os
import random
import subprocess
import sys
import unicodedata

import regex
import sentencepiece as spm

FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
    return r.stdout


def c_encode(tool, tok, texts, workdir):
    paths = []
    for k, t in enumerate(texts):
        p = os.path.join(workdir, f"text{k}.bin")
        with open(p, "wb") as f:
            f.write(t if isinstance(t, bytes) else t.encode("utf-8"))
        paths.append(p)
    out = run([tool, "encode", tok] + paths).decode().split("\n")
    res, cur = [], []
    for line in out:
        if line == "--":
            res.append(cur)
            cur = []
        elif line:
            cur.append(int(line))
    return res


def c_info(tool, tok):
    return dict(l.split(" ", 1) for l in run([tool, "info", tok]).decode().splitlines())


WORDS_EN = "the quick brown fox jumps over lazy dog it's we're they'll I'd model tokenizer data 2026 42".split()
WORDS_RU = "съешь же ещё этих мягких французских булок да выпей чаю привет мир кто-то 1234".split()
EMOJI = ["😀", "🚀", "👍🏽", "∑", "€", "…"]


def gen_text(rng, n):
    out = []
    for _ in range(n):
        r = rng.random()
        w = rng.choice(WORDS_EN) if r < 0.45 else rng.choice(WORDS_RU) if r < 0.85 else rng.choice(EMOJI)
        if rng.random() < 0.2:
            w = w.capitalize()
        out.append(w)
        out.append(rng.choice([" ", " ", " ", ", ", ". ", "\n", "  ", "\t", "!\n\n", " (", ") ", "'s "]))
    return "".join(out)


TEXTS_FIXED = [
    "Hello, world! Привет, мир! 😀🚀",
    "Съешь же ещё этих мягких французских булок, да выпей чаю. It's 2026; we're 12345 strong.",
    "  leading spaces and trailing   \n\n\tTabs\r\nand CRLF ",
    "digits 0123456789 and ١٢٣ and ½",
    "émoji 👍🏽 combining é (e + U+0301) and Å",
    "",
    "x",
]


# ---------------------------------------------------------------- SentencePiece


def test_sentencepiece(tool, workdir, rng):
    corpus = [gen_text(rng, 30).replace("\n", " ") for _ in range(400)]
    texts = TEXTS_FIXED + [gen_text(rng, rng.randint(1, 60)) for _ in range(25)]
    bad = [b"ok \xff\xfe bad", b"\xd0\x9f\xd1", b"cut \xf0\x9f\x98", b"\x80start", b"mid\xc3(dle"]
    models = {
        "bpe": dict(model_type="bpe", vocab_size=400, byte_fallback=True, pad_id=3, unk_id=0, bos_id=1, eos_id=2),
        "unigram": dict(model_type="unigram", vocab_size=300, byte_fallback=False, character_coverage=0.98),
    }
    for name, kw in models.items():
        prefix = os.path.join(workdir, f"sp_{name}")
        spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus), model_prefix=prefix, minloglevel=2,
                                       hard_vocab_limit=False, **kw)
        model = prefix + ".model"
        sp = spm.SentencePieceProcessor(model_file=model)
        info = c_info(tool, model)
        check(info["kind"] == "sentencepiece", f"sp {name}: kind {info['kind']}")
        check(int(info["vocab"]) == sp.get_piece_size(), f"sp {name}: vocab {info['vocab']} vs {sp.get_piece_size()}")
        for role, want in (("pad", sp.pad_id()), ("unk", sp.unk_id()), ("bos", sp.bos_id()), ("eos", sp.eos_id())):
            check(int(info[role]) == want, f"sp {name}: {role} {info[role]} vs {want}")
        saved = os.path.join(workdir, f"sp_{name}.saved.json")
        run([tool, "save", model, saved])
        for tok in (model, saved):
            got = c_encode(tool, tok, texts + bad, workdir)
            for k, t in enumerate(texts + bad):
                want = sp.encode(t)
                check(got[k] == want, f"sp {name} ({os.path.basename(tok)}) text {k}: {got[k][:12]} vs {want[:12]}")
        # decode: the library's text for ids of every text (roles dropped as skip_special does)
        for k, t in enumerate(texts[:10] + bad):
            ids = sp.encode(t)
            out = run([tool, "decode", model] + [str(i) for i in ids])
            check(out == sp.decode(ids).encode("utf-8"), f"sp {name} decode {k}: {out[:40]!r}")
        if name == "unigram":  # emoji outside the coverage: <unk>
            check(sp.unk_id() in sp.encode("中文 ∞"), "unigram: expected <unk> for unseen characters")
        else:  # byte fallback: no <unk> at all
            check(all(i != sp.unk_id() for i in sum((sp.encode(t) for t in texts), [])), "bpe: <unk> with byte fallback")


# ---------------------------------------------------------------- tokenizer.json


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


B2U = bytes_to_unicode()
GPT2_RE = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_RE = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
             r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")


def valid_prefix(b):
    """Length of the longest valid UTF-8 prefix of b."""
    try:
        b.decode("utf-8")
        return len(b)
    except UnicodeDecodeError as e:
        return e.start


def split_isolated(pattern, s):
    """HF Split with behavior Isolated: every match is a piece, and so is the text between."""
    out, pos = [], 0
    for m in regex.finditer(pattern, s):
        if m.end() == m.start():
            continue
        if m.start() > pos:
            out.append(s[pos:m.start()])
        out.append(m.group())
        pos = m.end()
    if pos < len(s):
        out.append(s[pos:])
    return out


def pretok_steps(pt):
    """The pre-tokenizer as a list of steps (pattern or None, add_prefix_space)."""
    t = pt["type"]
    if t == "Sequence":
        return sum((pretok_steps(p) for p in pt["pretokenizers"]), [])
    if t == "ByteLevel":
        return [(GPT2_RE if pt.get("use_regex", True) else None, pt.get("add_prefix_space", False))]
    if t == "Split":
        assert pt["behavior"] == "Isolated" and not pt.get("invert", False)
        return [(pt["pattern"]["Regex"] if "Regex" in pt["pattern"] else regex.escape(pt["pattern"]["String"]), False)]
    if t == "Digits":
        return [(r"\p{N}" if pt.get("individual_digits") else r"\p{N}+", False)]
    raise ValueError(t)


class RefEncoder:
    """tokenizer.json's byte-level BPE as its definition reads; invalid UTF-8 (which HF
    cannot take) as our documented extension: each invalid byte is its own byte token."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        m = j["model"]
        self.vocab = m["vocab"]
        merges = [tuple(x.split(" ")) if isinstance(x, str) else tuple(x) for x in m["merges"]]
        self.ranks = {p: r for r, p in enumerate(merges)}
        self.ignore_merges = m.get("ignore_merges", False)
        self.added = sorted(((a["content"], a["id"]) for a in j.get("added_tokens", [])), key=lambda x: -len(x[0]))
        self.nfc = (j.get("normalizer") or {}).get("type") == "NFC"
        self.steps = pretok_steps(j["pre_tokenizer"])

    def bpe(self, word):
        if self.ignore_merges and word in self.vocab:
            return [word]
        parts = list(word)
        while len(parts) > 1:
            best = min(range(len(parts) - 1), key=lambda i: (self.ranks.get((parts[i], parts[i + 1]), 1 << 60), i))
            if (parts[best], parts[best + 1]) not in self.ranks:
                break
            pair = (parts[best], parts[best + 1])
            new, i = [], 0
            while i < len(parts):  # all occurrences, left to right
                if i + 1 < len(parts) and (parts[i], parts[i + 1]) == pair:
                    new.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    new.append(parts[i])
                    i += 1
            parts = new
        return parts

    def pieces(self, s, step=0):
        if step == len(self.steps):
            return [s]
        pat, prefix = self.steps[step]
        if prefix and s and not s.startswith(" "):
            s = " " + s
        parts = split_isolated(pat, s) if pat else ([s] if s else [])
        return sum((self.pieces(p, step + 1) for p in parts), [])

    def encode_segment(self, seg):
        out = []
        spans, i = [], 0  # valid UTF-8 runs (NFC'd when the file says so) and single invalid bytes
        whole = valid_prefix(seg) == len(seg)
        while i < len(seg):
            k = valid_prefix(seg[i:])
            if k:
                text = seg[i:i + k].decode("utf-8")
                spans.append(unicodedata.normalize("NFC", text) if self.nfc and whole else text)
                i += k
            if i < len(seg):
                spans.append(seg[i:i + 1])
                i += 1
        for sp in spans:
            if isinstance(sp, bytes):
                out.append(self.vocab[B2U[sp[0]]])
                continue
            for p in self.pieces(sp):
                mapped = "".join(B2U[b] for b in p.encode("utf-8"))
                out.extend(self.vocab[t] for t in self.bpe(mapped))
        return out

    def encode(self, data):
        data = data if isinstance(data, bytes) else data.encode("utf-8")
        added = [(c.encode("utf-8"), i) for c, i in self.added]
        out, seg, i = [], 0, 0
        while i < len(data):
            hit = next(((c, t) for c, t in added if data.startswith(c, i)), None)
            if hit:
                out.extend(self.encode_segment(data[seg:i]))
                out.append(hit[1])
                i = seg = i + len(hit[0])
            else:
                i += 1
        out.extend(self.encode_segment(data[seg:]))
        return out


def train_bpe(corpus, n_merges, pattern):
    """A plain byte-level BPE trainer (most frequent pair, ties by the pair's strings)."""
    counts = {}
    for text in corpus:
        for p in split_isolated(pattern, text):
            w = tuple(B2U[b] for b in p.encode("utf-8"))
            counts[w] = counts.get(w, 0) + 1
    vocab = [B2U[b] for b in range(256)]
    merges = []
    words = dict(counts)
    for _ in range(n_merges):
        pairs = {}
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + c
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], [-ord(ch) for ch in p[0] + " " + p[1]]))
        merges.append(best)
        new_tok = best[0] + best[1]
        if new_tok not in vocab:
            vocab.append(new_tok)
        nw = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(new_tok)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            nw[tuple(out)] = nw.get(tuple(out), 0) + c
        words = nw
    return vocab, merges


def write_hf(workdir, rng, corpus):
    files = {}
    # GPT-2 style
    vocab, merges = train_bpe(corpus, 300, GPT2_RE)
    v = {t: i for i, t in enumerate(vocab)}
    v["<|endoftext|>"] = len(v)
    files["gpt2"] = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": v["<|endoftext|>"], "content": "<|endoftext|>", "single_word": False,
                          "lstrip": False, "rstrip": False, "normalized": True, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                  "vocab": v, "merges": [a + " " + b for a, b in merges]},
    }
    # Llama 3 style: Split + ByteLevel(use_regex false), pair merges, ignore_merges, specials after the vocab
    vocab, merges = train_bpe(corpus, 350, LLAMA3_RE)
    v = {t: i for i, t in enumerate(vocab)}
    extra = "".join(B2U[b] for b in " здравствуйте".encode("utf-8"))  # a whole-word token no merge makes
    if extra not in v:
        v[extra] = len(v)
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|start_header_id|>",
                "<|end_header_id|>", "<|eot_id|>"]
    added = [{"id": len(v) + k, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for k, s in enumerate(specials)]
    files["llama3"] = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_RE}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                                                      {"Sequence": {"id": "A", "type_id": 0}}]}]},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  "vocab": v, "merges": [list(m) for m in merges]},
    }
    # Qwen / SmolLM style: NFC, digits apart, a prefix space
    vocab, merges = train_bpe(corpus, 250, GPT2_RE)
    v = {t: i for i, t in enumerate(vocab)}
    files["qwen"] = {
        "version": "1.0", "added_tokens": [
            {"id": len(v), "content": "<|im_start|>", "special": True, "lstrip": False, "rstrip": False,
             "single_word": False, "normalized": False},
            {"id": len(v) + 1, "content": "<|im_end|>", "special": True, "lstrip": False, "rstrip": False,
             "single_word": False, "normalized": False}],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}]},
        "post_processor": None, "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": v, "merges": [a + " " + b for a, b in merges]},
    }
    paths = {}
    for name, j in files.items():
        d = os.path.join(workdir, "hf_" + name)
        os.makedirs(d, exist_ok=True)
        paths[name] = os.path.join(d, "tokenizer.json")
        with open(paths[name], "w", encoding="utf-8") as f:
            json.dump(j, f, ensure_ascii=False, indent=1)
    with open(os.path.join(workdir, "hf_llama3", "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<|begin_of_text|>", "eos_token": {"content": "<|eot_id|>"}, "pad_token": None}, f)
    return paths


def test_hf(tool, workdir, rng):
    corpus = [gen_text(rng, 40) for _ in range(300)]
    paths = write_hf(workdir, rng, corpus)
    # a tokenizer_config.json naming a token the file lacks: one line naming both, exit 1
    bad = os.path.join(workdir, "hf_badcfg")
    os.makedirs(bad, exist_ok=True)
    with open(paths["gpt2"], "rb") as f, open(os.path.join(bad, "tokenizer.json"), "wb") as g:
        g.write(f.read())
    with open(os.path.join(bad, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<s>"}, f)
    r = subprocess.run([tool, "info", os.path.join(bad, "tokenizer.json")], capture_output=True)
    msg = r.stderr.decode()
    check(r.returncode == 1 and "tokenizer.json" in msg and "bos_token names no token" in msg,
          f"hf: a config naming a missing token: rc {r.returncode}, {msg!r}")
    texts = TEXTS_FIXED + [gen_text(rng, rng.randint(1, 80)) for _ in range(40)] + [
        "<|endoftext|>doc one<|endoftext|> doc two <|endoftext|",
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nПривет 😀<|eot_id|>",
        "<|im_start|>user\n12345 здравствуйте<|im_end|>",
        " здравствуйте здравствуйте",
        "e\u0301 A\u030a café",  # NFC composes these
    ]
    bad = [b"ok \xff\xfe bad", b"\xd0\x9f\xd1", b"cut \xf0\x9f\x98", b"\x80start <|endoftext|>\xc3(x"]
    want_roles = {"gpt2": {"bos": "<|endoftext|>", "eos": "<|endoftext|>", "pad": None, "unk": None},
                  "llama3": {"bos": "<|begin_of_text|>", "eos": "<|eot_id|>", "pad": None, "unk": None},
                  "qwen": {"bos": None, "eos": None, "pad": None, "unk": None}}
    for name, path in paths.items():
        ref = RefEncoder(path)
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        ids_of = dict(j["model"]["vocab"])
        ids_of.update({a["content"]: a["id"] for a in j["added_tokens"]})
        info = c_info(tool, path)
        check(info["kind"] == "hf", f"hf {name}: kind {info['kind']}")
        check(int(info["vocab"]) == max(ids_of.values()) + 1, f"hf {name}: vocab {info['vocab']}")
        for role, tokname in want_roles[name].items():
            want = ids_of[tokname] if tokname else -1
            check(int(info[role]) == want, f"hf {name}: {role} = {info[role]}, expected {want}")
        saved = os.path.join(workdir, f"hf_{name}.saved.json")
        run([tool, "save", path, saved])
        check(c_info(tool, saved) == info, f"hf {name}: roles/size change through save")
        for tok in (path, saved):
            got = c_encode(tool, tok, texts + bad, workdir)
            for k, t in enumerate(texts + bad):
                want = ref.encode(t)
                if got[k] != want:
                    first = next((i for i in range(min(len(got[k]), len(want))) if got[k][i] != want[i]),
                                 min(len(got[k]), len(want)))
                    check(False, f"hf {name} ({os.path.basename(tok)}) text {k}: first difference at {first}: "
                                 f"C {got[k][first:first + 6]} ref {want[first:first + 6]}")
        # the whole-word token only ignore_merges produces
        if name == "llama3":
            w = "".join(B2U[b] for b in " здравствуйте".encode("utf-8"))
            check(ids_of[w] in ref.encode(" здравствуйте"), "llama3: ignore_merges token not used by the reference")
        # decode gives the text back (specials that are roles dropped)
        for k, t in enumerate(texts[:12]):
            ids = ref.encode(t)
            out = run([tool, "decode", path] + [str(i) for i in ids]).decode("utf-8")
            tn = unicodedata.normalize("NFC", t) if name == "qwen" else t
            if name == "qwen":  # the prefix space of each segment is part of the text
                continue
            for role in ("bos", "eos"):
                if want_roles[name][role]:
                    tn = tn.replace(want_roles[name][role], "")
            check(out == tn, f"hf {name} decode {k}: {out[:40]!r} vs {tn[:40]!r}")


def test_cli(exe, tool, workdir, rng):
    """Training with each kind writes a self-contained checkpoint: generate and eval work
    with the tokenizer file gone; export writes the user's file back with the same ids."""
    import shutil
    train = os.path.join(workdir, "train.txt")
    with open(train, "w", encoding="utf-8") as f:
        f.write("\n\n".join(gen_text(rng, 30) for _ in range(30)))
    model = ["--d-model", "32", "--n-layers", "1", "--n-heads", "2", "--d-ff", "64", "--max-seq-len", "32",
             "--max-length", "24", "--stride", "12", "--max-steps", "2", "--batch-size", "2", "--threads", "1", "-q"]
    for kind, src in (("sentencepiece", "sp_bpe.model"), ("hf", "hf_llama3/tokenizer.json")):
        d = os.path.join(workdir, "cli_" + kind)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        tok = os.path.join(d, os.path.basename(src))
        shutil.copy(os.path.join(workdir, src), tok)
        if kind == "hf":
            shutil.copy(os.path.join(workdir, "hf_llama3", "tokenizer_config.json"), d)
        before = c_encode(tool, tok, TEXTS_FIXED, workdir)
        run([exe, "--tokenizer", kind, "--vocab-file", tok, "--train-file", train, "-o", os.path.join(d, "run")] + model)
        os.remove(tok)
        ck = os.path.join(d, "run", "last.h5")
        out = run([exe, "generate", ck, "Привет", "-n", "4", "-T", "0", "--threads", "1"]).decode("utf-8")
        check(out.startswith("Привет"), f"cli {kind}: generate from the checkpoint alone: {out!r}")
        out = run([exe, "eval", ck, train, "--threads", "1"]).decode()
        check("loss" in out, f"cli {kind}: eval from the checkpoint alone: {out!r}")
        exp = os.path.join(d, "export")
        run([exe, "export", ck, "-o", exp, "-q"])
        back = os.path.join(exp, "tokenizer.model" if kind == "sentencepiece" else "tokenizer.json")
        check(c_encode(tool, back, TEXTS_FIXED, workdir) == before, f"cli {kind}: exported tokenizer encodes differently")
        check(c_info(tool, back) == c_info(tool, os.path.join(workdir, src)), f"cli {kind}: exported roles differ")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--exe", help="expert-dist: also train, generate, eval and export with each kind")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    rng = random.Random(23)
    test_sentencepiece(a.tool, a.workdir, rng)
    test_hf(a.tool, a.workdir, rng)
    if a.exe:
        test_cli(a.exe, a.tool, a.workdir, rng)
    if FAILS:
        print(f"{len(FAILS)} failure(s)")
        return 1
    print("sentencepiece and tokenizer.json: identical ids")
    return 0


if __name__ == "__main__":
    sys.exit(main())
