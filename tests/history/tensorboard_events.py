#!/usr/bin/env python3
"""TensorBoard event files of `train --tensorboard`, read by an independent reader: the
protobuf classes protoc --python_out makes from the same src/history/tb_event.proto, and
python3-crcmod's CRC-32C for the TFRecord framing (not the C code's).
  - every record's length and payload CRCs are valid, the first record of a file is the
    file version, every other one a summary at a global step;
  - the scalars (tags, steps, values as float32) equal history.json (train/*, val/*) and
    metrics.jsonl (train/mfu); the configuration is a text at step 0, the closing sample a
    text at the last step, equal to the printed one;
  - a resume from step-8.h5 appends a second events file and cuts the first one back to
    step 8: every (tag, step) appears once, and the values still equal history.json;
  - a fresh run in the same directory starts over (one file);
  - with -n 2 only rank 0 writes (one file per run);
  - a --tensorboard directory that cannot be created: the run finishes (exit 0) with one
    warning; a directory that fills up mid-run (a tiny tmpfs; needs root, else skipped):
    the run finishes with one warning, its checkpoints intact, and the events file ends
    at its last whole record."""
import glob
import json
import math
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "trainer"))
import edtest as T  # noqa: E402

args = T.parse_args()
n = args.ranks
d = T.tmpdir()
if not args.source_dir:
    T.fail("--source-dir is required (the .proto file)")
subprocess.run(["protoc", "--python_out=" + d, "-I", os.path.join(args.source_dir, "src", "history"),
                "tb_event.proto"], check=True)
sys.path.insert(0, d)
import crcmod.predefined  # noqa: E402
import tb_event_pb2 as pb  # noqa: E402

