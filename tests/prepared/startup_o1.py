#!/usr/bin/env python3
"""Start-up from a prepared file is O(1) in documents when the file stores the window index
for the run's shape (ctest label "prepared"): `train --dry-run` on files of 10^3 and 10^6
documents (written by gen_prepared with the index for --max-length 16 --stride 16) reports
the same bytes held for the corpus (0: tokens, document index and window index are all
mapped) and no info line. With another stride the index is built in one pass, which the
same report shows growing with the documents (8 B per 64 documents) and one info line
names. No timing is asserted."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "trainer"))
import edtest as T  # noqa: E402

args = T.parse_args(lambda p: p.add_argument("--gen", required=True))
n = args.ranks
d = T.tmpdir()
DOC = 16
MODEL = [x for x in T.TINY if x != "--quiet"] + ["--batch-size", 2]
MODEL[MODEL.index("--max-length") + 1] = "16"


def gen(name, docs):
    path = os.path.join(d, name)
    subprocess.run([args.gen, path, str(docs * DOC), str(DOC), "64", "16", "16"], check=True, capture_output=True)
    return path


def dry(path, stride):
    p = T.run(args, n, MODEL + ["--stride", stride, "--data-file", path, "--dry-run"], check=0, timeout=120)
    m = re.search(r"data\s+[\d.]+ MB \(in memory; (\d+) B for the corpus", p.stdout)
    T.expect(m, "dry-run report lacks the corpus bytes:\n" + p.stdout)
    info = [l for l in p.stdout.splitlines() if l.startswith("info:")]
    return int(m.group(1)), info


try:
    files = {k: gen("f%d.h5" % k, k) for k in (1000, 1000000)}
    res = {(k, s): dry(files[k], s) for k in files for s in (16, 8)}
    for k in files:
        T.expect(res[(k, 16)] == (0, []), "%d documents, stored index: %s bytes held, info %s" % ((k,) + res[(k, 16)]))
        held, info = res[(k, 8)]
        T.expect(held == ((k + 63) // 64 + 1) * 8, "%d documents, one-pass index: %d bytes held" % (k, held))
        T.expect(len(info) == 1 and "one pass over %d documents" % k in info[0] and
                 "stores it for --max-length 16 --stride 16" in info[0] and "--max-length 16 --stride 8" in info[0],
                 "expected one info line naming the stored and the wanted shape:\n%s" % info)
    print("ok: start-up holds 0 bytes per document with the stored index (10^3 and 10^6 documents), "
          "8 B per 64 without, on %d rank(s)" % n)
finally:
    shutil.rmtree(d, ignore_errors=True)
