#!/usr/bin/env python3
"""`expert-dist eval CKPT REFS.jsonl --generate` end to end on a tiny trained checkpoint:
  - -n 1 and -n 2 print the same scores and write byte-identical --predictions files,
    greedy and with --decode sample (each example has its own random stream);
  - the printed corpus BLEU and ROUGE are recomputed from the predictions file by the
    independent Python of tests/metrics/metrics_parity.py (sacreBLEU's 13a regexes +
    NLTK's corpus_bleu; ROUGE from Lin's definitions) and agree;
  - the model learned its sentences: greedy BLEU is far above zero;
  - --max-new-tokens bounds every continuation; --predictions leaves no .tmp behind, and
    one that cannot be written is one error line before any generation;
  - scripts/make_refs.py makes a references file eval accepts."""
import json
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "trainer"))
sys.path.insert(0, os.path.join(HERE, "..", "metrics"))
import edtest as T  # noqa: E402
import metrics_parity as M  # noqa: E402

args = T.parse_args()
d = T.tmpdir()
SENTS = ["the cat sat on a mat and the dog ran to the big red house",
         "a small town with green tree near old river under blue sky",
         "over tall hill by quiet lake the dog ran to small town",
         "the big red house in small town with green tree near the lake"]
r = random.Random(5)
train = os.path.join(d, "train.txt")
with open(train, "w") as f:
    f.write("\n\n".join(SENTS[r.randrange(len(SENTS))] + "." for _ in range(160)) + "\n")
out = os.path.join(d, "ck")
T.run(args, 1, T.TINY + ["--train-file", train, "--batch-size", 8, "--epochs", 3, "--lr", "3e-3", "-o", out],
      check=0, timeout=180)
ck = os.path.join(out, "last.h5")

refs = os.path.join(d, "refs.jsonl")
with open(refs, "w") as f:
    for s in SENTS:
        w = s.split()
        f.write(json.dumps({"prompt": " ".join(w[:3]), "reference": " ".join(w[3:])}) + "\n")
        f.write(json.dumps({"prompt": " ".join(w[:5]), "references": [" ".join(w[5:]), "something else entirely"]}) + "\n")
    f.write("\n")  # blank lines are allowed
    f.write(json.dumps({"prompt": "the dog", "reference": "naïve café in 東京, 3.14 &amp; more", "id": 7}) + "\n")
N_EX = 2 * len(SENTS) + 1

SCORE = re.compile(r"^  (BLEU|ROUGE).*$", re.M)


def evalgen(ranks, flags, preds):
    p = T.run(args, ranks, ["eval", ck, refs, "--generate", "-n", 12, "--predictions", preds] + flags,
              check=0, timeout=180)
    lines = [m.group(0) for m in SCORE.finditer(p.stdout)]
    T.expect(len(lines) == 2, "expected a BLEU and a ROUGE line:\n" + p.stdout)
    T.expect(not os.path.exists(preds + ".tmp"), "predictions .tmp left behind")
    with open(preds, "rb") as f:
        return lines, f.read(), p.stdout


ranks = max(2, args.ranks)
for mode in ([], ["--decode", "sample", "--temperature", 1.2, "--top-k", 0, "--seed", 9]):
    a_lines, a_pred, a_out = evalgen(1, mode, os.path.join(d, "p1.jsonl"))
    b_lines, b_pred, b_out = evalgen(ranks, mode, os.path.join(d, "p2.jsonl"))
    T.expect(a_lines == b_lines, "scores differ between -n 1 and -n %d (%s):\n%s\n%s" % (ranks, mode, a_out, b_out))
    T.expect(a_pred == b_pred, "predictions differ between -n 1 and -n %d (%s)" % (ranks, mode))
    rows = [json.loads(x) for x in a_pred.decode().splitlines()]
    T.expect(len(rows) == N_EX, "expected %d prediction rows, got %d" % (N_EX, len(rows)))
    T.expect(all(0 <= x["new_tokens"] <= 12 for x in rows), "a continuation exceeds --max-new-tokens 12")
    T.expect(rows[-1]["references"] == ["naïve café in 東京, 3.14 &amp; more"] and rows[1]["line"] == 2,
             "predictions do not carry the references / file lines: %r" % rows[-1])
    # recompute every printed number from the predictions with the independent Python
    hyps = [M.tok13a(x["generated"]) for x in rows]
    refl = [[M.tok13a(t) for t in x["references"]] for x in rows]
    bleu = 100 * M.nltk_bleu(refl, hyps)
    rouge = [0.0, 0.0, 0.0]
    for x in rows:
        s = M.rouge_multi(M.tok_rouge(x["generated"]), [M.tok_rouge(t) for t in x["references"]])
        for k in range(3):
            rouge[k] += 100 * s[k][2] / len(rows)
            T.expect(abs(x[("rouge1", "rouge2", "rougeL")[k]]["f"] - 100 * s[k][2]) < 1e-9,
                     "per-example ROUGE differs: %r vs %r" % (x, s))
    printed = [float(v) for v in re.findall(r"(?:BLEU|ROUGE-[12L]) ([0-9.]+)", "\n".join(a_lines))]
    want = [bleu] + rouge
    T.expect(all(abs(p - w) <= 0.005 + 1e-9 for p, w in zip(printed, want)),
             "printed %r, recomputed %r (%s)" % (printed, want, mode))
    if not mode:
        T.expect(bleu > 20, "greedy BLEU %.2f: the model did not learn its four sentences?\n%s" % (bleu, a_out))
    print("%-6s -n 1 == -n %d: BLEU %.2f ROUGE-1/2/L %.2f/%.2f/%.2f" % ("sample" if mode else "greedy", ranks,
                                                                      bleu, *rouge))
# scripts/make_refs.py: a references file from a paragraphs file, which eval accepts
made = os.path.join(d, "made.jsonl")
src = args.source_dir or os.path.join(HERE, "..", "..")
T.expect(os.system("%s %s %s -o %s --prompt-words 3 --reference-words 5 --limit 7 > /dev/null" % (
    sys.executable, os.path.join(src, "scripts", "make_refs.py"), train, made)) == 0, "make_refs.py failed")
with open(made) as f:
    got = [json.loads(x) for x in f]
T.expect(len(got) == 7 and all(len(x["prompt"].split()) == 3 and len(x["reference"].split()) == 5 for x in got),
         "make_refs.py wrote %r" % got[:2])
p = T.run(args, 1, ["eval", ck, made, "--generate", "-n", 4], check=0, timeout=120)
T.expect("7 examples" in p.stdout, "eval --generate on make_refs.py's file:\n" + p.stdout)

# a predictions path that cannot be written fails before the generation, on every rank
bad = os.path.join(d, "no-such-dir", "p.jsonl")
p = T.run(args, ranks, ["eval", ck, refs, "--generate", "--predictions", bad], check=1, timeout=120)
lines = [l for l in p.stderr.splitlines() if l.startswith("expert-dist:")]
T.expect(len(lines) == 1 and bad in lines[0] and "BLEU" not in p.stdout, "unwritable --predictions:\n" + p.stderr)
print("OK")
