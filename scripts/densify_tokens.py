#!/usr/bin/env python3
"""densify_tokens.py FILE.h5 [SEED] — fills a prepared token file's /train/tokens with
random ids in place (h5py), keeping each document's <BOS> and <EOS> where the file has
them. tests/prepared/gen_prepared writes the documented layout (docs/formats.md) with a
sparse token array (zeros beyond each document's first 64 ids); after this pass every
token is a real, distinct-looking id on disk, so that reading a window costs real disk
reads (scripts/bench_data.sh, "read amplification"; docs/memory.md)."""
import sys

import h5py
import numpy as np

path = sys.argv[1]
rng = np.random.default_rng(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
with h5py.File(path, "r+") as f:
    vocab = int(f.attrs["vocab_size"])
    tok, off = f["train/tokens"], f["train/doc_offsets"][()]
    n_docs = len(off) - 1
    step = 1 << 14  # documents per write
    for d0 in range(0, n_docs, step):
        d1 = min(n_docs, d0 + step)
        lo, hi = int(off[d0]), int(off[d1])
        old = tok[lo:hi]
        new = rng.integers(4, vocab, hi - lo, dtype=np.uint16)
        starts, ends = off[d0:d1] - lo, off[d0 + 1:d1 + 1] - lo - 1
        new[starts], new[ends] = old[starts], old[ends]
        tok[lo:hi] = new
