"""edtest.py — shared helpers of the trainer/CLI integration tests: run expert-dist under
mpirun, make small deterministic corpora, read history files and checkpoints.

Each test script takes --exe (the binary), --mpiexec (the launcher prefix, one string)
and --ranks N, so CMake can register it for -n 1, 2 and 4."""
import argparse
import atexit
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile

SKIP = 77  # ctest SKIP_RETURN_CODE


def parse_args(extra=None):
    p = argparse.ArgumentParser()
    p.add_argument("--exe", required=True)
    p.add_argument("--mpiexec", required=True, help="launcher prefix, e.g. 'mpirun --oversubscribe'")
    p.add_argument("--ranks", type=int, default=1)
    p.add_argument("--source-dir", default=os.environ.get("ED_SOURCE_DIR", ""))
    if extra:
        extra(p)
    return p.parse_args()


_XDG_CACHE = []


def xdg_cache():
    """This test's own $XDG_CACHE_HOME (made on first use): `--gemm auto` and the MFU
    reference are measured by the test's first run and read back by the later ones, so
    every run of one test multiplies with the same backend (a resume stays bit-exact),
    and no test reads or writes the user's ~/.cache."""
    if not _XDG_CACHE:
        _XDG_CACHE.append(tempfile.mkdtemp(prefix="ed-test-cache-"))
        atexit.register(shutil.rmtree, _XDG_CACHE[0], True)
    return _XDG_CACHE[0]


def run(args, ranks, flags, timeout=120, check=None, env=None):
    """Runs `mpiexec -n ranks exe flags...`; returns CompletedProcess (text).
    $ED_TEST_GEMM (openblas | onednn), when set, adds `--gemm` to commands that build a
    model and do not name one: ctest runs some scripts once per GEMM backend that way.
    XDG_CACHE_HOME is the test's own (xdg_cache) unless env names one."""
    flags = [str(f) for f in flags]
    gemm = os.environ.get("ED_TEST_GEMM")
    if gemm and "--gemm" not in flags and not (flags and flags[0] in ("prepare", "inspect")):
        flags += ["--gemm", gemm]
    cmd = shlex.split(args.mpiexec) + ["-n", str(ranks), args.exe] + flags
    e = dict(os.environ)
    e.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
              "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "ED_PROGRESS": "plain",
              "XDG_CACHE_HOME": xdg_cache()})
    if env:
        e.update(env)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=e)
    if check is not None and p.returncode != check:
        fail("%s\n-> exit %d, expected %d\nstdout:\n%s\nstderr:\n%s"
             % (" ".join(cmd), p.returncode, check, p.stdout[-4000:], p.stderr[-4000:]))
    return p


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


WORDS = ("the cat sat on a mat and dog ran to big red house in small town with green tree "
         "near old river under blue sky over tall hill by quiet lake").split()


def corpus(path, n_docs, seed, min_words=6, max_words=30, words=WORDS):
    """A .txt corpus of n_docs random paragraphs, deterministic in seed."""
    r = random.Random(seed)
    docs = [" ".join(r.choice(words) for _ in range(r.randint(min_words, max_words))) + "."
            for _ in range(n_docs)]
    with open(path, "w") as f:
        f.write("\n\n".join(docs) + "\n")
    return path


def tmpdir():
    return tempfile.mkdtemp(prefix="ed-test-")


def history(path):
    with open(path) as f:
        return json.load(f)


# A model small enough for 4 oversubscribed ranks on 2 cores. Sliding (unpacked) windows and
# one validation per epoch, whatever the tiny preset's quickstart settings are.
TINY = ["--d-model", "32", "--n-layers", "1", "--n-heads", "2", "--d-ff", "64", "--max-seq-len", "32",
        "--max-length", "24", "--stride", "12", "--tokenizer", "word", "--vocab-size", "64", "--pack", "0",
        "--eval-interval", "0", "--threads", "1", "--quiet"]  # word: a 64-token vocabulary (BPE needs 260+)


def weights(path):
    """name -> numpy array of /model in a checkpoint."""
    import h5py
    import numpy as np
    out = {}
    with h5py.File(path, "r") as f:
        f["model"].visititems(lambda n, o: out.__setitem__(n, np.array(o)) if isinstance(o, h5py.Dataset) else None)
    return out


def last_state(out):
    """name -> numpy array of /model, /optimizer/m and /optimizer/v in out/last.h5."""
    return state_of(os.path.join(out, "last.h5"))


def state_of(path):
    """name -> numpy array of /model, /optimizer/m and /optimizer/v in checkpoint path."""
    import h5py
    import numpy as np
    res = {}
    with h5py.File(path, "r") as f:
        for g in ("model", "optimizer/m", "optimizer/v"):
            f[g].visititems(lambda k, o: res.__setitem__(g + "/" + k, np.array(o)) if isinstance(o, h5py.Dataset) else None)
    return res


def expect_same_run(a_dir, ha, b_dir, hb, what):
    """Two runs bit-identical: epoch and logged losses in the histories, and every weight and
    optimizer moment in last.h5."""
    import numpy as np
    for key in ("train_loss", "val_loss"):
        expect(ha[key] == hb[key], "%s: %s differs:\n%s\n%s" % (what, key, ha[key], hb[key]))
    expect(ha["steps"]["loss"] == hb["steps"]["loss"], "%s: logged losses differ" % what)
    sa, sb = last_state(a_dir), last_state(b_dir)
    expect(sorted(sa) == sorted(sb) and len(sa) > 3, "%s: different datasets in last.h5" % what)
    for k in sa:
        expect(sa[k].tobytes() == sb[k].tobytes(),
               "%s: %s not bit-identical (max diff %g)" % (what, k, np.max(np.abs(sa[k] - sb[k]))))
