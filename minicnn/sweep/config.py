"""Sweep configuration: read a TOML or JSON file, check it, and list the trials it asks for.

    name = "cnn5_report_search"      # the study's name (and the Optuna study name)
    strategy = "grid"                # grid | random | one_at_a_time | optuna
    trials = 12                      # the budget: at most this many configurations
    seed = 0                         # sampling seed; repeat r uses split and weights seed + r
    repeats = 2                      # each configuration on this many splits/seeds (mean +- std)

    [data]                           # source: "bundled" or a class-per-folder directory
    source = "bundled"
    image_size = 64
    limit = 1500                     # optional: a stratified subset, for quick budgets
    crop = false                     # optional: cut scans to the head (a folder source only)
    val_fraction = 0.2

    [fixed]                          # every trial's settings (the defaults of minicnn train)
    model = "cnn5"
    epochs = 3

    [space]                          # what varies: a list of choices, or a range for
    kernel_size = [3, 5]             #   random / optuna: {low = 1e-4, high = 1e-2, log = true}
    width = [0.5, 1.0, 2.0]
    optimizer = ["adam", "sgd", "rmsprop"]

``one_at_a_time`` is the report's way of searching: the baseline takes the first choice of every
knob, then each knob is varied alone. A trial's settings are ``fixed`` updated by its point of
``space``; ``TRIAL_KEYS`` lists the settings a trial understands.

A trial reads the images at its ``image_size``, which is also the model's input: ``data.image_size``
and ``fixed.image_size`` name that one size, so either sets both, and two different values are
refused (as is ``data.image_size`` beside a ``space.image_size``). Values that every trial would
fail on (``fixed.epochs = -1``, a missing ``data.source``) are refused here too
(``minicnn.sweep.values``).
"""
import hashlib
import itertools
import json
import os

import numpy as np

from minicnn.models import KNOBS, MODEL_NAMES
from minicnn.sweep.values import check_data, check_fixed, whole

STRATEGIES = ("grid", "random", "one_at_a_time", "optuna")
#: Training settings of a trial (beside the model knobs) and their defaults.
TRAINING = {"model": "cnn5", "image_size": 64, "epochs": 3, "batch_size": 32, "optimizer": "adam",
            "lr": None, "momentum": 0.9, "weight_decay": 0.0, "schedule": "cosine",
            "warmup": 0, "augment": True, "ema": None, "label_smoothing": 0.0,
            "mixup": None}
TRIAL_KEYS = tuple(TRAINING) + KNOBS
DATA = {"source": "bundled", "image_size": 64, "color": "grayscale", "limit": None,
        "val_fraction": 0.2, "crop": False}
TOP = ("name", "strategy", "trials", "seed", "repeats")      # and the tables data, fixed, space
_HINT = (f" (top-level keys, {', '.join(TOP)}, go above the first [table] header: in TOML a "
         f"key belongs to the table above it)")


