#!/usr/bin/env bash
# make_corpus.sh — builds the bundled default corpus from Debian's fortune files.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/make_corpus.sh [--out DIR] [--src DIR] [--quiet]

Builds the default training corpus of expert-dist from the fortune cookies of the
Debian packages `fortunes` (English) and `fortunes-ru` (Russian):

  DIR/fortunes-train.txt     DIR/fortunes-val.txt       English, one fortune per paragraph
  DIR/fortunes-train.jsonl   DIR/fortunes-val.jsonl     the same, {"text": ..., "source": ...}
  DIR/fortunes-ru-train.txt  DIR/fortunes-ru-val.txt    Russian (from SRC/ru/)
  DIR/fortunes-ru-train.jsonl DIR/fortunes-ru-val.jsonl

Each fortune (the text between lines holding only "%") becomes one document: trailing
spaces and blank lines inside it are removed (a .txt paragraph cannot contain a blank
line), terminal overstrike (x BACKSPACE y) is resolved and other control characters
are dropped. Identical fortunes are kept once. Split: a fortune goes to validation when
its SHA-1 is 0 modulo 20 (about 5%), so the split does not depend on file order.
Offensive fortunes (SRC/off/) are never used. Files that are not UTF-8 are read as
latin-1 (English) or KOI8-R (Russian).

Deterministic and idempotent: outputs are rewritten only when their content changes.
Needs only POSIX tools and /usr/bin/python3.

Options:
  --out DIR   output directory (default: data/ in the source tree)
  --src DIR   fortune directory (default: /usr/share/games/fortunes)
  --quiet     no summary
  -h, --help  this text
USAGE
}

here="$(cd "$(dirname "$0")/.." && pwd)"
out="$here/data"
src=/usr/share/games/fortunes
quiet=0
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="${2:?--out needs a directory}"; shift 2 ;;
        --out=*) out="${1#--out=}"; shift ;;
        --src) src="${2:?--src needs a directory}"; shift 2 ;;
        --src=*) src="${1#--src=}"; shift ;;
        --quiet) quiet=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "make_corpus.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

if [ ! -d "$src" ]; then
    echo "make_corpus.sh: $src not found; install the fortunes: apt-get install fortunes fortunes-ru" >&2
    exit 1
fi
mkdir -p "$out"

exec /usr/bin/python3 - "$src" "$out" "$quiet" <<'PY'
import hashlib, json, os, re, sys

src, out, quiet = sys.argv[1], sys.argv[2], sys.argv[3] == "1"

def fortune_files(d):
    """Regular fortune text files of d: not the .dat indexes, not the .u8 links."""
    if not os.path.isdir(d):
        return []
    names = []
    for n in sorted(os.listdir(d)):
        p = os.path.join(d, n)
        if n.endswith((".dat", ".u8")) or os.path.islink(p) or not os.path.isfile(p):
            continue
        names.append(p)
    return names

def clean_line(s):
    # Overstrike: a backspace erases the character before it ("___\b\b\band" -> "and").
    if "\b" in s:
        buf = []
        for ch in s:
            if ch == "\b":
                if buf:
                    buf.pop()
            else:
                buf.append(ch)
        s = "".join(buf)
    s = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", s)
    return s.rstrip()

def read_fortunes(path, legacy):
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode(legacy)
        print(f"make_corpus.sh: {path}: not UTF-8, read as {legacy}", file=sys.stderr)
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    fortune = []
    for line in text.split("\n") + ["%"]:
        if line.rstrip("\r") == "%":
            lines = [l for l in (clean_line(x) for x in fortune) if l.strip()]
            if lines:
                yield "\n".join(lines)
            fortune = []
        else:
            fortune.append(line)

def write_if_changed(path, data):
    data = data.encode("utf-8")
    try:
        if open(path, "rb").read() == data:
            return
    except FileNotFoundError:
        pass
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)

def build(name, files, legacy):
    seen, split = set(), {"train": [], "val": []}
    for path in files:
        source = os.path.basename(path)
        for text in read_fortunes(path, legacy):
            if text in seen:
                continue
            seen.add(text)
            h = int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big")
            split["val" if h % 20 == 0 else "train"].append((text, source))
    for part, docs in split.items():
        base = os.path.join(out, f"{name}-{part}")
        write_if_changed(base + ".txt", "".join(t + "\n\n" for t, _ in docs))
        write_if_changed(base + ".jsonl", "".join(
            json.dumps({"text": t, "source": s}, ensure_ascii=False) + "\n" for t, s in docs))
        if not quiet:
            size = os.path.getsize(base + ".txt")
            print(f"make_corpus.sh: {base}.txt: {len(docs)} documents, {size / 1e6:.2f} MB")
    return len(seen)

en = fortune_files(src)
if not en:
    sys.exit(f"make_corpus.sh: no fortune files in {src}; install them: apt-get install fortunes")
build("fortunes", en, "latin-1")
ru = fortune_files(os.path.join(src, "ru"))
if ru:
    build("fortunes-ru", ru, "koi8-r")
else:
    print(f"make_corpus.sh: warning: no Russian fortunes in {src}/ru (apt-get install fortunes-ru); skipped",
          file=sys.stderr)
PY