crc32c = crcmod.predefined.mkCrcFun("crc-32c")


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_events(path):
    """All records of one file as Event messages; every CRC checked, no trailing bytes."""
    with open(path, "rb") as f:
        data = f.read()
    events, pos = [], 0
    while pos < len(data):
        T.expect(pos + 12 <= len(data), "%s: torn record header at %d" % (path, pos))
        (length,) = struct.unpack("<Q", data[pos:pos + 8])
        (lcrc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        T.expect(lcrc == masked(data[pos:pos + 8]), "%s: bad length CRC at %d" % (path, pos))
        payload = data[pos + 12:pos + 12 + length]
        T.expect(len(payload) == length and pos + 16 + length <= len(data), "%s: torn record at %d" % (path, pos))
        (pcrc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
        T.expect(pcrc == masked(payload), "%s: bad payload CRC at %d" % (path, pos))
        ev = pb.Event()
        ev.ParseFromString(payload)
        events.append(ev)
        pos += 16 + length
    T.expect(events and events[0].WhichOneof("what") == "file_version" and events[0].file_version == "brain.Event:2",
             "%s: the first record is not the file version" % path)
    T.expect(all(e.WhichOneof("what") == "summary" for e in events[1:]), "%s: a later record is no summary" % path)
    return events


def read_dir(tb):
    """(scalars {(tag, step): value}, texts {(tag, step): text}, files); fails on a (tag, step) seen twice."""
    files = sorted(glob.glob(os.path.join(tb, "events.out.tfevents.*")))
    scalars, texts = {}, {}
    for path in files:
        for ev in read_events(path)[1:]:
            for v in ev.summary.value:
                key = (v.tag, ev.step)
                T.expect(key not in scalars and key not in texts, "%s: %s at step %d twice" % (path, v.tag, ev.step))
                if v.WhichOneof("value") == "simple_value":
                    scalars[key] = v.simple_value
                else:
                    T.expect(v.metadata.plugin_data.plugin_name == "text" and v.tensor.dtype == pb.DT_STRING,
                             "%s: %s is neither a scalar nor a text" % (path, v.tag))
                    texts[key] = v.tensor.string_val[0].decode()
    return scalars, texts, files


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def close(a, b):
    """a (float32 from the events file) is b (9 significant digits in the JSON) as float32."""
    return abs(a - f32(b)) <= 1e-6 * abs(b)


TAGS = {"train/loss": ("steps", "loss"), "train/lr": ("steps", "lr"), "train/grad_norm": ("steps", "grad_norm"),
        "train/tokens_per_s": ("steps", "tokens_per_s"), "val/loss": ("evals", "val_loss"),
        "val/perplexity": ("evals", "perplexity"), "val/accuracy": ("evals", "accuracy")}


def expect_matches_history(out, scalars):
    h = T.history(os.path.join(out, "history.json"))
    want = {}
    for tag, (kind, key) in TAGS.items():
        for step, x in zip(h[kind]["step"], h[kind][key]):
            if x is not None:
                want[(tag, int(step))] = x
    with open(os.path.join(out, "metrics.jsonl")) as f:
        for r in map(json.loads, f):
            if r["type"] == "log" and r["mfu"] is not None:
                want[("train/mfu", r["step"])] = r["mfu"]
    got = {k: v for k, v in scalars.items()}
    T.expect(set(got) == set(want), "TensorBoard scalars vs history.json/metrics.jsonl: only in events %s, missing %s"
             % (sorted(set(got) - set(want))[:6], sorted(set(want) - set(got))[:6]))
    bad = [(k, got[k], want[k]) for k in want if not close(got[k], want[k])]
    T.expect(not bad, "values differ from history.json: %s" % bad[:5])


train = T.corpus(os.path.join(d, "train.txt"), 300, seed=41)
val = T.corpus(os.path.join(d, "val.txt"), 20, seed=42)
out = os.path.join(d, "run")
tb = os.path.join(out, "tb")
base = T.TINY + ["--train-file", train, "--val-file", val, "-b", 2, "--log-interval", 1, "--eval-interval", 5,
                 "--save-steps", 4, "--keep-last", 0, "-o", out, "--tensorboard", "auto"]

# a fresh run, with the closing sample (not --quiet)
p = T.run(args, n, base + ["--max-steps", 10, "--quiet", "0", "--sample-tokens", 6], check=0, timeout=180)
T.expect("warning: --tensorboard" not in p.stderr, "unexpected warning:\n" + p.stderr)
scalars, texts, files = read_dir(tb)
T.expect(len(files) == 1, "one events file per run (rank 0 only), found %s" % files)
expect_matches_history(out, scalars)
T.expect(sorted(s for t, s in scalars if t == "train/loss") == list(range(1, 11)), "train/loss steps")
T.expect(sorted(s for t, s in scalars if t == "val/loss") == [5, 10], "val/loss steps")
T.expect(sorted(texts) == [("config", 0), ("sample", 10)], "texts: %s" % sorted(texts))
T.expect("\n    tensorboard = auto\n" in "\n" + texts[("config", 0)], "the config text lacks the options:\n" + texts[("config", 0)])
sample = p.stdout.split("):\n", 1)[1].strip() if "sample (expert-dist generate" in p.stdout else None
T.expect(sample and texts[("sample", 10)] == "    " + sample + "\n",
         "sample text %r, printed %r" % (texts[("sample", 10)], sample))

# resume from step 8: the first file is cut back to step 8, the second holds 9..12
T.run(args, n, base + ["--max-steps", 12, "--resume", os.path.join(out, "step-8.h5")], check=0, timeout=180)
scalars, texts, files = read_dir(tb)
T.expect(len(files) == 2, "a resumed run appends one events file: %s" % files)
T.expect(sorted(s for t, s in scalars if t == "train/loss") == list(range(1, 13)), "train/loss steps after resume")
T.expect(max(ev.step for ev in read_events(files[0])) == 8, "the first file was not cut back to step 8")
T.expect(min(ev.step for ev in read_events(files[1])[1:]) == 8, "the resumed run's config is at step 8")
expect_matches_history(out, scalars)
T.expect(sorted(texts) == [("config", 0), ("config", 8)], "texts after the resume: %s" % sorted(texts))

# a fresh run in the same directory starts over
T.run(args, n, base + ["--max-steps", 3], check=0, timeout=180)
scalars, texts, files = read_dir(tb)
T.expect(len(files) == 1, "a fresh run leaves one events file: %s" % files)
T.expect(sorted(s for t, s in scalars if t == "train/loss") == [1, 2, 3], "steps of the fresh run")
expect_matches_history(out, scalars)

if n == 1:
    # a directory that cannot be created (its parent is a file): one warning, the run goes on
    out2 = os.path.join(d, "run2")
    p = T.run(args, n, T.TINY + ["--train-file", train, "--val-file", val, "-b", 2, "--max-steps", 2, "-o", out2,
                                 "--tensorboard", os.path.join(train, "tb")], check=0, timeout=180)
    lines = [x for x in p.stderr.splitlines() if "tensorboard" in x]
    T.expect(len(lines) == 1 and "Not a directory" in lines[0] and "TensorBoard logging stops" in lines[0],
             "expected one warning, got:\n" + p.stderr)
    T.expect(os.path.exists(os.path.join(out2, "last.h5")), "no last.h5 after the TensorBoard failure")

    # a directory that fills up mid-run: a tmpfs of one page (root only)
    mnt = os.path.join(d, "full")
    os.makedirs(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", mnt], capture_output=True, text=True)
    if r.returncode != 0:
        print("skip: disk-full case: cannot mount a tmpfs (%s)" % r.stderr.strip())
    else:
        try:
            out3 = os.path.join(d, "run3")
            p = T.run(args, n, T.TINY + ["--train-file", train, "--val-file", val, "-b", 2, "--max-steps", 60,
                                         "--log-interval", 1, "-o", out3, "--tensorboard", mnt], check=0, timeout=180)
            lines = [x for x in p.stderr.splitlines() if "tensorboard" in x]
            T.expect(len(lines) == 1 and "No space left on device" in lines[0],
                     "expected one disk-full warning, got:\n" + p.stderr)
            scalars, _, files = read_dir(mnt)  # whole records only: the torn one was cut off
            steps = sorted(s for t, s in scalars if t == "train/loss")
            T.expect(steps and steps == list(range(1, len(steps) + 1)) and len(steps) < 60,
                     "the full events file holds steps %s" % steps)
            T.expect(os.path.exists(os.path.join(out3, "last.h5")) and
                     len(T.history(os.path.join(out3, "history.json"))["steps"]["step"]) == 60,
                     "the run's checkpoint or history is incomplete after the TensorBoard failure")
        finally:
            subprocess.run(["umount", "-l", mnt], capture_output=True)
print("PASS: TensorBoard events: CRCs, scalars = history.json, texts, resume without duplicates, fresh start"
      "%s (-n %d)" % (", failures warn once" if n == 1 else "", n))
