"""Compare trained runs with each other and with the numbers the student report gives.

    md, png = compare_runs(["runs/cnn5", "runs/mini_vgg", "runs/mini_resnet"], "runs/compare")

Each run folder holds best.npz (its metadata gives the model and its validation accuracy) and
history.json (the training time is the sum of ``epoch_time``). Every number in the table says
where it comes from: minicnn's are validation accuracies of these runs; the report's and the
Kaggle notebooks' are test accuracies on the official Testing split, copied from the report.
"""
import datetime
import os
from pathlib import Path

import numpy as np

from minicnn.atomic import write_text
from minicnn.models import display_name
from minicnn.training import load_checkpoint
from minicnn.training.history import History
from minicnn.viz._plot import new_figure, save

REPORT = "the student report"
CITED = "a Kaggle notebook cited by the report"
#: (model, test accuracy, source), as printed in the report.
PUBLISHED = [("CNN5 (report)", 0.938, REPORT), ("Mini-VGGNet (report)", 0.89, REPORT),
             ("Mini-ResNet (report)", 0.93, REPORT), ("VGG16 (Kaggle)", 0.9287, CITED),
             ("ResNet50 (Kaggle)", 0.77, CITED), ("6-conv CNN (Kaggle)", 0.7674, CITED)]
BAR_COLORS = {"minicnn": "tab:blue", REPORT: "tab:orange", CITED: "tab:gray"}


def checkpoint_of(run):
    """run: a folder holding best.npz, or a checkpoint file. Returns the checkpoint path."""
    path = Path(run)
    path = path / "best.npz" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path} (give a run folder holding best.npz)")
    return path


def _data_name(meta):
    """'the bundled dataset', or the training folder's name ('Training' for a Kaggle root)."""
    source = (meta.get("split") or {}).get("data", "bundled")
    if source == "bundled":
        return "the bundled dataset"
    return "Training" if (Path(source) / "Training").is_dir() else Path(source).name


def summarize_run(run):
    """One table row for a run: name, accuracy, params, flops, seconds, epochs, source, ..."""
    path = checkpoint_of(run)
    model = load_checkpoint(path)
    meta = model.metadata
    if meta.get("val_accuracy") is None and "val_data" in meta and meta["val_data"] is None:
        raise ValueError(f"{path} was trained on every image, with no validation split "
                         f"(--val-fraction 0), so it has no validation accuracy to compare; "
                         f"compare its validated twin, or score it on another folder with "
                         f"minicnn evaluate")
    if meta.get("val_accuracy") is None or not meta.get("input_shape"):
        raise ValueError(f"{path} has no val_accuracy / input_shape in its metadata "
                         f"(compare needs checkpoints written by minicnn train / fit)")
    history = path.parent / "history.json"
    seconds = epochs = None
    if history.is_file():
        h = History.read(history).history
        times = [t for t in h.get("epoch_time", []) if t is not None]
        seconds, epochs = float(sum(times)), len(h.get("loss", []))
    date = datetime.date.fromtimestamp(os.path.getmtime(path)).isoformat()
    shape = tuple(meta["input_shape"])
    n_val = (meta.get("split") or {}).get("n_val")
    return {"name": f"{display_name(meta.get('model_name', path.parent.name))}"
                    f" (minicnn)",
            "accuracy": float(meta["val_accuracy"]), "params": model.num_params(),
            "flops": int(model.flops(shape)), "seconds": seconds, "epochs": epochs,
            "input": "×".join(str(d) for d in shape),
            "split": f"validation{f' (n = {n_val})' if n_val else ''}",
            "source": f"this run ({path}), validation split of {_data_name(meta)}, {date}",
            "kind": "minicnn"}


def _fmt(value, unit):
    if value is None:
        return "–"
    if unit == "s":
        return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min" if value < 7200 \
            else f"{value / 3600:.1f} h"
    return f"{value / 1e6:.2f} M" if value < 1e9 else f"{value / 1e9:.2f} G"


