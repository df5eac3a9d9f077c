#!/usr/bin/env python3
"""The measurement cache as train and calibrate use it ($XDG_CACHE_HOME/expert-dist/gemm.tsv),
each case in its own XDG_CACHE_HOME. Which backend wins is never checked (machines are
noisy): only where the figures came from.
  - a first run measures `--gemm auto` and the MFU reference and stores both; a second run
    reads them (the file is unchanged) and says so in the banner's `# gemm:` line;
  - --gemm-cache off measures and stores nothing;
  - a damaged line: one warning naming file:line, measured again, exit 0, the file repaired;
  - a record of another machine (key mismatch) is not used: measured again;
  - `expert-dist calibrate` stores the reference that train then names as calibrated;
  - an MFU above 100% of the reference shows as `mfu >100%?` with one warning line;
  - eval and generate with --gemm auto measure at their own products (forward; decode),
    print the figures in a `# gemm:` line (eval: stdout; generate: stderr, its stdout is
    the text), store them, and read them on a second run; a damaged record: one warning,
    measured again; --gemm-cache off stores nothing."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edtest as T  # noqa: E402

args = T.parse_args()
n = args.ranks
d = T.tmpdir()
train = T.corpus(os.path.join(d, "train.txt"), 30, seed=3)
FLAGS = [f for f in T.TINY if f != "--quiet"] + ["--train-file", train, "--max-steps", 2, "--batch-size", 2,
                                                 "--save-steps", 0, "--log-interval", 1]


def train_run(xdg, tag, extra=(), check=0):
    env = {"XDG_CACHE_HOME": xdg, "ED_REF_GFLOPS": ""}
    return T.run(args, n, FLAGS + ["-o", os.path.join(d, tag)] + list(extra), check=check, env=env, timeout=120)


def gemm_line(p):
    lines = [l for l in p.stdout.splitlines() if l.startswith("# gemm:")]
    T.expect(len(lines) == 1, "one # gemm: line expected:\n" + p.stdout)
    return lines[0]


def warnings(p, mfu=False):
    """The warning lines; not an oversubscribed node's (-n 4 on 2 cores), and not the MFU
    one unless asked: on a loaded machine a reference measured at a busy start is low."""
    return [l for l in p.stderr.splitlines() if l.startswith("warning:") and "exceed its" not in l
            and (mfu or "above 100%" not in l)]


def read(path):
    with open(path) as f:
        return f.read()


# written, then reused
xdg = os.path.join(d, "x1")
cache = os.path.join(xdg, "expert-dist", "gemm.tsv")
p = train_run(xdg, "a")
g = gemm_line(p)
T.expect(re.search(r"auto picked (openblas|onednn): openblas \d+", g) and
         re.search(r"on the train products at \d+ rows \(measured now in \d+ ms, stored in " + re.escape(cache), g),
         "first run: measured and stored expected:\n" + g)
T.expect("MFU reference" in g and "(measured now, stored in " + cache in g, "first run's reference:\n" + g)
text = read(cache)
kinds = [l.split("\t")[0] for l in text.splitlines()[1:]]
T.expect(sorted(kinds) == ["gemm", "peak"], "one gemm and one peak record expected:\n" + text)
T.expect(warnings(p) == [], "no warnings expected:\n" + p.stderr)
p = train_run(xdg, "b")
g = gemm_line(p)
T.expect("(cached " in g and cache in g and "measured now" not in g, "second run: cached expected:\n" + g)
T.expect("(measured at a start " in g, "second run's reference from the cache:\n" + g)
T.expect(read(cache) == text, "a run that measured nothing rewrote the cache")

# --gemm-cache off: measured, nothing stored
xoff = os.path.join(d, "xoff")
p = train_run(xoff, "c", ["--gemm-cache", "off"])
g = gemm_line(p)
T.expect(re.search(r"measured now in \d+ ms; --gemm-cache off", g), "--gemm-cache off:\n" + g)
T.expect(not os.path.exists(os.path.join(xoff, "expert-dist")), "--gemm-cache off wrote a cache")

# a damaged line: one warning with file:line, measured again, exit 0, the file repaired
lines = text.splitlines()
gi = next(i for i, l in enumerate(lines) if l.startswith("gemm\t"))
lines[gi] = lines[gi].rsplit("\t", 1)[0] + "\topenblas=12 onednn=x"
with open(cache, "w") as f:
    f.write("\n".join(lines) + "\n")
p = train_run(xdg, "d")
w = warnings(p)
T.expect(len(w) == 1 and "%s:%d:" % (cache, gi + 1) in w[0], "one warning naming file:line expected:\n" + p.stderr)
T.expect("measured now" in gemm_line(p).split("MFU")[0], "damaged record not measured again:\n" + gemm_line(p))
T.expect("onednn=x" not in read(cache), "the damaged line stayed")
p = train_run(xdg, "e")
T.expect(warnings(p) == [] and "(cached " in gemm_line(p), "repaired cache not used:\n" + p.stderr + gemm_line(p))
# junk beside intact records: still one warning (both lookups read the file), both records used
good = read(cache)
with open(cache, "a") as f:
    f.write("\x00junk\n")
p = train_run(xdg, "e2")
w = warnings(p)
T.expect(len(w) == 1 and "%s:%d:" % (cache, len(good.splitlines()) + 1) in w[0], "one warning expected:\n" + p.stderr)
T.expect("(cached " in gemm_line(p) and "(measured at a start" in gemm_line(p), "records not used:\n" + gemm_line(p))
with open(cache, "w") as f:
    f.write(good)

# a record of another machine (here: another OpenBLAS) is not used
other = read(cache).replace("OpenBLAS ", "OpenBLAS 0.0.0-other ")
with open(cache, "w") as f:
    f.write(other)
p = train_run(xdg, "f")
g = gemm_line(p)
T.expect(warnings(p) == [] and "ms, stored in" in g.split("MFU")[0], "key mismatch not measured:\n" + g)
T.expect(sum(l.startswith("gemm\t") for l in read(cache).splitlines()) == 2, "old and new record expected:\n" + read(cache))

# calibrate stores the reference train names as calibrated (one backend x precision: quick)
xcal = os.path.join(d, "xcal")
c = T.run(args, 1, ["calibrate", "--gemm", "openblas", "--precision", "fp32", "-t", 1], check=0,
          env={"XDG_CACHE_HOME": xcal})
T.expect(re.search(r"^openblas\s+fp32\s+\d+\.\d", c.stdout, re.M), "calibrate's table:\n" + c.stdout)
T.expect("calibrated=1" in read(os.path.join(xcal, "expert-dist", "gemm.tsv")), "calibrate stored nothing")
p = train_run(xcal, "g", ["--gemm", "openblas"])
g = gemm_line(p)
T.expect(re.search(r"MFU reference [0-9.]+ GFLOPS/rank \(calibrated \d{4}-\d\d-\d\d", g), "calibrated:\n" + g)
T.expect("auto picked" not in g, "--gemm openblas measured the backends:\n" + g)

# an impossible MFU: the reference is suspect, said once
p = train_run(xcal, "h", ["--ref-gflops", "0.000001", "--max-steps", 3])
g = gemm_line(p)
T.expect("(given by --ref-gflops)" in g, "given reference:\n" + g)
rows = [l for l in p.stdout.splitlines() if l.startswith("epoch ")]
T.expect(rows and all("mfu >100%?" in l for l in rows), "mfu >100%? expected on every row:\n" + p.stdout)
T.expect("mfu >100%? of" in p.stdout, "summary without the marker:\n" + p.stdout)
w = [l for l in warnings(p, mfu=True) if "above 100%" in l]
T.expect(len(w) == 1 and "expert-dist calibrate" in w[0], "one warning expected:\n" + p.stderr)
# eval and generate: their own workloads, measured once, then read from the cache
xcmd = os.path.join(d, "xcmd")
ccache = os.path.join(xcmd, "expert-dist", "gemm.tsv")
ckpt = os.path.join(d, "a", "last.h5")
val = T.corpus(os.path.join(d, "val.txt"), 6, seed=4)


def cmd_run(flags, xdg=xcmd):
    return T.run(args, n, flags, check=0, env={"XDG_CACHE_HOME": xdg}, timeout=120)


def cmd_gemm_line(text, what):
    lines = [l for l in text.splitlines() if l.startswith("# gemm:")]
    T.expect(len(lines) == 1, "one # gemm: line expected from %s:\n%s" % (what, text))
    return lines[0]


for round_ in ("measured now in", "(cached "):
    e = cmd_run(["eval", ckpt, val])
    g = cmd_gemm_line(e.stdout, "eval")
    T.expect(re.search(r"auto picked (openblas|onednn): openblas \d+", g) and "on the forward products" in g and
             round_ in g and ccache in g, "eval's # gemm: line (%s expected):\n%s" % (round_, g))
    T.expect(warnings(e) == [], "eval: no warnings expected:\n" + e.stderr)
    p = cmd_run(["generate", ckpt, "alpha", "--max-new-tokens", 3])
    g = cmd_gemm_line(p.stderr, "generate")
    T.expect("on the decode products" in g and round_ in g and ccache in g,
             "generate's # gemm: line (%s expected):\n%s" % (round_, g))
    T.expect("# gemm" not in p.stdout, "generate printed the # gemm: line into its text:\n" + p.stdout)
    if round_ == "measured now in":
        text = read(ccache)
T.expect(read(ccache) == text, "a run that measured nothing rewrote the cache")
works = sorted(re.findall(r"work=(\w+)", text))
T.expect(works == ["decode", "forward"], "one forward and one decode record expected:\n" + text)
# eval on a damaged forward record: one warning naming file:line, measured again, repaired
lines = text.splitlines()
fi = next(i for i, l in enumerate(lines) if "work=forward" in l)
lines[fi] = lines[fi].rsplit("\t", 1)[0] + "\topenblas=1 onednn=?"
with open(ccache, "w") as f:
    f.write("\n".join(lines) + "\n")
e = cmd_run(["eval", ckpt, val])
w = warnings(e)
T.expect(len(w) == 1 and "%s:%d:" % (ccache, fi + 1) in w[0], "eval: one warning naming file:line expected:\n" + e.stderr)
T.expect("measured now in" in cmd_gemm_line(e.stdout, "eval") and "onednn=?" not in read(ccache),
         "eval: the damaged record was not measured again and replaced:\n" + e.stdout + read(ccache))
# --gemm-cache off: measured, nothing stored
xo = os.path.join(d, "xcmd-off")
e = cmd_run(["eval", ckpt, val, "--gemm-cache", "off"], xdg=xo)
T.expect("measured now in" in cmd_gemm_line(e.stdout, "eval") and "--gemm-cache off" in e.stdout,
         "eval --gemm-cache off:\n" + e.stdout)
T.expect(not os.path.exists(os.path.join(xo, "expert-dist")), "eval --gemm-cache off wrote a cache")
print("PASS: gemm cache written, reused, off, damaged, mismatched; calibrate; mfu >100%%; eval, generate (-n %d)" % n)
