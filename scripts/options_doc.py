#!/usr/bin/env python3
"""options_doc.py — keep docs/usage.md's option reference equal to the options table.

The table between the markers `<!-- options-reference begin -->` and
`<!-- options-reference end -->` in docs/usage.md is the output of
`expert-dist --help-markdown` (every option, the commands it applies to, its default in
the tiny preset and in the presets that differ, its help text), generated from
src/options/options_table.c: the one place defaults live.

    scripts/options_doc.py --exe build/expert-dist            # check: exit 1 if out of date
    scripts/options_doc.py --exe build/expert-dist --write    # rewrite the block"""
import argparse
import os
import subprocess
import sys

BEGIN, END = "<!-- options-reference begin -->", "<!-- options-reference end -->"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--exe", default=os.path.join(here, "..", "build", "expert-dist"))
    ap.add_argument("--doc", default=os.path.join(here, "..", "docs", "usage.md"))
    ap.add_argument("--write", action="store_true", help="rewrite the block instead of checking it")
    a = ap.parse_args()
    table = subprocess.run([a.exe, "--help-markdown"], capture_output=True, text=True, check=True).stdout
    with open(a.doc) as f:
        doc = f.read()
    if doc.count(BEGIN) != 1 or doc.count(END) != 1:
        sys.exit("options_doc.py: %s: needs one %s and one %s" % (a.doc, BEGIN, END))
    head, rest = doc.split(BEGIN)
    body, tail = rest.split(END)
    want = "\n" + table
    if body == want:
        print("%s: the option reference is up to date" % a.doc)
        return 0
    if not a.write:
        print("%s: the option reference differs from `expert-dist --help-markdown`; run\n"
              "    scripts/options_doc.py --exe %s --write" % (a.doc, a.exe), file=sys.stderr)
        return 1
    with open(a.doc, "w") as f:
        f.write(head + BEGIN + want + END + tail)
    print("%s: option reference rewritten" % a.doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
