#!/usr/bin/env python3
"""The bad-input corpus: hostile files fed to the real `expert-dist` binary under mpirun.

Every case names a file (committed in files/, or made here at test time: the 10 MB line,
the deep JSON, the damaged checkpoints), how it is fed to the program, and the expected
outcome. For a rejected file the program must print exactly ONE line starting with
"expert-dist:" that names the file and says what is wrong, and exit with the documented
status (1 = bad data or checkpoint, 2 = bad config, before any work). An accepted file
must train (or load) and exit 0 with no error line. Never a signal, never a sanitizer
report, never an HDF5 error stack, never a hang (each run has a timeout).

    run_bad_input.py --exe build/expert-dist --mpiexec "mpirun --oversubscribe" --ranks N [--quick] [--direct]

--quick runs one representative case per kind (used for -n 2 and -n 4: every rank reads
the same file and must agree on the verdict); -n 1 runs them all, with --direct as a
singleton (no mpirun: a second per launch saved over ~100 launches). docs/reliability.md
holds the same table."""
import argparse
import concurrent.futures
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = os.path.join(HERE, "files")

# Small enough for 4 oversubscribed ranks on 2 cores; each run does at most 2 steps.
MODEL = ["--d-model", "32", "--n-layers", "1", "--n-heads", "2", "--d-ff", "64", "--max-seq-len", "32",
         "--max-length", "24", "--stride", "12", "--tokenizer", "word", "--vocab-size", "64", "--threads", "1",
         "--quiet"]
RUN = ["--max-steps", "2", "--batch-size", "2"]
GOOD_TXT = "the cat sat on the mat.\n\nthe dog ran to the big red house.\n\na bird flew over the old tree.\n"

# Output that means something crashed or leaked through, whatever the exit status.
CRASH_MARKERS = ["AddressSanitizer", "LeakSanitizer", "runtime error:", "HDF5-DIAG", "Segmentation fault",
                 "Traceback", "core dumped", "on signal", "Aborted"]


class Case:
    """file: name in files/ or made by a maker; how: train|val|config|vocab|inspect|generate|
    eval|resume|refs (eval --generate on a references file); rc: expected exit status; text: a substring of the error line; names_file:
    the error line must contain the file name; quick: also run with -n 2 / -n 4;
    bug: a known, reported bug (a mismatch is printed but does not fail the test)."""

    def __init__(self, file, how, rc, text="", names_file=True, quick=False, bug=None, flags=(), timeout=90,
                 env=None, warn=None):
        self.file, self.how, self.rc, self.text, self.timeout, self.env = file, how, rc, text, timeout, env
        self.warn = warn  # an accepted file: exactly one "warning:" line on stderr holding this
        self.names_file, self.quick, self.bug, self.flags = names_file, quick, bug, list(flags)


