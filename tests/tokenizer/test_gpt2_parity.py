#!/usr/bin/env python3
"""GPT-2 parity: our C encoder against a plain Python re-implementation of GPT-2's
encoder.py (bytes_to_unicode, the pre-tokenization regex, bpe() by merge rank).

Python's `re` has no \\p{L}/\\p{N}, so the regex is rewritten with \\w classes; the two
agree on the alphabet the generated texts use (ASCII printable, tab, newline, Cyrillic,
a few Latin-1 letters and marks-free symbols), which is all this test feeds them.
Checks a BPE trained by our C code (read back from its JSON) and the hand-made GPT-2
vocab.json/merges.txt pair. Exit 0 = identical ids everywhere."""
import argparse
import json
import os
import random
import re
import subprocess
import sys

PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")


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


BYTE_ENC = bytes_to_unicode()


def bpe(token, ranks):
    word = list(token)
    while len(word) > 1:
        pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
        best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if best not in ranks:
            break
        first, second = best
        new, i = [], 0
        while i < len(word):
            if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                new.append(first + second)
                i += 2
            else:
                new.append(word[i])
                i += 1
        word = new
    return word


def encode(text, vocab_ids, ranks):
    out = []
    for piece in PAT.findall(text):
        mapped = "".join(BYTE_ENC[b] for b in piece.encode("utf-8"))
        out.extend(vocab_ids[t] for t in bpe(mapped, ranks))
    return out


WORDS = ["the", "cat", "it's", "we'll", "I'M", "they're", "don't", "you've", "I'd", "x_y", "__init__",
         "кот", "сидел", "на", "ёлке", "Привет", "мир", "naïve", "café", "42", "1999", "3.14", "e-mail",
         "(a)", "[b]", "{c}", "!!!", "?!", "...", "—", "«ёж»", "$5", "100%", "a+b=c", "#tag", "@you"]
SEPS = [" ", " ", " ", "  ", "   ", "\n", "\n\n", "\t", " \t ", "\n  ", ""]


def gen_text(rng, n_words):
    return "".join(rng.choice(WORDS) + rng.choice(SEPS) for _ in range(n_words))


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--gpt2-dir", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    rng = random.Random(7)
    corpus = os.path.join(a.workdir, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        for _ in range(300):
            f.write(gen_text(rng, rng.randint(1, 60)).replace("\n\n", "\n").strip() + "\n\n")
    tok = os.path.join(a.workdir, "bpe.json")
    run([a.tool, "train", corpus, "700", tok])
    with open(tok, encoding="utf-8") as f:
        ours = json.load(f)
    vocab_ids = {t: i for i, t in enumerate(ours["vocab"]) if i >= 4}
    ranks = {tuple(m.split(" ")): r for r, m in enumerate(ours["merges"])}

    with open(os.path.join(a.gpt2_dir, "vocab.json"), encoding="utf-8") as f:
        g_vocab = json.load(f)  # imported tokenizers keep GPT-2's ids
    with open(os.path.join(a.gpt2_dir, "merges.txt"), encoding="utf-8") as f:
        g_ranks = {tuple(l.split()): r for r, l in enumerate(x for x in f.read().split("\n")[1:] if x)}

    texts, paths = [], []
    for k in range(40):
        texts.append(gen_text(rng, rng.randint(1, 400)))
        paths.append(os.path.join(a.workdir, f"text{k}.txt"))
        with open(paths[-1], "w", encoding="utf-8", newline="") as f:
            f.write(texts[-1])
    g_files = [os.path.join(a.gpt2_dir, "vocab.json"), os.path.join(a.gpt2_dir, "merges.txt")]
    failures = 0
    for name, vocab, rk, cmd in (("trained", vocab_ids, ranks, [a.tool, "encode", tok] + paths),
                                 ("gpt2", g_vocab, g_ranks, [a.tool, "gpt2"] + g_files + paths)):
        outputs = run(cmd).split("--\n")[:-1]  # one block of ids per file
        if len(outputs) != len(texts):
            print(f"{name}: {len(outputs)} outputs for {len(texts)} files")
            failures += 1
            continue
        for k, (text, out) in enumerate(zip(texts, outputs)):
            got, want = [int(x) for x in out.split()], encode(text, vocab, rk)
            if got != want:
                failures += 1
                i = next((i for i, (x, y) in enumerate(zip(got, want)) if x != y), min(len(got), len(want)))
                print(f"{name} text {k}: first difference at id {i}: C {got[i:i+5]} python {want[i:i+5]}")
    merges = len(ours["merges"])
    print(f"{'FAIL' if failures else 'ok'}: 40 texts x 2 tokenizers ({merges} trained merges), {failures} differences")
    return 1 if failures or merges < 100 else 0


if __name__ == "__main__":
    sys.exit(main())
