"""A sweep's summary: one row per configuration (mean and spread over its repeats) and a figure.

    rows = aggregate(records)                 # records: minicnn.sweep.runner.read_results(...)
    print(markdown_table(rows, keys))         # best first
    plot(records, keys, "summary.png")        # accuracy against each knob, and against time

A configuration's score is the mean of its repeats' best validation accuracies; the table shows
their standard deviation (``std``, 0 for one repeat) and range, so a difference smaller than the
spread reads as what it is: noise. A configuration with a failed repeat is listed last, failed.
"""
import json
import os

import numpy as np

from minicnn.atomic import write_text


def aggregate(records):
    """Records -> rows {trial, point, status, mean, std, min, max, n, time, error}, best first."""
    by_trial = {}
    for r in records:
        by_trial.setdefault(r["trial"], []).append(r)
    rows = []
    for tid, recs in by_trial.items():
        recs = sorted(recs, key=lambda r: r["repeat"])
        ok = [r for r in recs if r["status"] == "ok"]
        acc = np.array([r["val_accuracy"] for r in ok], dtype=float)
        failed = [r for r in recs if r["status"] != "ok"]
        rows.append({"trial": tid, "point": recs[0]["point"], "n": len(recs),
                     "status": "failed" if failed else "ok",
                     "error": failed[0].get("error") if failed else None,
                     "mean": float(acc.mean()) if len(acc) else None,
                     "std": float(acc.std()) if len(acc) else None,
                     "min": float(acc.min()) if len(acc) else None,
                     "max": float(acc.max()) if len(acc) else None,
                     "time": float(np.mean([r["train_time"] for r in ok])) if ok else None})
    return sorted(rows, key=lambda r: (r["status"] != "ok", -(r["mean"] or 0), r["trial"]))


def _value(v):
    return json.dumps(v) if isinstance(v, (list, dict)) else str(v)


def markdown_table(rows, keys, with_time=True):
    """The rows as a Markdown table (accuracies in %); ``with_time=False`` leaves timing out."""
    head = ["#"] + list(keys) + ["val acc (mean)", "std", "range", "repeats"]
    head += ["train time / run"] if with_time else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(keys) + "---|" + "---:|" * 4
             + ("---:|" if with_time else "")]
    for i, r in enumerate(rows, 1):
        cells = [str(i)] + [_value(r["point"].get(k, "")) for k in keys]
        if r["status"] == "ok":
            cells += [f"{100 * r['mean']:.1f}%", f"{100 * r['std']:.1f}",
                      f"{100 * r['min']:.1f}-{100 * r['max']:.1f}", str(r["n"])]
        else:
            cells += ["failed", "", (r["error"] or "")[:60].replace("|", "/"), str(r["n"])]
        if with_time:
            cells += [f"{r['time']:.0f} s" if r["time"] is not None else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(records, keys, path, baseline=None):
    """Accuracy of every repeat (dots) and mean (bar) against each knob; accuracy vs time.

    baseline: a point (one-at-a-time search); each knob's panel then shows only the runs that
    differ from it in that knob alone, so other knobs' effects do not blur the comparison.
    """
    from minicnn.viz._plot import new_figure, save   # lazy: matplotlib only when plotting
    ok = [r for r in records if r["status"] == "ok"]

    def runs_for(key):
        if baseline is None:
            return ok
        return [r for r in ok if all(r["point"].get(k) == baseline[k] for k in keys if k != key)]
    fig = new_figure(3.2 * (len(keys) + 1), 3.2)
    axes = fig.subplots(1, len(keys) + 1, squeeze=False)[0]
    for ax, key in zip(axes, keys):
        runs = runs_for(key)
        values = sorted({_value(r["point"].get(key)) for r in runs})
        for j, v in enumerate(values):
            acc = [100 * r["val_accuracy"] for r in runs if _value(r["point"].get(key)) == v]
            ax.scatter(np.full(len(acc), j) + np.linspace(-0.15, 0.15, len(acc)), acc, s=12,
                       alpha=0.6, color="tab:blue")
            ax.hlines(np.mean(acc), j - 0.3, j + 0.3, color="tab:red", lw=2)
        ax.set_xticks(range(len(values)), values)
        ax.set_xlabel(key)
        ax.set_ylabel("best val accuracy (%)")
    ax = axes[-1]
    ax.scatter([r["train_time"] for r in ok], [100 * r["val_accuracy"] for r in ok], s=12)
    ax.set_xlabel("training time per run (s)")
    ax.set_ylabel("best val accuracy (%)")
    fig.suptitle(f"{len(ok)} runs; red: mean per value")
    return save(fig, path)


def write_summary(records, config, out_dir):
    """summary.md (the table, with the config) and summary.png in ``out_dir``; returns the text."""
    keys = list(config["space"])
    rows = aggregate(records)
    runs = sum(r["n"] for r in rows)
    # the epochs' own times: a run resumed after a kill spans several processes, and wall_time
    # is only the last one's (a failed run records neither)
    total = sum(r.get("train_time") or 0 for r in records)
    text = (f"# Sweep {config['name']}\n\nstrategy {config['strategy']}, seed {config['seed']}, "
            f"{len(rows)} configurations x {config['repeats']} repeat(s) = {runs} runs, "
            f"{total / 60:.1f} min of training in total.\n\nfixed: `{json.dumps(config['fixed'])}`"
            f"\n\ndata: `{json.dumps(config['data'])}`\n\n{markdown_table(rows, keys)}\n")
    write_text(os.path.join(out_dir, "summary.md"), text)
    if any(r["status"] == "ok" for r in records):
        one_at_a_time = config["strategy"] == "one_at_a_time"
        baseline = {k: v[0] for k, v in config["space"].items()} if one_at_a_time else None
        plot(records, keys, os.path.join(out_dir, "summary.png"), baseline)
    return text
