#!/usr/bin/python3
"""plot_history.py — draw the curves of an expert-dist run into a PNG.

Usage: scripts/plot_history.py HISTORY.json [-o OUT.png] [--title TEXT]
       scripts/plot_history.py RUN_DIR/metrics.jsonl [-o OUT.png] [--follow [--interval S]]

Four panels: train loss per log interval, train/val loss, validation perplexity, and the
learning rate. Reads the JSON that `expert-dist train` writes at checkpoints
(<checkpoint-dir>/history.json: per epoch) or the live log it appends to as it trains
(<checkpoint-dir>/metrics.jsonl: every log row and every validation; formats in
docs/formats.md). With --follow (metrics.jsonl only) it keeps watching the file and
redraws the PNG whenever new rows arrive, printing one line per redraw, until
interrupted (Ctrl-C). Needs only matplotlib (Agg backend: no display required)."""
import argparse
import json
import math
import os
import sys
import time


def read_rows(path, offset, rows):
    """Appends the complete lines of metrics.jsonl after byte offset to rows; returns the
    new offset (a line still being written, without its newline, is left for later)."""
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n") + 1
    for line in data[:end].splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass  # a torn line of a killed run
    return offset + end


def say_empty(a_, what, why, notes):
    """A panel with nothing to draw says why, on the figure and on stderr (once per panel)."""
    a_.text(0.5, 0.5, why, ha="center", va="center", wrap=True, transform=a_.transAxes, color="0.35")
    a_.set_xticks([])
    a_.set_yticks([])
    notes.append("%s: %s" % (what, why.replace("\n", " ")))


def no_val_reason(cfg):
    if cfg is not None and not cfg.get("val-file"):
        return "no validation: the run has no --val-file"
    return "no validation yet"


def print_notes(notes):
    for n in notes:
        print("plot_history.py: %s" % n, file=sys.stderr)


def plot_metrics(rows, out, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    def col(kind, key):
        xs = [r for r in rows if r.get("type") == kind]
        return [r["step"] for r in xs], [float("nan") if r.get(key) is None else r[key] for r in xs]

    fig, ax = plt.subplots(2, 2, figsize=(11, 7))
    a0, a1, a2, a3 = ax[0][0], ax[0][1], ax[1][0], ax[1][1]
    notes = []
    cfg = next((r.get("config") for r in rows if r.get("type") == "start" and r.get("config")), None)
    for a_ in (a0, a1, a2, a3):
        a_.set_xlabel("step")
        a_.grid(alpha=0.3)
        a_.xaxis.set_major_locator(MaxNLocator(integer=True))
    a0.set_title("train loss per log interval")
    a0.set_ylabel("loss (nats/token)")
    a1.set_title("loss")
    a2.set_title("validation perplexity")
    a3.set_title("learning rate")
    ls, ll = col("log", "loss")
    if ls:
        a0.plot(ls, ll, lw=1.0, color="C0")
        a3.plot(*col("log", "lr"), color="C3")
    else:
        say_empty(a0, "train loss", "no log row yet", notes)
        say_empty(a3, "learning rate", "no log row yet", notes)
    es, el = col("epoch", "train_loss")
    vs, vl = col("val", "val_loss")
    if es:
        a1.plot(es, el, "o-", label="train (epoch mean)")
    if vs:
        a1.plot(vs, vl, "s-", label="validation")
        a2.plot(*col("val", "perplexity"), "s-", color="C2")
    else:
        say_empty(a2, "validation perplexity", no_val_reason(cfg), notes)
    if es or vs:
        a1.legend()
    else:
        say_empty(a1, "loss", "no finished epoch and no validation yet", notes)
    fig.suptitle(title or "expert-dist run (%d rows)" % len(rows))
    fig.tight_layout()
    print_notes(notes)
    tmp = out + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, out)  # a viewer never sees half a PNG


