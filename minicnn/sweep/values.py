"""A sweep config's values, checked when it is loaded: a value that every trial would fail on is
refused before any training, in a message that names its key.

    check_fixed(config["fixed"], varied=config["space"])   # fixed.epochs must be a whole ...
    check_data(config["data"])                             # data.source '/x' does not exist; ...

Only the [fixed] values that no [space] setting replaces are checked here. A [space] choice that
cannot train (an even kernel size, an unknown optimizer) fails its own trial, which is recorded as
failed while the sweep goes on. The rules are those of ``minicnn train``'s options.
"""
import math
import os

from minicnn.data import COLORS, Augmenter
from minicnn.data.mixup import check_mixup
from minicnn.losses import check_label_smoothing
from minicnn.optim import DEFAULT_LR
from minicnn.training.schedules import SCHEDULES


def whole(v):
    """An int that is not a bool (TOML and JSON have no other whole numbers)."""
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _one_of(choices):
    return lambda v: isinstance(v, str) and v in choices


def _passes(check):
    """A test from one of the library's own checks (which raise ValueError on a bad value)."""
    def test(v):
        try:
            check(v)
        except ValueError:
            return False
        return True
    return test


#: setting -> (test, what a value must be). None is JSON's null (TOML has none: leave the key out).
FIXED = {
    "image_size": (lambda v: whole(v) and v >= 1, "a whole number of pixels >= 1"),
    "epochs": (lambda v: whole(v) and v >= 1, "a whole number >= 1"),
    "batch_size": (lambda v: whole(v) and v >= 1, "a whole number >= 1"),
    "optimizer": (_one_of(DEFAULT_LR), f"one of {', '.join(DEFAULT_LR)}"),
    "lr": (lambda v: v is None or _number(v) and v > 0,
           "a number > 0 (or left out: the optimizer's default)"),
    "momentum": (lambda v: _number(v) and 0 <= v < 1, "a number in [0, 1)"),
    "weight_decay": (lambda v: _number(v) and v >= 0, "a number >= 0"),
    "schedule": (_one_of(SCHEDULES), f"one of {', '.join(SCHEDULES)}"),
    "warmup": (lambda v: whole(v) and v >= 0, "a whole number of epochs >= 0"),
    "augment": (lambda v: isinstance(v, (bool, dict)),
                "true, false or a table of Augmenter arguments"),
    "ema": (lambda v: v is None or _number(v) and 0 < v < 1,
            "a decay between 0 and 1, e.g. 0.999 (or left out: none)"),
    "label_smoothing": (_passes(check_label_smoothing), "a number in [0, 1)"),
    "mixup": (_passes(check_mixup), "a Beta parameter alpha > 0, e.g. 0.2 (or left out: none)"),
}
DATA = {
    "source": (lambda v: isinstance(v, str) and v != "",
               "\"bundled\" or a class-per-folder directory"),
    "image_size": (lambda v: v is None or whole(v) and v >= 1, "a whole number of pixels >= 1"),
    "color": (_one_of(COLORS), f"one of {', '.join(COLORS)}"),
    "limit": (lambda v: v is None or whole(v) and v >= 1,
              "a whole number of images >= 1 (or left out: every image)"),
    "val_fraction": (lambda v: _number(v) and 0 < v < 1,
                     "a number in (0, 1): trials are scored on the validation split"),
    "crop": (lambda v: isinstance(v, bool), "true or false"),
}


def _check(table, values, rules, skip=()):
    for key, (test, what) in rules.items():
        if key in values and key not in skip and not test(values[key]):
            raise ValueError(f"{table}.{key} must be {what}, got {values[key]!r}")


def check_fixed(fixed, varied=()):
    """Refuse a [fixed] value that every trial would fail on (keys in ``varied`` are skipped)."""
    _check("fixed", fixed, FIXED, skip=varied)
    both_fixed = not {"warmup", "schedule"} & set(varied)
    if both_fixed and fixed["warmup"] and fixed["schedule"] != "cosine":
        raise ValueError(f"fixed.warmup is for schedule = \"cosine\", got warmup {fixed['warmup']} "
                         f"with schedule {fixed['schedule']!r}")
    if "augment" not in varied and isinstance(fixed["augment"], dict):
        try:
            Augmenter(**fixed["augment"])
        except (TypeError, ValueError) as e:                 # an unknown or out-of-range key
            raise ValueError(f"fixed.augment: {e}") from None


def check_data(data):
    """Refuse a [data] value that no trial could load: a bad type or range, a missing folder."""
    _check("data", data, DATA)
    source = data["source"]
    if source != "bundled" and not os.path.isdir(source):
        what = "is not a folder" if os.path.exists(source) else "does not exist"
        raise ValueError(f"data.source {source!r} {what}; give \"bundled\" or a class-per-folder "
                         f"directory")
