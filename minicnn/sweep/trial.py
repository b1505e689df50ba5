"""One trial of a sweep: a normal ``fit`` of one configuration on one repeat's split.

    data = Data({"source": "bundled", "image_size": 64, ...}, seed=0)   # loaded once per size
    fields = attempt(settings, data, repeat=0, seed=0, run_dir="runs/sweep/x/trials/t/r0")

``attempt`` turns every failure but Ctrl-C into a record (status "failed", the error and where it
was raised), so a bad configuration or a diverging one does not stop the sweep.
"""
import os
import time
import traceback

from minicnn.data import Augmenter, load_bundled, load_data, split_indices, train_val_split
from minicnn.data.split import duplicate_groups, split_info
from minicnn.models import KNOBS, build
from minicnn.optim import make
from minicnn.training import fit
from minicnn.training.schedules import cosine


class SweepInterrupted(Exception):
    """Ctrl-C during a trial; the trial's checkpoint is saved and it will be resumed."""


class Data:
    """The dataset at each image size (loaded once), its duplicate groups and the splits."""

    def __init__(self, spec, seed):
        self.spec, self.seed, self.cache = spec, seed, {}

    def split(self, image_size, repeat):
        if image_size not in self.cache:
            s = self.spec
            crop = s.get("crop", False)                  # specs older than data.crop lack it
            if s["source"] == "bundled":
                ds = load_bundled()
                if image_size != ds.image_size or crop:
                    what = "crop" if image_size == ds.image_size else f"image_size {image_size}"
                    raise ValueError(f"the bundled data is {ds.image_size}x{ds.image_size}, "
                                     f"already resized; {what} needs data.source = a folder")
            else:
                ds = load_data(s["source"], image_size, s["color"], crop=crop)
            if s["limit"] and s["limit"] < len(ds):                 # a stratified subset
                _, keep = split_indices(ds.labels, s["limit"] / len(ds), seed=self.seed)
                ds = ds.subset(keep)
            self.cache[image_size] = ds, duplicate_groups(ds)    # as leak_free_split: any size
        ds, groups = self.cache[image_size]
        seed = self.seed + repeat
        train, val = train_val_split(ds, self.spec["val_fraction"], seed=seed, groups=groups)
        return train, val, {**split_info(self.spec["val_fraction"], seed, train, val),
                            "data": source_name(self.spec)}


def source_name(spec):
    """The data's name in records: "bundled", or the folder's absolute path."""
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
    optimizer = make_optimizer(model, settings)
    schedule, warmup = settings["schedule"], settings["warmup"]
    if warmup:                                   # as `minicnn train --warmup N`
        if schedule != "cosine":
            raise ValueError(f"warmup is for schedule \"cosine\", got warmup {warmup} with "
                             f"schedule {schedule!r}")
        schedule = cosine(optimizer.lr, settings["epochs"], warmup=warmup)  # checks warmup >= 0
    t0 = time.perf_counter()
    history = fit(model, train, val, epochs=settings["epochs"], batch_size=settings["batch_size"],
                  optimizer=optimizer, lr_schedule=schedule,
                  augment=make_augmenter(settings["augment"], seed), out_dir=run_dir, seed=seed,
                  resume=resume, verbose=verbose, ema=settings["ema"],
                  metadata={"split": split, "recipe": {"schedule": settings["schedule"],
                                                       "warmup": warmup}},
                  label_smoothing=settings["label_smoothing"], mixup=settings["mixup"])
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


def attempt(settings, data, repeat, seed, run_dir, verbose=False):
    """run_trial as a record's fields: status "ok" and the results, or "failed" and the error.

    Only an interruption (Ctrl-C) is raised: SweepInterrupted, or KeyboardInterrupt outside fit.
    """
    try:
        return {"status": "ok", **run_trial(settings, data, repeat, seed, run_dir, verbose)}
    except SweepInterrupted:
        raise
    except Exception as e:                   # a bad configuration, NaN, ...: record, go on
        return {"status": "failed", "error": f"{type(e).__name__}: {e}",
                "where": traceback.format_exc(limit=-1).strip().splitlines()[-2].strip()}