def metrics_main(a):
    out = a.output or os.path.splitext(a.history)[0] + ".png"
    rows, offset, drawn = [], 0, -1
    try:
        while True:
            try:
                size = os.path.getsize(a.history)
                if size < offset:  # started anew (a fresh run, or a resume that dropped rows)
                    rows, offset = [], 0
                offset = read_rows(a.history, offset, rows)
            except OSError as e:
                if not a.follow:
                    print("plot_history.py: %s: %s" % (a.history, e), file=sys.stderr)
                    return 1
            if len(rows) != drawn and (rows or not a.follow):
                plot_metrics(rows, out, a.title)
                drawn = len(rows)
                print("%s: %d rows" % (out, drawn) if a.follow else out, flush=True)
            if not a.follow:
                return 0
            time.sleep(a.interval)
    except KeyboardInterrupt:
        return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Example: scripts/plot_history.py checkpoints/history.json -o curves.png\n"
                                       "         scripts/plot_history.py checkpoints/metrics.jsonl --follow")
    p.add_argument("history", help="history.json or metrics.jsonl written by expert-dist train")
    p.add_argument("-o", "--output", help="PNG to write (default: the input path with .png)")
    p.add_argument("--title", help="figure title (default: the preset and rank count from the config)")
    p.add_argument("--follow", action="store_true", help="metrics.jsonl: redraw as rows arrive, until Ctrl-C")
    p.add_argument("--interval", type=float, default=2.0, help="--follow: seconds between looks at the file")
    a = p.parse_args()
    if a.history.endswith(".jsonl"):
        return metrics_main(a)
    if a.follow:
        print("plot_history.py: --follow needs the live log, metrics.jsonl", file=sys.stderr)
        return 2
    try:
        with open(a.history) as f:
            h = json.load(f)
    except (OSError, ValueError) as e:
        print("plot_history.py: %s: %s" % (a.history, e), file=sys.stderr)
        return 1
    if "train_loss" not in h:
        print("plot_history.py: %s: not an expert-dist history (no train_loss)" % a.history, file=sys.stderr)
        return 1
    out = a.output or (a.history[:-5] if a.history.endswith(".json") else a.history) + ".png"

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def clean(xs):
        return [float("nan") if x is None else x for x in xs]

    steps = h.get("steps", {})
    s_step, s_loss, s_lr = steps.get("step", []), clean(steps.get("loss", [])), clean(steps.get("lr", []))
    epochs = h.get("epoch") or list(range(1, len(h["train_loss"]) + 1))

    fig, ax = plt.subplots(2, 2, figsize=(11, 7))
    a0, a1, a2, a3 = ax[0][0], ax[0][1], ax[1][0], ax[1][1]
    from matplotlib.ticker import MaxNLocator
    for a_ in (a0, a1, a2, a3):
        a_.grid(alpha=0.3)
        a_.xaxis.set_major_locator(MaxNLocator(integer=True))
    notes = []
    cfg = h.get("config", {})
    evals = h.get("evals", {})  # every validation by step (histories since checkpoint format 2)
    e_step, e_loss, e_ppl = evals.get("step", []), clean(evals.get("val_loss", [])), clean(evals.get("perplexity", []))
    a0.set_title("loss by step")
    a0.set_xlabel("step")
    a0.set_ylabel("loss (nats/token)")
    a3.set_title("learning rate")
    a3.set_xlabel("step")
    if s_step:
        a0.plot(s_step, s_loss, lw=1.0, color="C0", label="train (per log interval)")
        a3.plot(s_step, s_lr, color="C3")
    else:
        say_empty(a0, "loss by step", "no log row yet", notes)
        say_empty(a3, "learning rate", "no log row yet", notes)
    if e_step:
        a0.plot(e_step, e_loss, "s-", color="C1", label="validation")
    if s_step and e_step:
        a0.legend()
    a1.set_title("loss per epoch")
    a1.set_xlabel("epoch")
    train_l, val_l = clean(h["train_loss"]), clean(h.get("val_loss", []))
    has_val = any(not math.isnan(v) for v in val_l)
    if len(epochs) >= 2:
        a1.plot(epochs, train_l, "o-", label="train")
        if has_val:
            a1.plot(epochs, val_l, "s-", label="validation")
        a1.legend()
    elif len(epochs) == 1:
        # one point is not a curve (and sat on fractional epoch ticks): say its values
        text = "one finished epoch: train loss %.4f" % train_l[0]
        if has_val:
            text += ", validation %.4f" % val_l[0]
        say_empty(a1, "loss per epoch", text + "\n(by step: left)", notes)
    else:
        say_empty(a1, "loss per epoch", "no finished epoch yet", notes)
    ppl = clean(h.get("perplexity", []))
    a2.set_title("validation perplexity")
    if e_step:
        a2.plot(e_step, e_ppl, "s-", color="C2")
        a2.set_xlabel("step")
    elif len(epochs) >= 2 and any(not math.isnan(v) for v in ppl):
        a2.plot(epochs, ppl, "s-", color="C2")
        a2.set_xlabel("epoch")
    elif any(not math.isnan(v) for v in ppl):
        say_empty(a2, "validation perplexity", "one validation: perplexity %.2f" % ppl[0], notes)
    else:
        say_empty(a2, "validation perplexity", no_val_reason(cfg), notes)
    title = a.title or "expert-dist %s (D%s L%s), lr %s" % (cfg.get("preset", "?"), cfg.get("d-model", "?"),
                                                            cfg.get("n-layers", "?"), cfg.get("lr", "?"))
    fig.suptitle(title)
    fig.tight_layout()
    print_notes(notes)
    fig.savefig(out, dpi=100)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
