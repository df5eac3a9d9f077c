#!/usr/bin/python3
"""scripts/plot_history.py on runs with little to draw (issue 25 item 14): a panel with
nothing to show says why (on the figure and one stderr line each) instead of staying
empty, and a one-epoch run's per-epoch panel states its values instead of drawing a lone
point on fractional epoch ticks. history.json and metrics.jsonl alike.

    plot_history_cases.py --script scripts/plot_history.py"""
import argparse
import contextlib
import importlib.util
import io
import json
import os
import shutil
import sys
import tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--script", required=True)
a = ap.parse_args()
d = tempfile.mkdtemp(prefix="ed-plot-")
# in this process: one matplotlib import for all the cases, not one per case
spec = importlib.util.spec_from_file_location("plot_history", a.script)
ph = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ph)


def plot(name, content):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(content if isinstance(content, str) else json.dumps(content))
    sys.argv = ["plot_history.py", path, "-o", path + ".png"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = ph.main()
    if rc != 0 or not os.path.getsize(path + ".png"):
        sys.exit("FAIL: %s: exit %s\n%s" % (name, rc, err.getvalue()))
    return [l for l in err.getvalue().splitlines() if l.startswith("plot_history.py: ")]


def expect(notes, want, what):
    if notes != ["plot_history.py: " + w for w in want]:
        sys.exit("FAIL: %s: notes %s, want %s" % (what, notes, want))
    print("ok: %s" % what)


steps = {"step": [10, 20], "loss": [5.0, 4.5], "lr": [5e-4, 5e-4]}
expect(plot("none.json", {"config": {"val-file": ""}, "epoch": [], "train_loss": [], "val_loss": [],
                          "perplexity": [], "steps": steps}),
       ["loss per epoch: no finished epoch yet", "validation perplexity: no validation: the run has no --val-file"],
       "history.json before the first epoch, without --val-file")
expect(plot("one.json", {"config": {"val-file": "v.txt"}, "epoch": [1], "train_loss": [4.2], "val_loss": [4.0],
                         "perplexity": [54.6], "steps": steps,
                         "evals": {"step": [20], "val_loss": [4.0], "perplexity": [54.6]}}),
       ["loss per epoch: one finished epoch: train loss 4.2000, validation 4.0000 (by step: left)"],
       "history.json of a one-epoch run")
expect(plot("two.json", {"config": {"val-file": "v.txt"}, "epoch": [1, 2], "train_loss": [4.2, 3.9],
                         "val_loss": [4.0, 3.8], "perplexity": [54.6, 44.7], "steps": steps}),
       [], "history.json of two epochs: every panel drawn")
expect(plot("m.jsonl", '{"type": "log", "step": 10, "epoch": 1, "loss": 5.0, "lr": 0.0005}\n'),
       ["validation perplexity: no validation yet", "loss: no finished epoch and no validation yet"],
       "metrics.jsonl with log rows only")
expect(plot("empty.jsonl", ""),
       ["train loss: no log row yet", "learning rate: no log row yet", "validation perplexity: no validation yet",
        "loss: no finished epoch and no validation yet"], "an empty metrics.jsonl")
shutil.rmtree(d)
print("PASS")