UTF8 = "invalid UTF-8"
NOVERIFY = {"ED_CKPT_NO_VERIFY": "1"}
NOJSON = "not valid JSON"
SKIPPED = "warning: --skip-bad-lines: 1 bad line(s) skipped; the first: %s:2: not valid JSON" % os.path.join(FILES, "not-json.jsonl")
CASES = [
    # ---- .txt training files (--train-file) ----
    Case("empty.txt", "train", 1, "file is empty", quick=True),
    Case("blank-lines.txt", "train", 1, "no usable text"),
    Case("truncated-utf8.txt", "train", 1, UTF8, quick=True),
    Case("overlong-slash.txt", "train", 1, UTF8),
    Case("overlong-nul.txt", "train", 1, UTF8),
    Case("overlong-3byte.txt", "train", 1, UTF8),
    Case("surrogate.txt", "train", 1, UTF8),
    Case("cesu8-pair.txt", "train", 1, UTF8),
    Case("above-10ffff.txt", "train", 1, UTF8),
    Case("five-byte.txt", "train", 1, UTF8),
    Case("lone-continuation.txt", "train", 1, UTF8),
    Case("latin1.txt", "train", 1, UTF8),
    Case("utf16le-bom.txt", "train", 1, UTF8),
    Case("nul-byte.txt", "train", 1, UTF8),  # a NUL cannot live in a C string: rejected
    Case("binary-garbage.txt", "train", 1, UTF8),
    Case("wrong-extension.csv", "train", 1, "unsupported file extension"),
    Case("gen:directory.txt", "train", 1, "directory has no usable files"),  # a directory is an input spec now
    Case("gen:missing.txt", "train", 1, "cannot open"),
    Case("bom-utf8.txt", "train", 0, quick=True),  # BOM stripped
    Case("crlf.txt", "train", 0),                  # CR before LF dropped
    Case("cr-only.txt", "train", 0),               # lone CR is whitespace: one paragraph
    Case("no-final-newline.txt", "train", 0),
    Case("one-char.txt", "train", 0),
    Case("only-punctuation.txt", "train", 0),
    Case("combining-only.txt", "train", 0),
    Case("noncharacters.txt", "train", 0),         # valid scalar values, kept as text
    Case("zero-width-bidi.txt", "train", 0),
    Case("gen:long-line-10mb.txt", "train", 0),    # one 10 MB paragraph
    Case("latin1.txt", "val", 1, UTF8),            # the validation file is checked the same way
    # ---- .jsonl (--train-file) ----
    Case("not-json.jsonl", "train", 1, NOJSON, quick=True),
    Case("text-number.jsonl", "train", 1, "is a number"),
    Case("text-null.jsonl", "train", 1, "text"),
    Case("text-missing.jsonl", "train", 1, "text"),
    Case("array-line.jsonl", "train", 1, "object"),
    Case("escaped-nul.jsonl", "train", 1, NOJSON),
    Case("lone-surrogate-escape.jsonl", "train", 1, NOJSON),
    Case("invalid-utf8-string.jsonl", "train", 1, ""),
    Case("trailing-garbage.jsonl", "train", 1, NOJSON),
    Case("number-overflow.jsonl", "train", 1, NOJSON),
    Case("empty-texts.jsonl", "train", 1, "no usable text"),
    Case("truncated-object.jsonl", "train", 1, NOJSON),
    Case("gen:deep-nesting.jsonl", "train", 1, "depth"),
    # the bad line is skipped, with one warning line naming the count and the first one
    Case("not-json.jsonl", "train", 0, flags=["--skip-bad-lines"], quick=True, warn=SKIPPED),
    Case("not-json.jsonl", "evaltext", 0, flags=["--skip-bad-lines"], warn=SKIPPED),
    Case("not-json.jsonl", "prepare", 0, flags=["--skip-bad-lines"], warn=SKIPPED),
    Case("text-missing.jsonl", "train", 1, 'no "text" field (its fields: "body"; --text-field names'),
    Case("gen:run-directory", "train", 1, "a run directory (checkpoints, history, metrics.jsonl), not text"),
    # a flag eval cannot honour is refused, not ignored (it evaluated packed windows anyway)
    Case("gen:good.txt", "evaltext", 2, "eval does not use option --pack", flags=["--no-pack"], names_file=False),
    Case("crlf.jsonl", "train", 0),
    Case("bom.jsonl", "train", 0),
    Case("blank-lines-between.jsonl", "train", 0),
    Case("duplicate-key.jsonl", "train", 0),       # JSON: the last value wins
    # ---- instruction data (--format instruct) ----
    Case("instruct-unknown-role.jsonl", "train", 1, "instruct-unknown-role.jsonl:2: messages[1].role \"bot\"",
         quick=True, flags=["--format", "instruct"]),
    Case("instruct-content-list.jsonl", "train", 1, ":2: messages[1].content is an array",
         flags=["--format", "instruct"]),
    Case("instruct-neither.jsonl", "train", 1, ":2: neither \"prompt\"/\"completion\" nor \"messages\"",
         flags=["--format", "instruct"]),
    Case("instruct-empty-completion.jsonl", "train", 1, ":2: field \"completion\" is empty",
         flags=["--format", "instruct"]),
    Case("instruct-too-long.jsonl", "train", 1, ":2: the example is", flags=["--format", "instruct", "--truncate", "error"]),
    Case("instruct-ok.jsonl", "train", 0, flags=["--format", "instruct"]),  # the long one loses prompt from the left
    Case("instruct-ok.jsonl", "prepare", 2, "no loss flags", names_file=False, flags=["--format", "instruct"]),
    # ---- compressed shards, input lists (train from text and prepare read them alike) ----
    Case("good-gzip.txt.gz", "train", 0, quick=True),
    Case("good-zstd.jsonl.zst", "train", 0),
    Case("good-zstd.jsonl.zst", "prepare", 0),
    Case("not-gzip.txt.gz", "train", 1, "not a gzip file", quick=True),
    Case("not-gzip.txt.gz", "prepare", 1, "not a gzip file (byte offset 0"),
    Case("not-zstd.jsonl.zst", "prepare", 1, "not a zstd file (byte offset 0"),
    Case("truncated-gzip.txt.gz", "prepare", 1, "truncated gzip data: the file ends at byte offset 56", quick=True),
    Case("truncated-gzip.txt.gz", "train", 1, "truncated gzip data"),
    Case("truncated-zstd.jsonl.zst", "prepare", 1, "truncated zstd data: the file ends at byte offset 50"),
    Case("corrupt-gzip.txt.gz", "prepare", 1, "corrupt gzip data near byte offset"),
    Case("corrupt-zstd.jsonl.zst", "prepare", 1, "corrupt zstd data near byte offset"),
    Case("gen:nomatch-glob", "prepare", 1, "the pattern matches no file", quick=True),
    Case("gen:nomatch-glob", "train", 1, "the pattern matches no file"),
    Case("gen:no-usable-dir", "prepare", 1, "directory has no usable files"),
    Case("gen:no-usable-dir", "train", 1, "directory has no usable files"),
    Case("gen:shards-one-bad", "prepare", 1, "truncated gzip data"),  # a directory: good .txt, bad .gz
    Case("gen:shards-good", "train", 0),    # a directory of .txt + .txt.gz + .jsonl.zst: train reads it
    Case("gen:shards-list", "prepare", 0),  # a comma-separated list of the same
    # ---- prepared token files (train --data-file, verify) ----
    Case("gen:prepared-truncated.h5", "data", 1, "truncated: the file ends at byte offset", quick=True),
    Case("gen:prepared-truncated.h5", "verify", 1, "truncated"),
    Case("gen:prepared-good.h5", "verify", 0),
    # sliding windows (the tiny preset packs, which needs no index): the stored 24/12 index
    Case("gen:prepared-good.h5", "data", 0, flags=("--pack", "0")),
    Case("gen:prepared-bad-index.h5", "data", 1, "the window index is damaged", quick=True, flags=("--pack", "0")),
    Case("gen:prepared-bad-index.h5", "verify", 1, "/train/window_blocks[1] = "),
    # ---- config files (-c); the keys they set are not given as flags ----
    Case("cfg-bad-number.ini", "config", 2, "expected a finite number", quick=True),
    Case("cfg-unknown-key.ini", "config", 2, "unknown option 'learning-rate' (did you mean `lr`?)"),
    Case("cfg-int-overflow.ini", "config", 2, "expected an integer"),
    Case("cfg-int-wrap.ini", "config", 2, "expected an integer"),
    Case("cfg-nan.ini", "config", 2, "expected a finite number"),
    Case("cfg-inf.ini", "config", 2, "expected a finite number"),
    Case("cfg-trailing-junk.ini", "config", 2, "expected an integer"),
    Case("cfg-no-equals.ini", "config", 2, "syntax error"),
    Case("cfg-unclosed-section.ini", "config", 2, "syntax error"),
    Case("cfg-long-line.ini", "config", 2, "history-file': value longer than 1023 bytes"),
    Case("cfg-bad-bool.ini", "config", 2, "expected true/false"),
    Case("cfg-arch.ini", "config", 2, "mamba"),
    Case("cfg-llama-kv-heads.ini", "config", 2, "n-kv-heads 3 does not divide n-heads 2", names_file=False),
    Case("cfg-gqa-gpt2.ini", "config", 2, "grouped-query attention needs --arch llama", names_file=False),
    Case("cfg-bad-choice.ini", "config", 2, "rmsprop", names_file=False),
    Case("cfg-empty-value.ini", "config", 2, "batch-size"),
    Case("cfg-binary.ini", "config", 2, "not a text config file"),
    Case("cfg-negative-epochs.ini", "config", 2, "epochs must be >= 1", names_file=False),
    Case("gen:missing.ini", "config", 2, "cannot open"),
    Case("gen:directory.ini", "config", 2, "directory", quick=True),
    Case("/dev/zero", "config", 2, "not a regular file", timeout=10),
    Case("cfg-empty.ini", "config", 0),
    Case("cfg-comments-only.ini", "config", 0),
    # ---- vocabulary files (--vocab-file) ----
    Case("vocab-not-json.json", "vocab", 1, "not a valid tokenizer JSON file", quick=True),
    Case("vocab-empty.json", "vocab", 1, ""),
    Case("vocab-top-array.json", "vocab", 1, ""),
    Case("vocab-unknown-kind.json", "vocab", 1, "unknown tokenizer kind"),
    Case("vocab-tokens-not-strings.json", "vocab", 1, ""),
    Case("vocab-too-few.json", "vocab", 1, "specials"),
    Case("vocab-duplicate.json", "vocab", 1, "appears twice"),
    Case("vocab-wrong-special.json", "vocab", 1, "must be <PAD>"),
    Case("vocab-bad-lowercase.json", "vocab", 1, "lowercase"),
    Case("vocab-invalid-utf8.json", "vocab", 1, ""),
    Case("vocab-bpe-no-vocab.json", "vocab", 1, "vocab"),
    Case("vocab-bpe-merges-not-array.json", "vocab", 1, "merges"),
    Case("vocab-bpe-merge-unknown.json", "vocab", 1, ""),
    Case("vocab-bpe-merge-no-space.json", "vocab", 1, ""),
    Case("vocab-bpe-merged-missing.json", "vocab", 1, ""),
    Case("gen:vocab-deep.json", "vocab", 1, "depth"),
    # ---- the user's tokenizers (--tokenizer sentencepiece|hf --vocab-file) ----
    Case("sp-not-a-model.model", "vocab", 1, "not a SentencePiece model", quick=True,
         flags=["--tokenizer", "sentencepiece"]),
    Case("hf-ok.json", "vocab", 0, flags=["--tokenizer", "hf"]),
    Case("hf-normalizer-lowercase.json", "vocab", 1, 'normalizer: normalizer "Lowercase" is not supported',
         quick=True, flags=["--tokenizer", "hf"]),
    Case("hf-pretok-metaspace.json", "vocab", 1, 'pre_tokenizer: pre-tokenizer "Metaspace" is not supported'),
    Case("hf-model-unigram.json", "vocab", 1, 'model.type "Unigram" is not supported'),
    Case("hf-byte-fallback.json", "vocab", 1, "model.byte_fallback"),
    Case("hf-merge-no-space.json", "vocab", 1, "model.merges[1]"),
    Case("hf-merge-bad-pair.json", "vocab", 1, "model.merges[1]"),
    Case("hf-merge-unknown.json", "vocab", 1, "model.merges[1]"),
    Case("hf-vocab-gap.json", "vocab", 1, "without gaps"),
    Case("hf-split-bad-regex.json", "vocab", 1, "pre_tokenizer.pretokenizers[0]: cannot compile the regex"),
    Case("cfg-tokenizer-hf-alone.ini", "config", 2, "needs --vocab-file", names_file=False),
    # ---- checkpoints: not HDF5 at all (inspect / generate / eval / --resume) ----
    Case("ckpt-text.h5", "inspect", 1, "not an HDF5 file", quick=True),
    Case("ckpt-empty.h5", "generate", 1, "not an HDF5 file"),
    Case("ckpt-hdf5-signature-only.h5", "inspect", 1, ""),
    Case("ckpt-text.h5", "resume", 1, "not an HDF5 file"),
    Case("gen:ckpt-missing.h5", "inspect", 1, ""),
    # ---- checkpoints made from a real one at test time, each damaged one way ----
    # The checksum header (docs/checkpoint-format.md) catches any change to the bytes:
    Case("gen:ckpt-truncated.h5", "inspect", 1, "truncated", quick=True),
    Case("gen:ckpt-truncated.h5", "resume", 1, "truncated"),
    Case("gen:ckpt-appended.h5", "generate", 1, "truncated or extended"),
    Case("gen:ckpt-bitflip.h5", "inspect", 1, "checksum mismatch"),
    Case("gen:ckpt-bitflip.h5", "resume", 1, "checksum mismatch"),
    Case("gen:ckpt-header-damaged.h5", "inspect", 1, "damaged checkpoint header"),
    Case("gen:ckpt-nan-weight.h5", "generate", 1, "checksum mismatch"),
    # ... and behind it, files edited with h5py, read with ED_CKPT_NO_VERIFY=1 (the
    # documented escape hatch), reach the validating readers:
    Case("gen:ckpt-plain-hdf5.h5", "inspect", 1, "format", env=NOVERIFY),
    Case("gen:ckpt-wrong-format.h5", "inspect", 1, "format", env=NOVERIFY),
    Case("gen:ckpt-future-version.h5", "generate", 1, "version", env=NOVERIFY),
    Case("gen:ckpt-nan-weight.h5", "generate", 1, "wte.weight", quick=True, env=NOVERIFY),
    Case("gen:ckpt-inf-weight.h5", "eval", 1, "blocks.0.fc.weight", env=NOVERIFY),
    Case("gen:ckpt-nan-weight.h5", "resume", 1, "wte.weight", env=NOVERIFY),
    Case("gen:ckpt-wrong-shape.h5", "generate", 1, "wpe.weight", env=NOVERIFY),
    Case("gen:ckpt-missing-tensor.h5", "generate", 1, "ln_f.bias", env=NOVERIFY),
    Case("gen:ckpt-extra-tensor.h5", "generate", 1, "extra", env=NOVERIFY),
    Case("gen:ckpt-float64-weight.h5", "generate", 0, env=NOVERIFY),  # HDF5 converts float64 -> float32
    Case("gen:ckpt-bad-tokenizer.h5", "generate", 1, "tokenizer", env=NOVERIFY),
    Case("gen:ckpt-vocab-mismatch.h5", "generate", 1, "vocab_size", env=NOVERIFY),
    Case("gen:ckpt-nan-moment.h5", "resume", 1, "qkv.weight", env=NOVERIFY),
    Case("gen:ckpt-no-optimizer.h5", "resume", 1, "optimizer", env=NOVERIFY),
    Case("gen:ckpt-bad-config-type.h5", "inspect", 1, "d_model", env=NOVERIFY),
    Case("gen:ckpt-heads-not-dividing.h5", "generate", 1, "n-heads 3 does not divide d-model", env=NOVERIFY),
    Case("gen:ckpt-model-only.h5", "generate", 0, env=NOVERIFY),  # no /optimizer, /trainer: fine for generate
    # ---- references files of `eval CKPT REFS.jsonl --generate` (the base checkpoint) ----
    Case("refs-missing-reference.jsonl", "refs", 1, 'refs-missing-reference.jsonl:2: no "reference" field', quick=True),
    Case("refs-missing-prompt.jsonl", "refs", 1, 'refs-missing-prompt.jsonl:1: no "prompt" field'),
    Case("refs-reference-number.jsonl", "refs", 1, '"reference" is a number, not a string'),
    Case("refs-reference-list-null.jsonl", "refs", 1, '"references"[1] is null, not a string'),
    Case("refs-references-empty-list.jsonl", "refs", 1, '"references" is an empty array'),
    Case("refs-empty-prompt.jsonl", "refs", 1, 'refs-empty-prompt.jsonl:3: "prompt" is empty'),
    Case("refs-empty.jsonl", "refs", 1, "no examples"),
    Case("refs-truncated-object.jsonl", "refs", 1, "refs-truncated-object.jsonl:2: " + NOJSON),
    Case("refs-good.jsonl", "refs", 0),  # BOM, CRLF, a blank line, a list of references, extra fields
    # ---- --tensorboard DIR that cannot be made: the run finishes (0), with one warning ----
    Case("empty.txt", "tensorboard", 0, "not a directory", quick=True),  # a file where the directory should be
    Case("/proc/ed-tensorboard", "tensorboard", 0, "cannot create directory"),
]


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--exe", required=True)
    p.add_argument("--mpiexec", required=True)
    p.add_argument("--ranks", type=int, default=1)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--direct", action="store_true",
                   help="with --ranks 1: start the binary itself (MPI singleton, as on a workstation)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--only", default="", help="run only cases whose file contains this")
    return p.parse_args()


