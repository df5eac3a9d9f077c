#!/usr/bin/env python3
"""--dry-run's memory report against the real thing: the predicted peak of rank 0
(parameters, gradients, optimizer, activations, data, and the checkpoint image while
last.h5 is written) must be within 20% of the peak RSS the trainer reports after a short
run of the same config (padded to max-length, so activations are exactly the predicted
shape). The rest of the RSS is the process itself (libraries, MPI, BLAS buffers).
Then the same with --recompute, and the RSS it saves must match the activation bytes it
is predicted to save (within 25%). The private part of the peak (RssAnon, sampled at step
ends and while the checkpoint image exists) is what the prediction counts: it must lie
below the peak RSS and within 20% of the prediction too."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edtest as T  # noqa: E402

args = T.parse_args()
d = T.tmpdir()
# the bundled training text without its val split: at 1 thread the final validation's
# forward over 780 windows took 4/5 of the test and adds nothing to the peak
corpus = os.path.join(args.source_dir, "data", "fortunes-train.txt")
T.expect(os.path.exists(corpus), "bundled corpus missing: %s (run scripts/setup.sh)" % corpus)
base = ["--preset", "small", "--batch-size", "32", "--pad-to-max", "--threads", "1", "--quiet",
        "--train-file", corpus, "--val-file", ""]


def measure(cfg, name):
    """(predicted peak of rank 0, predicted activations, measured peak RSS) in MB."""
    dry = T.run(args, 1, cfg + ["--dry-run"], check=0)
    m = re.search(r"peak rank 0\s+([\d.]+) MB", dry.stdout)
    a = re.search(r"activations\s+([\d.]+) MB", dry.stdout)
    T.expect(m and a, "no 'peak rank 0' / 'activations' line in the dry-run report:\n" + dry.stdout)
    predicted, act = float(m.group(1)), float(a.group(1))
    real = T.run(args, 1, cfg + ["--max-steps", "2", "-o", os.path.join(d, name)], check=0, timeout=300)
    m = re.search(r"peak memory by rank \(MB\): ([\d.]+)", real.stdout)
    T.expect(m, "no peak memory line in the summary:\n" + real.stdout)
    rss = float(m.group(1))
    p = re.search(r"^peak private memory \(RssAnon\) by rank \(MB\): ([\d.]+)$", real.stdout, re.M)
    T.expect(p, "no peak private memory line in the summary:\n" + real.stdout)
    anon = float(p.group(1))
    err = abs(rss - predicted) / rss
    err_anon = abs(anon - predicted) / anon
    print("%s: predicted %.1f MB (activations %.1f), peak RSS %.1f MB, off by %.1f%%; private %.1f MB, off by %.1f%%"
          % (name, predicted, act, rss, 100 * err, anon, 100 * err_anon))
    T.expect(anon < rss, "%s: private peak %.1f MB not below the peak RSS %.1f MB" % (name, anon, rss))
    T.expect(err_anon <= 0.20, "%s: dry-run estimate %.1f MB is %.0f%% off the private peak %.1f MB"
             % (name, predicted, 100 * err_anon, anon))
    T.expect(err <= 0.20, "%s: dry-run estimate %.1f MB is %.0f%% off the peak RSS %.1f MB"
             % (name, predicted, 100 * err, rss))
    return predicted, act, rss


_, act0, rss0 = measure(base, "plain")
# --recompute: the activation saving the dry run predicts must show up in the RSS.
_, act1, rss1 = measure(base + ["--recompute"], "recompute")
want, got = act0 - act1, rss0 - rss1
print("recompute saves %.1f MB of peak RSS; predicted %.1f MB" % (got, want))
T.expect(want > 0 and abs(got - want) <= 0.25 * want,
         "--recompute saved %.1f MB of peak RSS, predicted %.1f MB" % (got, want))
