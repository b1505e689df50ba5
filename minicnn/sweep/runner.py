"""Running a sweep: every trial a normal ``fit`` in its own folder, results streamed to JSON lines.

    result = run_sweep(load("examples/sweep_cnn5.toml"), "runs/sweep/cnn5")

Folder layout:

    <out>/results.jsonl          one line per finished (configuration, repeat): settings, status
                                 ("ok" or "failed" with the error), best val_accuracy, time
    <out>/trials/<id>/r<k>/      the run folder of repeat k (best.npz, last.npz, history.json)
    <out>/summary.md, .png       the table and the figure (``minicnn.sweep.report``)
    <out>/optuna.db              the Optuna study (strategy "optuna", default storage)

Resuming: a configuration-repeat with a line in results.jsonl is never run again; one that was
killed mid-way continues from its last.npz (``fit(resume=True)``). Ctrl-C inside a trial stops
the sweep with the trial's progress saved; nothing is recorded for it, so the next run finishes
it. A trial that raises (a bad configuration) or diverges (NaN) is recorded as failed and the
sweep goes on. Repeat k uses seed + k for the split and the weights: each configuration's
accuracy is the mean over its repeats, with their spread.
"""
import json
import os
import time
import traceback

import numpy as np

from minicnn.data import Augmenter, load_bundled, load_data, split_indices, train_val_split
from minicnn.data.split import duplicate_groups, split_info
from minicnn.models import KNOBS, build
from minicnn.optim import make
from minicnn.sweep import config as cfg
from minicnn.sweep.report import write_summary
from minicnn.training import fit

RESULTS = "results.jsonl"


class SweepInterrupted(Exception):
    """Ctrl-C during a trial; the trial's checkpoint is saved and it will be resumed."""


def read_results(path):
    """The records of results.jsonl, the last one per (trial, repeat); a torn last line is skipped."""
    records = {}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    continue                      # a line cut short by a kill
                records[(r["trial"], r["repeat"])] = r
    return list(records.values())


