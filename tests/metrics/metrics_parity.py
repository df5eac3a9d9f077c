#!/usr/bin/env python3
"""BLEU and ROUGE of src/metrics against independent references, through tm_tool:

  - 13a tokens: sacreBLEU's four regular expressions and replacements, run by Python's re;
  - BLEU: NLTK's corpus_bleu with smoothing method3 (= sacreBLEU's `exp`), on those tokens.
    One documented convention differs: NLTK counts max(1, .) n-grams for a hypothesis
    shorter than n, sacreBLEU (and we) count 0; the smoothing function given to NLTK takes
    exactly those extra counts off again. A corpus with no n-gram of some order is 0
    (sacreBLEU's early stop) where NLTK would divide by zero. The subset whose hypotheses
    all have >= 4 tokens needs no correction and is compared with plain corpus_bleu;
  - ROUGE tokens: rouge-score's lower / [^a-z0-9]+ / split, run by Python's re;
  - ROUGE-1/2/L: written here from the definitions of Lin (2004): n-gram co-occurrence
    counts, and the longest common subsequence by a full dynamic-programming table;
  - --stem: NLTK's PorterStemmer in ORIGINAL_ALGORITHM mode (Snowball's "porter").

On a generated corpus of random sentences with numbers, punctuation, HTML entities,
Unicode words and spaces, and the edge cases: empty hypothesis, 1-3 token hypotheses, no
4-gram match, several references (up to 4), an empty reference. Agreement to 1e-9."""
import argparse
import json
import math
import random
import re
import subprocess
import sys
from collections import Counter
from fractions import Fraction

from nltk.stem.porter import PorterStemmer
from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu, modified_precision, closest_ref_length

# ---- sacreBLEU 13a (the reference the C code is checked against) -------------------------
RULES = [
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),
]


def tok13a(line):
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    line = " %s " % line
    for pat, rep in RULES:
        line = pat.sub(rep, line)
    return line.split()


def tok_rouge(text, stemmer=None):
    text = re.sub(r"[^a-z0-9]+", " ", text.lower())
    toks = re.split(r"\s+", text)
    if stemmer:
        toks = [stemmer.stem(t) if len(t) > 3 else t for t in toks]
    return [t for t in toks if re.match(r"^[a-z0-9]+$", t)]


# ---- ROUGE from the paper's definitions --------------------------------------------------
def ngrams(toks, n):
    return Counter(tuple(toks[i:i + n]) for i in range(len(toks) - n + 1))


def f1(overlap, n_hyp, n_ref):
    if n_hyp == 0 or n_ref == 0:
        return (0.0, 0.0, 0.0)
    p, r = overlap / n_hyp, overlap / n_ref
    return (p, r, 2 * p * r / (p + r) if p + r > 0 else 0.0)


def rouge_n(hyp, ref, n):
    h, r = ngrams(hyp, n), ngrams(ref, n)
    return f1(sum((h & r).values()), sum(h.values()), sum(r.values()))