def launch(args, flags, timeout=90, extra_env=None):
    launcher = [] if args.direct and args.ranks == 1 else shlex.split(args.mpiexec) + ["-n", str(args.ranks)]
    cmd = launcher + [args.exe] + [str(f) for f in flags]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", ED_PROGRESS="plain")
    env.update(extra_env or {})
    try:
        # SIGKILL on timeout (subprocess.run's default): expert-dist catches SIGTERM.
        return subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return None


# ---- files made at test time ------------------------------------------------------------

def make_text_files(work):
    made = {}
    os.mkdir(os.path.join(work, "directory.txt"))
    os.mkdir(os.path.join(work, "directory.ini"))
    made["directory.txt"] = os.path.join(work, "directory.txt")
    made["directory.ini"] = os.path.join(work, "directory.ini")
    made["missing.txt"] = os.path.join(work, "no-such-file.txt")
    made["missing.ini"] = os.path.join(work, "no-such-file.ini")
    made["ckpt-missing.h5"] = os.path.join(work, "no-such-checkpoint.h5")
    # 10 MB, one line, no paragraph break: a single document of ~2 million words.
    r = random.Random(10)
    words = "the cat sat on a mat and dog ran to big red house in small town".split()
    chunk = " ".join(r.choice(words) for _ in range(4096)) + " "
    p = os.path.join(work, "long-line-10mb.txt")
    with open(p, "w") as f:
        n = 0
        while n < 10 * 1024 * 1024:
            f.write(chunk)
            n += len(chunk)
        f.write("end\n")
    made["long-line-10mb.txt"] = p
    p = os.path.join(work, "deep-nesting.jsonl")
    with open(p, "w") as f:
        f.write('{"text": "the cat sat", "x": ' + "[" * 100000 + "]" * 100000 + "}\n")
    made["deep-nesting.jsonl"] = p
    p = os.path.join(work, "vocab-deep.json")
    with open(p, "w") as f:
        f.write('{"kind": "word", "lowercase": 0, "tokens": ' + "[" * 50000 + "]" * 50000 + "}")
    made["vocab-deep.json"] = p
    made["nomatch-glob"] = os.path.join(work, "no-shards", "*.jsonl.zst")
    d = os.path.join(work, "no-usable-dir")
    os.mkdir(d)
    with open(os.path.join(d, "README.md"), "w") as f:
        f.write("not an input\n")
    made["no-usable-dir"] = d
    d = os.path.join(work, "shards-one-bad")
    os.mkdir(d)
    with open(os.path.join(d, "a.txt"), "w") as f:
        f.write(GOOD_TXT)
    shutil.copyfile(os.path.join(FILES, "truncated-gzip.txt.gz"), os.path.join(d, "b.txt.gz"))
    made["shards-one-bad"] = d
    d = os.path.join(work, "shards-good")
    os.mkdir(d)
    with open(os.path.join(d, "a.txt"), "w") as f:
        f.write(GOOD_TXT)
    shutil.copyfile(os.path.join(FILES, "good-gzip.txt.gz"), os.path.join(d, "b.txt.gz"))
    shutil.copyfile(os.path.join(FILES, "good-zstd.jsonl.zst"), os.path.join(d, "c.jsonl.zst"))
    made["shards-good"] = d
    made["shards-list"] = ",".join(os.path.join(d, n) for n in ("a.txt", "b.txt.gz", "c.jsonl.zst"))
    return made


