#!/usr/bin/env python3
"""Bad input fails fast, on every rank, with ONE line from rank 0:
  - bad flags / impossible values / bad config files -> exit 2 before any work;
  - bad data (missing file, invalid UTF-8, an empty file) -> exit 1;
and the good paths of the front end: --version, --help, config file + flag override
(the effective config lands in history.json)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "trainer"))
import edtest as T  # noqa: E402

args = T.parse_args()
n = args.ranks
d = T.tmpdir()
train = T.corpus(os.path.join(d, "train.txt"), 30, seed=7)
base = T.TINY + ["--train-file", train, "--max-steps", 2, "--checkpoint-dir", os.path.join(d, "ck")]


def one_error_line(p, want_status, want_text):
    lines = [l for l in p.stderr.splitlines() if l.startswith("expert-dist:")]
    T.expect(p.returncode == want_status, "expected exit %d, got %d; stderr:\n%s" % (want_status, p.returncode, p.stderr))
    T.expect(len(lines) == 1, "expected exactly one error line from rank 0, got %d:\n%s" % (len(lines), p.stderr))
    T.expect(want_text in lines[0], "error line %r should mention %r" % (lines[0], want_text))
    T.expect("Traceback" not in p.stderr and "Segmentation" not in p.stderr and "signal" not in p.stderr.lower(),
             "crash output:\n" + p.stderr)


# Each launch costs a second or two on a loaded 2-core machine, so only representative
# cases run under mpirun; test_options (cmocka) checks every validation rule directly.
usage_cases = [
    (["--bogus-flag"], "--bogus-flag"),
    (["--n-heads", "3"], "n-heads 3 does not divide d-model 32"),
    (["-b", "0", "--stride", "0"], "stride must be >= 1"),
    (["--max-length", "40"], "max-length 40 is larger than max-seq-len 32"),
    (["stray-argument"], "unexpected argument 'stray-argument'"),
    (["--debug-exit-step", "3", "--debug-exit-rank", str(n)], "not a rank of this %d-rank job" % n),
]
for flags, text in usage_cases:
    one_error_line(T.run(args, n, base + flags, timeout=60), 2, text)

bad_ini = os.path.join(d, "bad.ini")
with open(bad_ini, "w") as f:
    f.write("[optim]\nlr = 1e-3\nno-such-key = 1\n")
one_error_line(T.run(args, n, base + ["--config", bad_ini], timeout=60), 2, "bad.ini:3: unknown option 'no-such-key'")

# bad data: every rank reads the file, all agree, rank 0 speaks, all exit 1
missing = os.path.join(d, "nope.txt")
one_error_line(T.run(args, n, base + ["--train-file", missing], timeout=60), 1, "nope.txt")
bad_utf8 = os.path.join(d, "bad.txt")
with open(bad_utf8, "wb") as f:
    f.write(b"fine text here\n\nline two \xff\xfe broken\n")
one_error_line(T.run(args, n, base + ["--train-file", bad_utf8], timeout=60), 1, "bad.txt:3")
empty = os.path.join(d, "empty.txt")
open(empty, "w").close()
one_error_line(T.run(args, n, base + ["--val-file", empty], timeout=60), 1, "empty.txt")

# good paths
p = T.run(args, n, ["--version"], check=0, timeout=60)
T.expect(p.stdout.startswith("expert-dist ") and p.stdout.count("expert-dist") == 1, "version once:\n" + p.stdout)
T.expect(p.stdout.count("\ncpu: ") == 1 and "; kernels: " in p.stdout and "OpenBLAS core" in p.stdout,
         "--version names CPU, kernel path and GEMM backend:\n" + p.stdout)
p = T.run(args, n, ["train", "--help"], check=0, timeout=60)
T.expect("--grad-accum" in p.stdout and "--bucket-mb" in p.stdout and p.stdout.count("usage:") == 1,
         "help once with every option:\n" + p.stdout)
# each group once (--sample-tokens was alone under a second "loop options")
heads = [l for l in p.stdout.splitlines() if l.endswith(" options:")]
T.expect(len(heads) == len(set(heads)) and "Precedence" in p.stdout and "preempted" in p.stdout,
         "train --help: each group once, precedence and exit statuses:\n" + p.stdout)
# a command's --help lists only the options that apply to it (the table's commands column)
p = T.run(args, n, ["generate", "--help"], check=0, timeout=60)
T.expect("--temperature" in p.stdout and "--top-k" in p.stdout and "--threads" in p.stdout,
         "generate --help lists its options:\n" + p.stdout)
T.expect(not any(f in p.stdout for f in ("--zero", "--bucket-mb", "--grad-accum", "--d-model", "--vocab-size")),
         "generate --help lists training options:\n" + p.stdout)
T.expect("Precedence" not in p.stdout and "preempted" not in p.stdout,
         "generate --help repeats training's precedence and exit statuses:\n" + p.stdout)
p = T.run(args, n, ["eval", "--help"], check=0, timeout=60)
T.expect("--batch-size" in p.stdout and "--prompt-file" not in p.stdout and "--lr-schedule" not in p.stdout
         and "--max-new-tokens" in p.stdout and "--generate" in p.stdout and "--recompute" not in p.stdout,
         "eval --help:\n" + p.stdout)

# config file < flags; the config's preset applies before its keys
ini = os.path.join(d, "run.ini")
with open(ini, "w") as f:
    f.write("; a comment\n[model]\npreset = small\nd_model = 32\nn-heads = 2\n[optim]\nlr = 2e-3\nbatch-size = 3\n")
out = os.path.join(d, "cfg")
flags = [a for a in base if a not in ("--d-model", "--n-heads")]
T.run(args, n, ["-c", ini, "--train-file", train, "--max-steps", 2, "--batch-size", 2, "--n-layers", 1,
                "--d-ff", 64, "--max-seq-len", 32, "--max-length", 24, "--vocab-size", 64, "--threads", 1,
                "--quiet", "-o", out], check=0, timeout=60)
cfg = T.history(os.path.join(out, "history.json"))["config"]
T.expect(cfg["preset"] == "small" and cfg["d-model"] == 32 and cfg["n-heads"] == 2, "config keys: %s" % cfg)
T.expect(abs(cfg["lr"] - 2e-3) < 1e-12, "lr from the config file: %s" % cfg["lr"])
T.expect(cfg["batch-size"] == 2, "the flag must override the config file: batch-size %s" % cfg["batch-size"])
T.expect(cfg["n-layers"] == 1 and cfg["stride"] == 128, "preset small then flags: %s" % cfg)

# Booleans as the docs write them (issue 17 item 10): `--pack 1`, `--pad-to-max 1`,
# `--lowercase false`, as well as the bare flag; the effective config shows the result.
out = os.path.join(d, "bools")
T.run(args, n, base + ["--pack", "1", "--pad-to-max", "true", "--lowercase", "0", "-o", out], check=0, timeout=60)
cfg = T.history(os.path.join(out, "history.json"))["config"]
T.expect(cfg["pack"] is True and cfg["pad-to-max"] is True and cfg["lowercase"] is False,
         "--pack 1 --pad-to-max true --lowercase 0: %s" % {k: cfg[k] for k in ("pack", "pad-to-max", "lowercase")})
one_error_line(T.run(args, n, base + ["--pack", "maybe"], timeout=60), 2, "unexpected argument 'maybe'")

# A text file without a known extension (a licence file): refused with a hint, read
# with --format; the same for eval.
licence = os.path.join(d, "Apache-2.0")
with open(train) as src, open(licence, "w") as dst:
    dst.write(src.read())
one_error_line(T.run(args, n, base + ["--train-file", licence], timeout=60), 1, "--format txt")
out = os.path.join(d, "fmt")
T.run(args, n, base + ["--train-file", licence, "--format", "txt", "-o", out], check=0, timeout=60)
one_error_line(T.run(args, n, ["eval", os.path.join(out, "last.h5"), licence, "--threads", 1], timeout=60), 1,
               "--format txt")
p = T.run(args, n, ["eval", os.path.join(out, "last.h5"), licence, "--format", "txt", "--threads", 1], check=0,
          timeout=60)
T.expect("loss" in p.stdout, "eval --format txt reads the licence file:\n" + p.stdout)
one_error_line(T.run(args, n, base + ["--format", "csv"], timeout=60), 2, "format must be auto, txt, jsonl or instruct")

print("PASS: %d usage errors, 3 data errors, version/help, config precedence (-n %d)" % (len(usage_cases) + 1, n))