def markdown_table(rows):
    """The comparison as a Markdown table (one line per row) with a note on the splits."""
    lines = ["| model | accuracy | split | input | parameters | FLOPs / image | training time "
             "(epochs) | source |", "|---|---:|---|---|---:|---:|---:|---|"]
    for r in rows:
        time = _fmt(r.get("seconds"), "s") + (f" ({r['epochs']})" if r.get("epochs") else "")
        acc = f"{r['accuracy']:.1%}" if r["kind"] == "minicnn" else f"{100 * r['accuracy']:g}%"
        lines.append(f"| {r['name']} | {acc} | {r['split']} | {r.get('input', '–')} "
                     f"| {_fmt(r.get('params'), 'n')} | {_fmt(r.get('flops'), 'n')} | {time} "
                     f"| {r['source']} |")
    lines += ["", "minicnn's accuracies are on a validation split carved from the Training folder "
              "(the best epoch was chosen on it); the report's and the Kaggle notebooks' are on the "
              "official Testing split, which is not available here. The two are not the same "
              "measurement: compare them with care. FLOPs count a multiply-add as 2."]
    return "\n".join(lines)


def _bars(ax, rows, key, scale, xlabel, fmt):
    rows = [r for r in rows if r.get(key) is not None]
    y = np.arange(len(rows))
    values = [r[key] * scale for r in rows]
    ax.barh(y, values, color=[BAR_COLORS[r["kind"]] for r in rows])
    ax.set_yticks(y, [r["name"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_xlim(0, max(values) * 1.22 if values else 1)
    for yi, v in zip(y, values):
        ax.text(v, yi, " " + fmt.format(v), va="center", fontsize=8)
    ax.grid(axis="x", alpha=0.3)


def plot_comparison(rows, path, title="minicnn runs vs the report"):
    """Accuracy of every row; parameters, FLOPs and training time of the minicnn runs."""
    from matplotlib.patches import Patch  # matplotlib loads on the first figure (see _plot)
    fig = new_figure(12, 6.5)
    fig.suptitle(title)
    (acc, params), (flops, time) = fig.subplots(2, 2)
    _bars(acc, rows, "accuracy", 100, "accuracy (%)", "{:.1f}%")
    acc.set_title("accuracy (minicnn: validation; others: test split)")
    ours = [r for r in rows if r["kind"] == "minicnn"]
    _bars(params, ours, "params", 1e-6, "parameters (millions)", "{:.2f} M")
    params.set_title("parameters")
    _bars(flops, ours, "flops", 1e-9, "GFLOPs per image", "{:.3f}")
    flops.set_title("forward FLOPs per image")
    _bars(time, ours, "seconds", 1 / 60, "minutes", "{:.1f} min")
    time.set_title("training time (all epochs)")
    fig.legend(handles=[Patch(color=BAR_COLORS["minicnn"], label="minicnn (this run, validation)"),
                        Patch(color=BAR_COLORS[REPORT], label="the student report (test)"),
                        Patch(color=BAR_COLORS[CITED], label="Kaggle notebooks cited by the report (test)")],
               loc="outside lower center", ncols=3, fontsize=9)
    return save(fig, path)


def comparison_rows(runs):
    """The table's rows: one per run (``summarize_run``), then the published numbers."""
    rows = [summarize_run(r) for r in runs]
    return rows + [{"name": name, "accuracy": acc, "source": src, "kind": src,
                    "split": "test (the report's)" if src == REPORT else "test (as cited)"}
                   for name, acc, src in PUBLISHED]


def compare_runs(runs, out_dir):
    """Write compare.md (table) and compare.png (bar chart) into out_dir; return both Paths."""
    rows = comparison_rows(runs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = plot_comparison(rows, out / "compare.png")
    md = out / "compare.md"
    write_text(md, "# Model comparison\n\n" + markdown_table(rows) + "\n\n![comparison](compare.png)\n")
    return md, png