def make_prepared(args, work, good):
    """A prepared file made by the real `prepare` (with the window index for MODEL's shape), a
    copy cut short after it, and one whose stored window index was rewritten."""
    path = os.path.join(work, "prepared-good.h5")
    p = launch(args, ["prepare", "--data-file", path, "--train-file", good, "--tokenizer", "word", "--vocab-size", "64", "--threads", "1",
                      "--max-length", "24", "--stride", "12", "--quiet"], timeout=120)
    if p is None or p.returncode != 0:
        print("FAIL: could not prepare the base token file:\n%s" % (p.stderr if p else "timeout"))
        sys.exit(1)
    with open(path, "rb") as f:
        blob = f.read()
    cut = os.path.join(work, "prepared-truncated.h5")
    with open(cut, "wb") as f:
        f.write(blob[: len(blob) - 100])
    # the stored window index with its last entry rewritten in place
    import h5py
    bad = os.path.join(work, "prepared-bad-index.h5")
    with open(bad, "wb") as f:
        f.write(blob)
    with h5py.File(bad, "r+") as f:
        f["train/window_blocks"][-1] += 1
    return {"prepared-good.h5": path, "prepared-truncated.h5": cut, "prepared-bad-index.h5": bad}


def make_checkpoints(args, work, good):
    """Trains a real tiny checkpoint, then writes one damaged copy per case with h5py."""
    import h5py
    import numpy as np
    ck = os.path.join(work, "ck")
    p = launch(args, MODEL + RUN + ["--train-file", good, "-o", ck], timeout=180)
    if p is None or p.returncode != 0:
        print("FAIL: could not train the base checkpoint:\n%s" % (p.stderr if p else "timeout"))
        sys.exit(1)
    base = os.path.join(ck, "last.h5")
    made = {"run-directory": ck, "good.txt": good}  # a run directory given as training text

    def variant(name, edit=None, raw=None):
        path = os.path.join(work, name)
        if raw is not None:
            with open(path, "wb") as f:
                f.write(raw)
        else:
            shutil.copyfile(base, path)
            with h5py.File(path, "r+") as f:
                edit(f)
        made[name] = path

    def replace(f, name, data):
        del f[name]
        f.create_dataset(name, data=data)

    with open(base, "rb") as f:
        blob = f.read()
    variant("ckpt-truncated.h5", raw=blob[: len(blob) // 2])
    variant("ckpt-appended.h5", raw=blob + b"\0" * 4096)
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 0x10
    variant("ckpt-bitflip.h5", raw=bytes(flipped))
    header_hit = bytearray(blob)
    header_hit[0] ^= 0x01  # the checksum header's first byte: must not turn the check off
    variant("ckpt-header-damaged.h5", raw=bytes(header_hit))
    variant("ckpt-plain-hdf5.h5", raw=None, edit=lambda f: [f.attrs.clear()] + [f.__delitem__(k) for k in list(f)])
    variant("ckpt-wrong-format.h5", edit=lambda f: f.attrs.__setitem__("format", "something-else"))
    variant("ckpt-future-version.h5", edit=lambda f: f.attrs.__setitem__("format_version", np.int64(99)))

    def poison(name, value):
        def edit(f):
            d = f[name]
            a = d[...]
            a.flat[len(a.flat) // 2] = value
            d[...] = a
        return edit
    variant("ckpt-nan-weight.h5", poison("model/wte.weight", np.nan))
    variant("ckpt-inf-weight.h5", poison("model/blocks.0.fc.weight", np.inf))
    variant("ckpt-nan-moment.h5", poison("optimizer/m/blocks.0.qkv.weight", np.nan))
    variant("ckpt-wrong-shape.h5",
            lambda f: replace(f, "model/wpe.weight", np.zeros((16, 32), np.float32)))
    variant("ckpt-missing-tensor.h5", lambda f: f.__delitem__("model/ln_f.bias"))
    variant("ckpt-extra-tensor.h5",
            lambda f: f.create_dataset("model/extra.weight", data=np.zeros((4,), np.float32)))
    variant("ckpt-float64-weight.h5",
            lambda f: replace(f, "model/ln_f.weight", np.ones((32,), np.float64)))

    def bad_tok(f):
        kind = f["tokenizer"].attrs["kind"]
        del f["tokenizer"]
        f["tokenizer"] = np.bytes_(b'{"kind": "word", "tokens": [')
        f["tokenizer"].attrs["kind"] = kind
    variant("ckpt-bad-tokenizer.h5", bad_tok)

    def vocab_mismatch(f):
        w = f["model/wte.weight"][...]
        replace(f, "model/wte.weight", np.concatenate([w, w[:3]]))
        f["model"].attrs["vocab_size"] = np.int64(w.shape[0] + 3)
    variant("ckpt-vocab-mismatch.h5", vocab_mismatch)
    variant("ckpt-no-optimizer.h5", lambda f: f.__delitem__("optimizer"))
    variant("ckpt-bad-config-type.h5", lambda f: f["model"].attrs.__setitem__("d_model", "thirty-two"))
    variant("ckpt-heads-not-dividing.h5", lambda f: f["model"].attrs.__setitem__("n_heads", np.int64(3)))

    def model_only(f):
        for g in ("optimizer", "trainer", "history"):
            del f[g]
    variant("ckpt-model-only.h5", model_only)
    return made


# ---- running one case ---------------------------------------------------------------

def flags_for(c, path, work, good, idx):
    out = os.path.join(work, "out-%d" % idx)
    if c.how == "train":
        return MODEL + RUN + ["--train-file", path, "-o", out] + c.flags
    if c.how == "val":
        return MODEL + RUN + ["--train-file", good, "--val-file", path, "-o", out] + c.flags
    if c.how == "vocab":
        return MODEL + RUN + ["--train-file", good, "--vocab-file", path, "-o", out] + c.flags
    if c.how == "config":
        model = MODEL
        try:  # a config that names the tokenizer is not overridden by MODEL's word pin
            with open(path, "rb") as f:
                if b"tokenizer" in f.read(65536):
                    model = [a for a in MODEL if a not in ("--tokenizer", "word")]
        except OSError:
            pass
        return ["-c", path] + model + ["--max-steps", "2", "--train-file", good, "-o", out] + c.flags
    if c.how == "prepare":
        return ["prepare", "--data-file", out + ".h5", "--train-file", path, "--tokenizer", "word", "--vocab-size", "64", "--threads", "1",
                "--quiet"] + c.flags
    if c.how == "data":
        return MODEL + RUN + ["--data-file", path, "-o", out] + c.flags
    if c.how == "verify":
        return ["verify", path]
    if c.how == "inspect":
        return ["inspect", path]
    if c.how == "generate":
        return ["generate", path, "the cat", "--max-new-tokens", "4", "--threads", "1"]
    if c.how == "eval":
        return ["eval", path, good, "--threads", "1"]
    if c.how == "evaltext":  # the file evaluated by a good checkpoint
        return ["eval", os.path.join(work, "ck", "last.h5"), path, "--threads", "1"] + c.flags
    if c.how == "refs":
        return ["eval", os.path.join(work, "ck", "last.h5"), path, "--generate", "--max-new-tokens", "3",
                "--threads", "1"]
    if c.how == "resume":
        return MODEL + ["--max-steps", "3", "--train-file", good, "--resume", path, "-o", out]
    if c.how == "tensorboard":
        return MODEL + RUN + ["--train-file", good, "--tensorboard", path, "-o", out]
    raise ValueError(c.how)


def check(c, path, p):
    """Returns a list of problems (empty = as expected)."""
    if p is None:
        return ["hang: no exit within the timeout"]
    probs = []
    for m in CRASH_MARKERS:
        if m in p.stderr or m in p.stdout:
            probs.append("crash marker %r in the output" % m)
    lines = [l for l in p.stderr.splitlines() if l.startswith("expert-dist:")]
    if p.returncode != c.rc:
        probs.append("exit %d, expected %d" % (p.returncode, c.rc))
    if c.rc == 0:
        errs = [l for l in lines if "warning" not in l]
        if errs:
            probs.append("error line(s) on an accepted file: %s" % errs)
        if c.how == "tensorboard":  # TensorBoard stops with one warning naming the directory
            warns = [l for l in p.stderr.splitlines() if l.startswith("warning: --tensorboard")]
            if len(warns) != 1 or c.text not in warns[0] or path not in warns[0]:
                probs.append("expected one TensorBoard warning with %r and the path, got %s" % (c.text, warns))
        # the oversubscription line of -n 4 on a small machine is not about the input
        warns = [l for l in p.stderr.splitlines() if l.startswith("warning:") and "nothing to measure" not in l
                 and "threads exceed its" not in l]
        if c.warn and (len(warns) != 1 or c.warn not in warns[0]):
            probs.append("expected one warning line with %r, got %s" % (c.warn, warns))
    else:
        if len(lines) != 1:
            probs.append("%d lines start with 'expert-dist:', expected exactly one" % len(lines))
        elif c.text and c.text not in lines[0]:
            probs.append("error line %r lacks %r" % (lines[0], c.text))
        elif c.names_file and os.path.basename(path) not in lines[0]:
            probs.append("error line %r does not name the file" % lines[0])
    return probs


def main():
    args = parse_args()
    cases = [c for c in CASES if (c.quick or not args.quick) and args.only in c.file]
    work = tempfile.mkdtemp(prefix="ed-bad-input-")
    good = os.path.join(work, "good.txt")
    with open(good, "w") as f:
        f.write(GOOD_TXT)
    made = make_text_files(work)
    if any(c.file.startswith("gen:prepared-") for c in cases):
        made.update(make_prepared(args, work, good))
    if any((c.file.startswith("gen:ckpt-") and c.file != "gen:ckpt-missing.h5") or c.how in ("refs", "evaltext")
           or c.file == "gen:run-directory" for c in cases):
        made.update(make_checkpoints(args, work, good))

    def one(i_c):
        i, c = i_c
        path = made[c.file[4:]] if c.file.startswith("gen:") else os.path.join(FILES, c.file)
        p = launch(args, flags_for(c, path, work, good, i), timeout=c.timeout, extra_env=c.env)
        probs = check(c, path, p)
        if c.how == "prepare" and c.rc != 0:
            # nothing written half-way: no output, no .tmp, no spill left next to it
            out = os.path.join(work, "out-%d.h5" % i)
            left = [f for f in os.listdir(work) if f.startswith(os.path.basename(out))]
            if left:
                probs.append("a failed prepare left %s behind" % left)
        return c, path, p, probs

    jobs = max(1, args.jobs // args.ranks)
    failed = bugs = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        for c, path, p, probs in ex.map(one, enumerate(cases)):
            first = ""
            if p is not None:
                el = [l for l in p.stderr.splitlines() if l.startswith("expert-dist:")]
                first = el[0] if el else "(accepted)"
            how = c.how + ("+" + " ".join(c.flags) if c.flags else "") + ("+no-verify" if c.env else "")
            label = "%-32s %-18s -> %d" % (c.file.replace("gen:", ""), how, c.rc)
            if not probs:
                print("ok    %s  %s" % (label, first[:150]))
                if c.bug:
                    print("      known bug now fixed? (%s): drop its mark" % c.bug)
            elif c.bug:
                bugs += 1
                print("BUG   %s  known, reported: %s; %s" % (label, c.bug, "; ".join(probs)))
            else:
                failed += 1
                print("FAIL  %s  %s" % (label, "; ".join(probs)))
                if p is not None:
                    print("      stderr: " + p.stderr[-1500:].replace("\n", "\n      "))
    shutil.rmtree(work, ignore_errors=True)
    n = len(cases)
    print("%d cases (-n %d): %d passed, %d failed, %d known bugs" % (n, args.ranks, n - failed - bugs, failed, bugs))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
