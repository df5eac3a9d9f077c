#!/usr/bin/env python3
"""make_refs.py — a references file for `expert-dist eval CKPT REFS.jsonl --generate` (and
train --val-generate) from a text file of paragraphs (blank lines between them, like the
bundled corpus): each paragraph with enough words gives one line
{"prompt": its first P words, "reference": the next R words}.

    scripts/make_refs.py data/fortunes-val.txt -o refs.jsonl [--prompt-words 6]
                         [--reference-words 12] [--limit 200]

Paragraph lines starting with "--" (the corpus's attributions) are left out."""
import argparse
import json
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("text")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--prompt-words", type=int, default=6)
    ap.add_argument("--reference-words", type=int, default=12)
    ap.add_argument("--limit", type=int, default=200, help="at most this many examples (0 = all)")
    a = ap.parse_args()
    with open(a.text, encoding="utf-8") as f:
        paras = f.read().split("\n\n")
    n = 0
    with open(a.output, "w", encoding="utf-8") as out:
        for p in paras:
            words = " ".join(l for l in p.splitlines() if not l.strip().startswith("--")).split()
            if len(words) < a.prompt_words + a.reference_words:
                continue
            out.write(json.dumps({"prompt": " ".join(words[:a.prompt_words]),
                                  "reference": " ".join(words[a.prompt_words:a.prompt_words + a.reference_words])},
                                 ensure_ascii=False) + "\n")
            n += 1
            if a.limit and n >= a.limit:
                break
    if n == 0:
        sys.exit("make_refs.py: no paragraph of %s has %d words" % (a.text, a.prompt_words + a.reference_words))
    print("%s: %d examples" % (a.output, n))


if __name__ == "__main__":
    main()