def append_result(path, record):
    """Append one JSON line and flush it to disk before going on."""
    torn = False
    if os.path.isfile(path) and os.path.getsize(path):
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"             # a kill mid-line: start on a fresh line
    with open(path, "a", encoding="utf-8") as f:
        f.write(("\n" if torn else "") + json.dumps(record, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


class Data:
    """The dataset at each image size (loaded once), its duplicate groups and the splits."""

    def __init__(self, spec, seed):
        self.spec, self.seed, self.cache = spec, seed, {}

    def split(self, image_size, repeat):
        if image_size not in self.cache:
            s = self.spec
            if s["source"] == "bundled":
                ds = load_bundled()
                if image_size != ds.image_size:
                    raise ValueError(f"the bundled data is {ds.image_size}x{ds.image_size}; "
                                     f"image_size {image_size} needs data.source = a folder")
            else:
                ds = load_data(s["source"], image_size, s["color"])
            if s["limit"] and s["limit"] < len(ds):                 # a stratified subset
                _, keep = split_indices(ds.labels, s["limit"] / len(ds), seed=self.seed)
                ds = ds.subset(keep)
            self.cache[image_size] = ds, duplicate_groups(ds)    # as leak_free_split: any size
        ds, groups = self.cache[image_size]
        seed = self.seed + repeat
        train, val = train_val_split(ds, self.spec["val_fraction"], seed=seed, groups=groups)
        return train, val, {**split_info(self.spec["val_fraction"], seed, train, val),
                            "data": _source_name(self.spec)}


def _source_name(spec):
    return "bundled" if spec["source"] == "bundled" else os.path.abspath(spec["source"])


def make_optimizer(model, s):
    """The trial's optimizer: adam (AdamW decay), sgd (with momentum) or rmsprop.

    Without an ``lr`` each takes its Keras default (``minicnn.optim.DEFAULT_LR``): 1e-2 for SGD.
    """
    return make(s["optimizer"], model, lr=s["lr"], momentum=s["momentum"],
                weight_decay=s["weight_decay"])


def make_augmenter(augment, seed):
    """True: Augmenter's defaults (flip, 10% shift, 10 degree rotation); a dict: Augmenter(**dict)."""
    if augment is True:
        return Augmenter(rng=seed)
    return Augmenter(**augment, rng=seed) if isinstance(augment, dict) and augment else None


def run_trial(settings, data, repeat, seed, run_dir, verbose=False):
    """One fit of ``settings`` on repeat ``repeat``'s split; returns the record's result fields."""
    train, val, split = data.split(settings["image_size"], repeat)
    knobs = {k: settings[k] for k in KNOBS if k in settings}
    model = build(settings["model"], input_shape=train.images.shape[1:],
                  num_classes=len(train.classes), seed=seed, **knobs)
    resume = os.path.isfile(os.path.join(run_dir, "last.npz"))
    t0 = time.perf_counter()
    history = fit(model, train, val, epochs=settings["epochs"], batch_size=settings["batch_size"],
                  optimizer=make_optimizer(model, settings), lr_schedule=settings["schedule"],
                  augment=make_augmenter(settings["augment"], seed), out_dir=run_dir, seed=seed,
                  resume=resume, verbose=verbose, metadata={"split": split}, ema=settings["ema"],
                  label_smoothing=settings["label_smoothing"])
    if history.stop_reason == "interrupted":
        raise SweepInterrupted(history.message)
    h = history.history
    times = [t for t in h["epoch_time"] if t is not None]
    out = {"val_accuracy": max(h["val_accuracy"]) if h["val_accuracy"] else None,
           "best_epoch": history.best_epoch, "epochs_run": history.epochs,
           "train_time": float(sum(times)), "wall_time": time.perf_counter() - t0,
           "params": model.num_params()}
    if history.stop_reason == "non_finite_loss":
        raise FloatingPointError(history.message)
    return out


def evaluate_point(point, config, data, out_dir, done, log, verbose=False):
    """Run every repeat of ``point`` not in ``done``; append records; return the point's records."""
    tid = cfg.trial_id(point)
    settings = cfg.trial_settings(config, point)
    records = []
    for r in range(config["repeats"]):
        if (tid, r) in done:
            records.append(done[(tid, r)])
            continue
        run_dir = os.path.join(out_dir, "trials", tid, f"r{r}")
        record = {"trial": tid, "repeat": r, "seed": config["seed"] + r, "point": point,
                  "settings": settings, "run_dir": os.path.relpath(run_dir, out_dir)}
        try:
            record.update(status="ok", **run_trial(settings, data, r, config["seed"] + r,
                                                   run_dir, verbose))
        except SweepInterrupted:
            raise
        except Exception as e:               # a bad configuration, NaN, ...: record, go on
            record.update(status="failed", error=f"{type(e).__name__}: {e}",
                          where=traceback.format_exc(limit=-1).strip().splitlines()[-2].strip())
        append_result(os.path.join(out_dir, RESULTS), record)
        done[(tid, r)] = record
        records.append(record)
        log(record)
    return records


def point_score(records):
    """Mean best val_accuracy over a point's repeats; None when any repeat failed."""
    if not records or any(r["status"] != "ok" for r in records):
        return None
    return float(np.mean([r["val_accuracy"] for r in records]))


def run_sweep(config, out_dir, storage=None, verbose=False, log=print):
    """Run (or resume) the sweep described by ``config`` (``minicnn.sweep.config.check``'d).

    Returns the list of records (results.jsonl). Raises SweepInterrupted on Ctrl-C in a trial;
    the summary is written in every case.
    """
    os.makedirs(out_dir, exist_ok=True)
    done = {(r["trial"], r["repeat"]): r for r in read_results(os.path.join(out_dir, RESULTS))}
    data = Data(config["data"], config["seed"])
    try:
        if config["strategy"] == "optuna":
            from minicnn.sweep.tpe import run_optuna   # lazy: Optuna is an optional extra
            run_optuna(config, out_dir, storage, lambda point: point_score(
                evaluate_point(point, config, data, out_dir, done, log, verbose)), log)
        else:
            pts = cfg.points(config)
            for i, point in enumerate(pts, 1):
                log(f"[{i}/{len(pts)}] {cfg.trial_id(point).rsplit('-', 1)[0]}")
                evaluate_point(point, config, data, out_dir, done, log, verbose)
    finally:
        write_summary(read_results(os.path.join(out_dir, RESULTS)), config, out_dir)
    return read_results(os.path.join(out_dir, RESULTS))
