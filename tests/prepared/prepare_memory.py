#!/usr/bin/env python3
"""`prepare` without --vocab-file never holds the corpus (ctest prepare_memory_n2).

About 256 MB of generated text in 5 shards (4 plain .txt, 1 .txt.gz; paragraphs of words
from a 60 000-word vocabulary, English-like and Cyrillic) is prepared at -n 2, building a
word tokenizer. Before the counting pass, rank 0 read the whole training text into memory
to build the vocabulary (peak RSS above the corpus size); now every rank counts its own
byte ranges and only the counts (O(distinct pieces)) meet on rank 0. Asserted: each
rank's peak RSS, as `prepare` reports it ("peak memory by rank (MB)"), stays under 30% of
the text's size, and the counts rank 0 reports are far smaller still. A memory bound as a
fraction of the input, never a time. The files are deleted at the end."""
import gzip
import os
import random
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "trainer"))
import edtest as T  # noqa: E402

args = T.parse_args()
d = T.tmpdir()
SHARD_MB = 52  # 5 shards: ~256 MB of text


def vocabulary(r, n):
    latin, cyr = "abcdefghijklmnopqrstuvwxyz", "абвгдеёжзийклмнопрстуфхцчшщыэюя"
    return ["".join(r.choice(cyr if i % 4 == 0 else latin) for _ in range(r.randint(2, 11))) for i in range(n)]


def block(r, words, mb):
    """About mb MB of paragraphs (documents) separated by blank lines."""
    out, size = [], 0
    punct = [" ", " ", " ", " ", ", ", ". ", " - ", "! "]
    while size < mb * 1000 * 1000:
        para = "".join(r.choice(words) + r.choice(punct) for _ in range(r.randint(20, 200))).strip()
        out.append(para)
        size += len(para.encode()) + 2
    return "\n\n".join(out) + "\n\n"


try:
    r = random.Random(1234)
    words = vocabulary(r, 60000)
    src = os.path.join(d, "shards")
    os.mkdir(src)
    text_bytes = 0
    # one 4 MB block per shard, repeated: generation stays quick, every shard differs
    for k in range(5):
        b = block(r, words, 4).encode()
        reps = SHARD_MB // 4
        if k < 4:
            with open(os.path.join(src, "shard-%d.txt" % k), "wb") as f:
                for _ in range(reps):
                    f.write(b)
        else:
            with gzip.open(os.path.join(src, "shard-%d.txt.gz" % k), "wb", compresslevel=1) as f:
                for _ in range(reps):
                    f.write(b)
        text_bytes += reps * len(b)
    text_mb = text_bytes / 1e6
    out = os.path.join(d, "out.h5")
    p = T.run(args, args.ranks, ["prepare", "--data-file", out, "--train-file", src, "--tokenizer", "word",
                                 "--vocab-size", 20000, "--threads", 1], check=0, timeout=900)
    m = re.search(r"peak memory by rank \(MB\):((?: [\d.]+)+)", p.stdout)
    v = re.search(r"vocabulary: (\d+) distinct pieces counted \(([\d.]+) MB of counts on rank 0\)", p.stdout)
    T.expect(m and v, "prepare printed no memory or vocabulary line:\n" + p.stdout)
    rss = [float(x) for x in m.group(1).split()]
    pieces, counts_mb = int(v.group(1)), float(v.group(2))
    print("%.1f MB of text, %d ranks: peak RSS by rank %s MB; %d distinct pieces, %.1f MB of counts on rank 0"
          % (text_mb, args.ranks, rss, pieces, counts_mb))
    T.expect(len(rss) == args.ranks, "expected %d RSS figures: %s" % (args.ranks, rss))
    T.expect(pieces > 50000, "only %d distinct pieces counted (60 000 random words, some alike)" % pieces)
    for rank, x in enumerate(rss):
        T.expect(x < 0.30 * text_mb, "rank %d: peak RSS %.1f MB is not far below the %.1f MB of text: does a rank "
                                     "hold the corpus?" % (rank, x, text_mb))
    T.expect(counts_mb < 0.05 * text_mb, "%.1f MB of counts for %.1f MB of text" % (counts_mb, text_mb))
    print("ok: prepare built the vocabulary of %.0f MB of text with at most %.1f MB per rank" % (text_mb, max(rss)))
finally:
    shutil.rmtree(d, ignore_errors=True)
