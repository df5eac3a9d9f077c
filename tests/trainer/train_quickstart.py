#!/usr/bin/env python3
"""The first five minutes (issue 17 item 8): bare `expert-dist` on the bundled corpus.

Here the corpus is a slice of the bundled one (ED_DATA_DIR), so the run takes seconds,
and validation comes every 12 steps (at -n 1) instead of the preset's 200 to get several points
out of the slice. Checked: one summary line instead of a config dump, the full effective
configuration in <checkpoint-dir>/config.ini (and `-c config.ini` repeats the run bit for
bit), falling train and validation curves with several validation points in the
history, and a generated sample at the end that reads as text (the tiny preset's byte-level BPE
has no <UNK>). (The 90 s budget of the full run is a
measurement, in the README, not a test.)"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edtest as T  # noqa: E402

args = T.parse_args()
n = args.ranks
src = os.path.join(args.source_dir, "data")
if not os.path.exists(os.path.join(src, "fortunes-train.txt")):
    print("SKIPPED: no bundled corpus in %s (scripts/setup.sh builds it)" % src)
    sys.exit(T.SKIP)
d = T.tmpdir()
data = os.path.join(d, "data")
os.makedirs(data)
for name, lines in (("fortunes-train.txt", 2500), ("fortunes-val.txt", 400)):
    with open(os.path.join(src, name)) as f, open(os.path.join(data, name), "w") as g:
        g.writelines(f.readlines()[:lines])
out = os.path.join(d, "run")
env = {"ED_DATA_DIR": data}
every = 12 // n  # the slice's epoch is ~75 steps at -n 1: six validations at any rank count
p = T.run(args, n, ["-o", out, "--eval-interval", every, "--log-interval", 2, "--threads", 1], check=0, timeout=300,
          env=env)
lines = p.stdout.splitlines()
T.expect(lines and lines[0].startswith("# model tiny: ") and ("config: %s/config.ini" % out) in lines[0],
         "the run starts with one summary line naming config.ini:\n" + p.stdout[:2000])
T.expect(not any(re.match(r"^[a-z0-9-]+ = ", l) for l in lines), "no configuration dump on screen:\n" + p.stdout[:3000])
cfg = open(os.path.join(out, "config.ini")).read()
# per-document windows by default (issue 24: --pack is the user's choice, not the preset's)
for want in ("preset = tiny", "tokenizer = bpe", "vocab-size = 4000", "pack = false", "eval-interval = %d" % every,
             "max-length = 64"):
    T.expect(want in cfg, "config.ini lacks %r:\n%s" % (want, cfg))

h = T.history(os.path.join(out, "history.json"))
ev = h["evals"]
T.expect(len(ev["step"]) >= 3, "several validation points, got %s" % ev["step"])
T.expect(ev["val_loss"][-1] < ev["val_loss"][0] - 0.5, "validation loss falls: %s" % ev["val_loss"])
loss = h["steps"]["loss"]
T.expect(loss[-1] < loss[0] - 0.7, "train loss falls: %s" % loss)

i = [k for k, l in enumerate(lines) if l.startswith("sample (expert-dist generate %s/best.h5 " % out) and l.endswith("-n 30):")]
T.expect(len(i) == 1 and i[0] + 1 < len(lines) and lines[i[0] + 1].strip(),
         "the run ends with a generated sample from best.h5:\n" + "\n".join(lines[-6:]))
# the first text a newcomer reads is text: byte-level BPE has no unknown token (issue 25 item 15)
T.expect("<UNK>" not in "\n".join(lines[i[0]:]), "the sample holds <UNK>:\n" + "\n".join(lines[i[0]:]))

# config.ini holds everything: the same run again from it alone.
again = os.path.join(d, "again")
T.run(args, n, ["-c", os.path.join(out, "config.ini"), "-o", again, "--quiet"], check=0, timeout=300, env=env)
T.expect_same_run(out, h, again, T.history(os.path.join(again, "history.json")), "-c config.ini")
print("PASS: quickstart: summary line, config.ini, %d validations, sample (-n %d)" % (len(ev["step"]), n))
