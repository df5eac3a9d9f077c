#!/usr/bin/env python3
"""--dry-run's memory report against the real thing: the predicted peak of rank 0
(parameters, gradients, optimizer, activations, data, and the checkpoint image while
last.h5 is written) must be within 20% of the peak RSS the trainer reports after a short
run of the same config (padded to max-length, so activations are exactly the predicted
shape). The rest of the RSS is the process itself (libraries, MPI, BLAS buffers)."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edtest as T  # noqa: E402

args = T.parse_args()
d = T.tmpdir()
cfg = ["--preset", "small", "--batch-size", "8", "--pad-to-max", "--threads", "1", "--quiet"]
dry = T.run(args, 1, cfg + ["--dry-run"], check=0)
m = re.search(r"peak rank 0\s+([\d.]+) MB", dry.stdout)
T.expect(m, "no 'peak rank 0' line in the dry-run report:\n" + dry.stdout)
predicted = float(m.group(1))
real = T.run(args, 1, cfg + ["--max-steps", "2", "-o", os.path.join(d, "ck")], check=0, timeout=300)
m = re.search(r"peak memory: rank 0 RSS ([\d.]+) MB", real.stdout)
T.expect(m, "no peak memory line in the summary:\n" + real.stdout)
rss = float(m.group(1))
err = abs(rss - predicted) / rss
print("predicted %.1f MB, peak RSS %.1f MB, off by %.1f%%" % (predicted, rss, 100 * err))
T.expect(err <= 0.20, "dry-run estimate %.1f MB is %.0f%% off the peak RSS %.1f MB" % (predicted, 100 * err, rss))
