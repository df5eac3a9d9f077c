#!/usr/bin/env python3
"""The end-of-run memory report separates what a rank owns from mapped file pages
(docs/memory.md, "Private memory and mapped file pages"): `train` on a mapped token file
and `prepare` print, after "peak memory by rank (MB)", a "peak private memory (RssAnon)"
and a "peak mapped file pages (RssFile)" line, each with one figure per rank, and the
figures are sane: private memory is above 0 and below the whole peak (the libraries'
code alone is mapped file pages), and mapped file pages are above 0. metrics.jsonl's log
rows carry rank 0's private memory and mapped file pages at the row, within (0, the
peak]. Cheap: a 1 MB token file, 3 steps of a tiny model."""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "trainer"))
import edtest as T  # noqa: E402

args = T.parse_args(lambda p: p.add_argument("--gen", required=True))
n = args.ranks
d = T.tmpdir()


def report(out, what):
    """{kind: [figure per rank]} from the report lines of `out`."""
    got = {}
    for kind, pat in (("rss", r"peak memory"), ("anon", r"peak private memory \(RssAnon\)"),
                      ("file", r"peak mapped file pages \(RssFile\)")):
        m = re.findall(r"^%s by rank \(MB\):((?: [\d.]+)+)$" % pat, out, re.M)
        T.expect(len(m) == 1, "%s: one '%s by rank' line expected:\n%s" % (what, pat, out))
        got[kind] = [float(x) for x in m[0].split()]
        T.expect(len(got[kind]) == n, "%s: %d figures on the %s line, want %d:\n%s" % (what, len(got[kind]), kind, n, out))
    for r in range(n):
        rss, anon, file = got["rss"][r], got["anon"][r], got["file"][r]
        print("%s rank %d: peak RSS %.1f MB, private %.1f MB, mapped file pages %.1f MB" % (what, r, rss, anon, file))
        T.expect(0 < anon < rss, "%s rank %d: private %.1f MB not in (0, peak RSS %.1f MB)" % (what, r, anon, rss))
        T.expect(0 < file < rss, "%s rank %d: mapped file pages %.1f MB not in (0, peak RSS %.1f MB)" % (what, r, file, rss))
    return got


data = os.path.join(d, "tokens.h5")
subprocess.run([args.gen, data, str(1 << 19), "1024", "512", "24", "12"], check=True, capture_output=True)
flags = [a for a in T.TINY if a not in ("--quiet",)]
flags = flags[:flags.index("--tokenizer")] + flags[flags.index("--pack"):]  # the file brings its tokenizer
run = os.path.join(d, "run")
p = T.run(args, n, flags + ["--data-file", data, "--batch-size", 4, "--max-steps", 3, "--log-interval", 1, "-o", run],
          check=0)
got = report(p.stdout, "train")
with open(os.path.join(run, "metrics.jsonl")) as f:
    logs = [r for r in map(json.loads, f) if r["type"] == "log"]
T.expect(len(logs) == 3, "3 log rows expected in metrics.jsonl, got %d" % len(logs))
for r in logs:
    T.expect(0 < r["mem_private_mb"] <= got["anon"][0] and 0 < r["mem_file_mb"] <= got["file"][0],
             "step %d: mem_private_mb %r / mem_file_mb %r not within (0, the peak %.1f / %.1f]"
             % (r["step"], r["mem_private_mb"], r["mem_file_mb"], got["anon"][0], got["file"][0]))

text = T.corpus(os.path.join(d, "train.txt"), 40, seed=5)
p = T.run(args, n, ["prepare", "--data-file", os.path.join(d, "p.h5"), "--train-file", text, "--tokenizer", "word",
                    "--vocab-size", 64], check=0)
report(p.stdout, "prepare")
