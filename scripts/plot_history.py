#!/usr/bin/python3
"""plot_history.py — draw the curves of an expert-dist history file into a PNG.

Usage: scripts/plot_history.py HISTORY.json [-o OUT.png] [--title TEXT]

Four panels: train loss per log interval with every validation on the same step axis,
train/val loss per epoch, validation perplexity by step, and the learning rate per log
interval. Reads the JSON that `expert-dist
train` writes (<checkpoint-dir>/history.json; format in docs/formats.md). Needs only
matplotlib (Agg backend: no display required)."""
import argparse
import json
import math
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Example: scripts/plot_history.py checkpoints/history.json -o curves.png")
    p.add_argument("history", help="history.json written by expert-dist train")
    p.add_argument("-o", "--output", help="PNG to write (default: the history path with .png)")
    p.add_argument("--title", help="figure title (default: the preset and rank count from the config)")
    a = p.parse_args()
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
    evals = h.get("evals", {})
    e_step, e_loss, e_ppl = evals.get("step", []), clean(evals.get("val_loss", [])), clean(evals.get("perplexity", []))
    a0.plot(s_step, s_loss, lw=1.0, color="C0", label="train (per log interval)")
    if e_step:
        a0.plot(e_step, e_loss, "s-", color="C1", label="validation")
        a0.legend()
    a0.set_title("loss by step")
    a0.set_xlabel("step")
    a0.set_ylabel("loss (nats/token)")
    a1.plot(epochs, clean(h["train_loss"]), "o-", label="train")
    if any(v is not None for v in h.get("val_loss", [])):
        a1.plot(epochs, clean(h["val_loss"]), "s-", label="validation")
    a1.set_title("loss per epoch")
    a1.set_xlabel("epoch")
    a1.legend()
    ppl = clean(h.get("perplexity", []))
    if e_step:
        a2.plot(e_step, e_ppl, "s-", color="C2")
        a2.set_xlabel("step")
    elif any(not math.isnan(v) for v in ppl):  # a history written before "evals" existed
        a2.plot(epochs, ppl, "s-", color="C2")
        a2.set_xlabel("epoch")
    a2.set_title("validation perplexity")
    a3.plot(s_step, s_lr, color="C3")
    a3.set_title("learning rate")
    a3.set_xlabel("step")
    from matplotlib.ticker import MaxNLocator
    for a_ in (a0, a1, a2, a3):
        a_.grid(alpha=0.3)
        a_.xaxis.set_major_locator(MaxNLocator(integer=True))
    cfg = h.get("config", {})
    title = a.title or "expert-dist %s (D%s L%s), lr %s" % (cfg.get("preset", "?"), cfg.get("d-model", "?"),
                                                            cfg.get("n-layers", "?"), cfg.get("lr", "?"))
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