def lcs(a, b):
    t = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            t[i][j] = t[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(t[i - 1][j], t[i][j - 1])
    return t[-1][-1]


def rouge_l(hyp, ref):
    return f1(lcs(hyp, ref), len(hyp), len(ref))


def rouge_multi(hyp, refs):
    out = []
    for fn in (lambda h, r: rouge_n(h, r, 1), lambda h, r: rouge_n(h, r, 2), rouge_l):
        best = None
        for r in refs:
            s = fn(hyp, r)
            if best is None or s[2] > best[2]:
                best = s
        out.append(best)
    return out


# ---- BLEU through NLTK -----------------------------------------------------------------
def nltk_bleu(refs_list, hyps):
    short = [sum(1 for h in hyps if len(h) < n) for n in range(1, 5)]
    zero_order = []

    def smooth(p_n, **kw):
        q = []
        for i, p in enumerate(p_n):
            den = p.denominator - short[i]  # NLTK's max(1, .) for short hypotheses taken off
            if den == 0:
                zero_order.append(i + 1)
                den = 1
            q.append(Fraction(p.numerator, den, _normalize=False))
        return SmoothingFunction().method3(q)

    score = corpus_bleu(refs_list, hyps, smoothing_function=smooth)
    return 0.0 if zero_order else score


# ---- the generated corpus ------------------------------------------------------------------
WORDS = ("the a cat dog sat on mat house ran big red old tree bird flew over and to of in is was "
         "it that he she they we you time year people way day man thing woman life child world").split()
ODD = ["3.14", "1,000", "5-3", "well-known", "(paren)", "end.", "list,", "&amp;", "&quot;hi&quot;", "&lt;b&gt;",
       "<skipped>", "naïve", "café", "Straße", "東京", "😀", "İstanbul", "\u212a", "x/y", "a+b", "$5", "100%",
       "it's", "don't", "e.g.", "U.S.A.", "...", "--", "#tag", "@user", "[x]", "{y}", "~z", "`q`", "a_b", "ÉCOLE",
       "résumé", "2,5.3", ".5", "5.", ",x", "-\n", "line\nbreak", "tab\there", "nb\u00a0sp", "ideo\u3000sp",
       "Mixed", "UPPER", "Über", "ﬁne", "x\u200by", "\u2028", "K9", "9-"]
SPACES = [" ", " ", " ", "  ", "\t", "\u00a0", "\u3000", "\u2009"]


def sentence(rng, n):
    out = []
    for i in range(n):
        out.append(rng.choice(ODD) if rng.random() < 0.25 else rng.choice(WORDS))
        out.append(rng.choice(SPACES))
    return "".join(out[:-1]) if out else ""


def mutate(rng, text):
    w = text.split(" ")
    kind = rng.random()
    if kind < 0.3:
        w = [x if rng.random() < 0.8 else rng.choice(WORDS) for x in w]
    elif kind < 0.5:
        rng.shuffle(w)  # mostly no 4-gram match
    elif kind < 0.7:
        w = w[: max(1, len(w) // 2)]  # short: brevity penalty
    else:
        w = w + [rng.choice(WORDS) for _ in range(rng.randint(0, 5))]
    return " ".join(w)


def corpus(seed, n):
    rng = random.Random(seed)
    items = [
        {"hyp": "", "refs": ["the cat sat on the mat"]},                       # empty hypothesis
        {"hyp": "cat", "refs": ["the cat sat", "a cat"]},                        # one token, two references
        {"hyp": "the cat sat", "refs": ["the cat sat on the mat"]},              # 3 tokens: no 4-gram
        {"hyp": "mat the on sat cat", "refs": ["the cat sat on the mat"]},       # no 2-gram match
        {"hyp": "the the the the the the the", "refs": ["the cat is on the mat", "there is a cat on the mat"]},
        {"hyp": "naïve café in 東京 😀", "refs": ["a naïve café in 東京", "café 😀"]},  # Unicode
        {"hyp": "same words here exactly", "refs": ["same words here exactly"]},
        {"hyp": "anything at all", "refs": [""]},                                # empty reference
        {"hyp": "3.14 and 1,000 and 5-3 &amp; x", "refs": ["3.14 or 1,000 , 5 - 3 & x"]},
    ]
    for _ in range(n):
        refs = [sentence(rng, rng.randint(3, 25)) for _ in range(rng.choice([1, 1, 1, 2, 3, 4]))]
        base = rng.choice(refs)
        r = rng.random()
        hyp = "" if r < 0.03 else sentence(rng, rng.randint(1, 3)) if r < 0.1 else mutate(rng, base)
        items.append({"hyp": hyp, "refs": refs})
    return items


def run_tool(tool, items, stem):
    inp = "".join(json.dumps(x) + "\n" for x in items)
    p = subprocess.run([tool] + (["--stem"] if stem else []), input=inp, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("tm_tool failed: %s" % p.stderr)
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    return lines[:-1], lines[-1]


def close(a, b, tol=1e-9):
    return abs(a - b) <= tol


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--n", type=int, default=400)
    args = ap.parse_args()
    items = corpus(26, args.n)
    fails = []

    def check(ok, what):
        if not ok:
            fails.append(what)
            if len(fails) <= 20:
                print("MISMATCH:", what)

    for stem in (False, True):
        stemmer = PorterStemmer(mode=PorterStemmer.ORIGINAL_ALGORITHM) if stem else None
        rows, last = run_tool(args.tool, items, stem)
        hyps, refs_list = [], []
        for i, (it, row) in enumerate(zip(items, rows)):
            h, rs = tok13a(it["hyp"]), [tok13a(r) for r in it["refs"]]
            hyps.append(h)
            refs_list.append(rs)
            if not stem:
                check(row["bleu_hyp"] == h, "13a tokens of hyp %d %r: %r vs %r" % (i, it["hyp"], row["bleu_hyp"], h))
                check(row["bleu_refs"] == rs, "13a tokens of refs %d" % i)
                # sentence statistics against NLTK's own building blocks
                for n in range(1, 5):
                    p = modified_precision(rs, h, n)
                    den = p.denominator - (1 if len(h) < n else 0)
                    check(row["stats"]["match"][n - 1] == p.numerator and row["stats"]["total"][n - 1] == den,
                          "BLEU %d-gram counts of item %d" % (n, i))
                check(row["stats"]["ref_len"] == closest_ref_length(rs, len(h)), "closest ref length of item %d" % i)
            rh, rr = tok_rouge(it["hyp"], stemmer), [tok_rouge(r, stemmer) for r in it["refs"]]
            check(row["rouge_hyp"] == rh, "ROUGE tokens (stem %s) of hyp %d: %r vs %r" % (stem, i, row["rouge_hyp"], rh))
            check(row["rouge_refs"] == rr, "ROUGE tokens (stem %s) of refs %d" % (stem, i))
            want = rouge_multi(rh, rr)
            for k, name in enumerate(("ROUGE-1", "ROUGE-2", "ROUGE-L")):
                check(all(close(a, b) for a, b in zip(row["rouge"][k], want[k])),
                      "%s of item %d (stem %s): %r vs %r" % (name, i, stem, row["rouge"][k], want[k]))
        if stem:
            continue
        want = nltk_bleu(refs_list, hyps)
        check(close(last["corpus_bleu"], want), "corpus BLEU %.12f vs NLTK %.12f" % (last["corpus_bleu"], want))
        print("corpus BLEU over %d items: %.9f (NLTK, corrected: %.9f)" % (len(items), last["corpus_bleu"], want))
        # every hypothesis >= 4 tokens: plain NLTK, nothing corrected
        sub = [i for i, h in enumerate(hyps) if len(h) >= 4]
        sub_items = [items[i] for i in sub]
        _, sub_last = run_tool(args.tool, sub_items, False)
        plain = corpus_bleu([refs_list[i] for i in sub], [hyps[i] for i in sub],
                            smoothing_function=SmoothingFunction().method3)
        check(close(sub_last["corpus_bleu"], plain), "corpus BLEU of the >= 4-token subset %.12f vs NLTK %.12f"
              % (sub_last["corpus_bleu"], plain))
        print("corpus BLEU over the %d items with >= 4 tokens: %.9f (NLTK corpus_bleu method3: %.9f)"
              % (len(sub), sub_last["corpus_bleu"], plain))
        # sentence BLEU of each item = the corpus formula on one item (NLTK on a corpus of one)
        for i in range(0, len(items), 7):
            one = nltk_bleu([refs_list[i]], [hyps[i]])
            check(close(rows[i]["sentence_bleu"], one), "sentence BLEU of item %d: %r vs %r"
                  % (i, rows[i]["sentence_bleu"], one))
        # a corpus without any 4-gram match: exp smoothing on the 4-gram precision alone
        no4 = [{"hyp": "a b c d", "refs": ["a b c x"]}, {"hyp": "b c d e", "refs": ["b c d f"]}]
        _, l4 = run_tool(args.tool, no4, False)
        w4 = corpus_bleu([[tok13a(r) for r in x["refs"]] for x in no4], [tok13a(x["hyp"]) for x in no4],
                         smoothing_function=SmoothingFunction().method3)
        check(close(l4["corpus_bleu"], w4), "no 4-gram match: %r vs %r" % (l4["corpus_bleu"], w4))
    if fails:
        print("FAIL: %d mismatches" % len(fails))
        return 1
    print("OK: %d items, tokens, BLEU statistics, corpus and sentence BLEU, ROUGE-1/2/L (with and without "
          "stemming) agree" % len(items))
    return 0


if __name__ == "__main__":
    sys.exit(main())