def read_file(path):
    """A TOML (.toml) or JSON file -> dict. TOML needs Python 3.11+ (tomllib) or ``tomli``."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"sweep config {path} is a directory, not a file")
    if not os.path.isfile(path):
        raise ValueError(f"sweep config {path} does not exist")
    if not path.endswith((".json", ".toml")):
        raise ValueError(f"sweep config {path}: expected a .toml or .json file")
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            return _parse(path, json.load, f)
    try:
        import tomllib as toml  # lazy: stdlib on Python 3.11+ only
    except ImportError:
        try:
            import tomli as toml  # lazy: optional backport for Python < 3.11
        except ImportError:
            raise ValueError(f"reading {path} needs Python 3.11+ or `pip install tomli`; "
                             f"or write the config as JSON") from None
    with open(path, "rb") as f:
        return _parse(path, toml.load, f)


def _parse(path, parse, f):
    """parse(f), with a syntax error (a ValueError, or bytes that are not UTF-8) naming the file."""
    try:
        return parse(f)
    except ValueError as e:
        raise ValueError(f"sweep config {path}: {e}") from None


def _check_range(key, spec):
    if not (isinstance(spec, dict) and {"low", "high"} <= set(spec) and spec["low"] < spec["high"]):
        raise ValueError(f"space.{key}: expected a non-empty list of choices or a range "
                         f"{{low = ..., high = ..., log = false}}, got {spec!r}")


def check(config):
    """Validate a config dict and fill in defaults; returns a new dict."""
    if not isinstance(config, dict) or not all(isinstance(config.get(k, {}), dict)
                                               for k in ("data", "fixed", "space")):
        raise ValueError(f"a sweep config is a table (JSON object) whose data, fixed and space "
                         f"are tables too; got {type(config).__name__}")
    unknown = sorted(set(config) - set(TOP) - {"data", "fixed", "space"})
    if unknown:
        raise ValueError(f"unknown top-level key(s) {', '.join(unknown)}; a sweep config takes "
                         f"{', '.join(TOP)} and the tables [data], [fixed], [space]")
    for table, allowed in (("fixed", TRIAL_KEYS), ("space", TRIAL_KEYS), ("data", tuple(DATA))):
        bad = sorted(set(config.get(table, {})) - set(allowed))
        if bad:
            raise ValueError(f"unknown {'data' if table == 'data' else 'trial'} setting(s) "
                             f"{', '.join(bad)} in [{table}], which takes {', '.join(allowed)}"
                             f"{_HINT if set(bad) & set(TOP) else ''}")
    for key, low in (("seed", 0), ("repeats", 1), ("trials", 1)):
        value = config.get(key, {"seed": 0, "repeats": 1}.get(key))
        if not (key == "trials" and value is None or whole(value) and value >= low):
            raise ValueError(f"{key} must be a whole number >= {low}, got {value!r}")
    c = {"name": str(config.get("name", "sweep")), "strategy": config.get("strategy", "grid"),
         "trials": config.get("trials"), "seed": config.get("seed", 0),
         "repeats": config.get("repeats", 1), "data": {**DATA, **config.get("data", {})},
         "fixed": {**TRAINING, **config.get("fixed", {})}, "space": dict(config.get("space", {}))}
    if c["strategy"] not in STRATEGIES:
        raise ValueError(f"strategy: expected one of {', '.join(STRATEGIES)}, got {c['strategy']!r}")
    size = _image_size(config.get("data", {}), config.get("fixed", {}), c["space"])
    c["data"]["image_size"] = size
    c["fixed"]["image_size"] = c["fixed"]["image_size"] if size is None else size
    check_data(c["data"])
    check_fixed(c["fixed"], varied=c["space"])
    if not c["space"]:
        raise ValueError("the sweep's [space] is empty: give at least one setting to vary")
    for key, spec in c["space"].items():
        if isinstance(spec, list):
            if not spec:
                raise ValueError(f"space.{key}: the list of choices is empty")
        elif c["strategy"] in ("random", "optuna"):
            _check_range(key, spec)
        else:
            raise ValueError(f"space.{key}: strategy {c['strategy']} needs a list of choices, "
                             f"got {spec!r}")
    for name in [c["fixed"]["model"]] + list(c["space"].get("model", [])):
        if name not in MODEL_NAMES:
            raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    return c


def _image_size(data, fixed, space):
    """The one size a trial reads the images at and the model takes: None when [space] varies it.

    (A config already checked, say written back as JSON, has data.image_size null in that case.)
    """
    given = {f"{t}.image_size = {v['image_size']!r}": v["image_size"]
             for t, v in (("data", data), ("fixed", fixed)) if v.get("image_size") is not None}
    if "image_size" in space:
        if data.get("image_size") is not None:
            raise ValueError("data.image_size and space.image_size: each trial reads the images at "
                             "its own image_size (the model's input); leave data.image_size out")
        return None
    if len(given) == 2 and data["image_size"] != fixed["image_size"]:
        raise ValueError(f"{' and '.join(given)} disagree: both name the size the images are read "
                         f"at, which is the model's input; give one of them (or the same value)")
    return next(iter(given.values()), TRAINING["image_size"])


def load(path):
    """Read and check a sweep config file."""
    return check(read_file(path))


def _sample(spec, rng):
    if isinstance(spec, list):
        return spec[int(rng.integers(len(spec)))]
    low, high = spec["low"], spec["high"]
    if isinstance(low, int) and isinstance(high, int) and not spec.get("log"):
        return int(rng.integers(low, high + 1))
    if spec.get("log"):
        return float(np.exp(rng.uniform(np.log(low), np.log(high))))
    return float(rng.uniform(low, high))


def points(config):
    """The space's points, in order, for grid / random / one_at_a_time (optuna asks as it goes).

    Duplicates are dropped (a random draw that repeats, the one-at-a-time baseline); the list is
    cut to ``trials``. Each point is a dict {setting: value} over the keys of ``space``.
    """
    space, strategy, budget = config["space"], config["strategy"], config["trials"]
    if strategy == "grid":
        keys = list(space)
        pts = [dict(zip(keys, values)) for values in itertools.product(*space.values())]
    elif strategy == "one_at_a_time":
        base = {k: v[0] for k, v in space.items()}
        pts = [base] + [{**base, k: v} for k, values in space.items() for v in values[1:]]
    elif strategy == "random":
        rng = np.random.default_rng(config["seed"])
        pts, n = [], budget or 10
        for _ in range(100 * n):
            p = {k: _sample(spec, rng) for k, spec in space.items()}
            if p not in pts:
                pts.append(p)
            if len(pts) == n:
                break
    else:
        raise ValueError("optuna trials are asked from the study, not listed in advance")
    unique = []
    for p in pts:
        if p not in unique:
            unique.append(p)
    return unique[:budget] if budget else unique


def trial_settings(config, point):
    """fixed, updated by the point: everything one trial needs."""
    return {**config["fixed"], **point}


def trial_id(point):
    """A stable, readable folder name for a point: 'kernel_size=5,width=0.5-1a2b3c4d'."""
    text = ",".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in sorted(point.items()))
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]           # unique even when cut short
    return "".join(ch if ch.isalnum() or ch in "=,.-_" else "_" for ch in text)[:80] + "-" + digest
