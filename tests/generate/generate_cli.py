#!/usr/bin/env python3
"""`expert-dist generate` end to end on a trained checkpoint (window of 23 positions).
  - the key/value cache and --no-kv-cache print the same text, greedy and sampled
    (top-k, top-p, repetition penalty), for prompts shorter and longer than the window,
    over more new tokens than the window holds;
  - --stop ends the text where the stop string first appears in the generated part;
  - --prompt-file (one prompt per paragraph) x --num-samples: a block per sample, and
    the first equals a single --prompt run with the same seed;
  - text is streamed: the prompt is on stdout while the process still generates;
  - --dry-run reports the kv cache bytes (L x 2 x T x D x 4) and the trained window;
  - bad prompt files are one error line (missing, empty, invalid UTF-8 with file:line)."""
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "trainer"))
import edtest as T  # noqa: E402

args = T.parse_args()
d = T.tmpdir()
train = T.corpus(os.path.join(d, "train.txt"), 60, seed=21)
out = os.path.join(d, "ck")
T.run(args, 1, T.TINY + ["--train-file", train, "--batch-size", 4, "--epochs", 3, "-o", out], check=0, timeout=180)
ck = os.path.join(out, "last.h5")
short = "the cat sat"
long_prompt = " ".join(T.WORDS * 2)  # about 56 tokens: longer than the 23-position window


def gen(flags, check=0):
    return T.run(args, 1, ["generate", ck] + [str(f) for f in flags], check=check, timeout=120)


for prompt in (short, long_prompt):
    for mode in (["-T", 0], ["-T", 0, "--repetition-penalty", 5],
                 ["-T", 1.5, "--top-k", 0, "--top-p", 0.95, "--repetition-penalty", 1.2, "--seed", 3],
                 ["-T", 0.8, "--top-k", 20, "--seed", 5]):
        flags = ["--prompt", prompt, "-n", 60] + mode
        a, b = gen(flags).stdout, gen(flags + ["--no-kv-cache"]).stdout
        T.expect(a == b, "cached and uncached differ for %s:\n%s\n%s" % (flags, a, b))
        T.expect(a.startswith(prompt[:20]), "generate did not continue the prompt:\n" + a)

# --stop: the same text cut before the first occurrence in the generated part
for seed in range(1, 20):  # a seed whose text is long enough to hold a stop word
    sample = ["--prompt", short, "-n", 40, "-T", 1.5, "--top-k", 0, "--seed", seed]
    full = gen(sample).stdout.rstrip("\n")
    words = full[len(short):].split()
    if len(words) > 6:
        break
T.expect(len(words) > 6, "too few generated words:\n" + full)
stop = words[4]
cut = full[:len(short) + full[len(short):].index(stop)]
p = gen(sample + ["--stop", stop]).stdout
T.expect(p == cut + "\n", "--stop %r:\n%r\nexpected\n%r" % (stop, p, cut + "\n"))

# --prompt-file x --num-samples
pf = os.path.join(d, "prompts.txt")
with open(pf, "w") as f:
    f.write("the cat sat\n\n\n  \nthe dog ran\nto big red house\n")
p = gen(["--prompt-file", pf, "--num-samples", 2, "-n", 10, "--seed", 4]).stdout
heads = re.findall(r"^--- prompt (\d)/2, sample (\d)/2 ---$", p, re.M)
T.expect(heads == [("1", "1"), ("1", "2"), ("2", "1"), ("2", "2")], "sample headers:\n" + p)
blocks = re.split(r"\n?--- prompt \d/2, sample \d/2 ---\n", p)[1:]
one = gen(["--prompt", "the cat sat", "-n", 10, "--seed", 4]).stdout
T.expect(blocks[0] == one, "first sample %r != single run %r" % (blocks[0], one))
T.expect(blocks[2].startswith("the dog ran to big red house"), "second paragraph:\n" + blocks[2])

# streaming: the prompt arrives while generation is still running. (Inconclusive, and
# retried with another seed, only if the model ends the text at <EOS> very early.)
cmd = args.mpiexec.split() + ["-n", "1", args.exe, "generate", ck, "--prompt", short, "-n", "1000000",
                             "-T", "1.5", "--top-k", "0"]
env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
verdict = None
for seed in range(1, 6):
    pr = subprocess.Popen(cmd + ["--seed", str(seed)], stdout=subprocess.PIPE, env=env, start_new_session=True)
    got = pr.stdout.read(len(short))
    alive = pr.poll() is None
    os.killpg(pr.pid, signal.SIGKILL)
    pr.wait()
    pr.stdout.close()
    if alive:
        verdict = got == short.encode()
        break
T.expect(verdict is not False, "the prompt was not streamed before generation ended")
T.expect(verdict is True, "streaming inconclusive: every run ended at <EOS> at once")

# --dry-run: 1 layer x 2 x 23 positions x 32 x 4 B
p = gen(["--dry-run"]).stdout
T.expect(re.search(r"kv cache .*T 23 x D 32 x 4 B = 256 B/position", p) and "window              23 positions" in p,
         "dry run:\n" + p)

# bad prompt files
bad = os.path.join(d, "bad.txt")
with open(bad, "wb") as f:
    f.write(b"fine line\n\nbad \xff byte\n")
empty = os.path.join(d, "empty.txt")
open(empty, "w").write("\n \n")
for path, want in ((os.path.join(d, "nope.txt"), "nope.txt"), (empty, "no usable text"), (bad, "bad.txt:3: invalid UTF-8")):
    p = gen(["--prompt-file", path], check=None)
    errs = [l for l in p.stderr.splitlines() if l.startswith("expert-dist:")]
    T.expect(p.returncode == 1 and len(errs) == 1 and want in errs[0], "prompt file %s:\n%s" % (path, p.stderr))
print("PASS: generate: cache == no cache, --stop, --prompt-file x --num-samples, streaming, dry run, bad files")
