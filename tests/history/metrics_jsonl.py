#!/usr/bin/env python3
"""metrics.jsonl, the live log of a run, and scripts/plot_history.py --follow.
  - every log row (steps 1..10 at --log-interval 1) and every validation is one JSON line;
  - a resume from step-8.h5 keeps the rows up to step 8 byte for byte, drops the rows the
    first run logged after that checkpoint, and appends the resumed steps: each step's
    log row exactly once, in order, validations once each;
  - a fresh run into the same directory starts the file anew;
  - plot_history.py --follow redraws the PNG as rows are appended (it reports the row
    count of each redraw; the test waits for the counts, never for a time)."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "trainer"))
import edtest as T  # noqa: E402

args = T.parse_args()
n = args.ranks
d = T.tmpdir()
train = T.corpus(os.path.join(d, "train.txt"), 300, seed=31)
val = T.corpus(os.path.join(d, "val.txt"), 20, seed=32)
out = os.path.join(d, "run")
base = T.TINY + ["--train-file", train, "--val-file", val, "-b", 2, "--log-interval", 1, "--eval-interval", 5,
                 "--save-steps", 4, "--keep-last", 0, "-o", out]
path = os.path.join(out, "metrics.jsonl")


def rows():
    with open(path) as f:
        lines = f.read().splitlines()
    return lines, [json.loads(x) for x in lines]


T.run(args, n, base + ["--max-steps", 10], check=0, timeout=180)
lines1, r1 = rows()
logs = [r["step"] for r in r1 if r["type"] == "log"]
vals = [r["step"] for r in r1 if r["type"] == "val"]
T.expect(logs == list(range(1, 11)), "log rows of the first run: %s" % logs)
T.expect(vals == [5, 10], "validation rows of the first run: %s" % vals)
T.expect(all(isinstance(r["loss"], float) and r["epoch"] == 1 for r in r1 if r["type"] == "log"), "log row fields")
T.expect(all(set(r) >= {"val_loss", "perplexity", "val_accuracy", "best"} for r in r1 if r["type"] == "val"),
         "val row fields")

# resume from step 8: rows 9, 10 (and the validation at 10) were logged after it
T.run(args, n, base + ["--max-steps", 12, "--resume", os.path.join(out, "step-8.h5")], check=0, timeout=180)
lines2, r2 = rows()
keep = [x for x, r in zip(lines1, r1) if r["step"] <= 8]
T.expect(lines2[:len(keep)] == keep, "the rows up to the checkpoint changed on resume")
logs = [r["step"] for r in r2 if r["type"] == "log"]
vals = [r["step"] for r in r2 if r["type"] == "val"]
T.expect(logs == list(range(1, 13)), "log rows after the resume (duplicates?): %s" % logs)
# 12: a run that ends mid-epoch validates at its last step (issue 17 item 4)
T.expect(vals == [5, 10, 12], "validation rows after the resume: %s" % vals)

# a fresh run in the same directory starts over
T.run(args, n, base + ["--max-steps", 3], check=0, timeout=180)
_, r3 = rows()
T.expect([r["step"] for r in r3 if r["type"] == "log"] == [1, 2, 3], "a fresh run did not start metrics.jsonl anew")

# plot_history.py --follow
if args.source_dir:
    live = os.path.join(d, "live", "metrics.jsonl")
    os.makedirs(os.path.dirname(live))
    png = os.path.join(d, "live.png")
    open(live, "w").close()
    f = subprocess.Popen([sys.executable, os.path.join(args.source_dir, "scripts", "plot_history.py"), live, "-o", png,
                          "--follow", "--interval", "0.2"], stdout=subprocess.PIPE, text=True)
    try:
        with open(live, "a") as w:
            for upto in (3, 7):
                for x in lines2[upto - 3 if upto == 3 else 3:upto]:
                    w.write(x + "\n")
                w.flush()
                want = "%s: %d rows" % (png, upto)
                got = f.stdout.readline().strip()
                T.expect(got == want, "--follow printed %r, expected %r" % (got, want))
                with open(png, "rb") as p:
                    T.expect(p.read(8) == b"\x89PNG\r\n\x1a\n", "--follow did not write a PNG")
    finally:
        f.terminate()
        f.wait(timeout=30)
print("PASS: metrics.jsonl rows, resume without duplicates, fresh start, --follow (-n %d)" % n)
