"""Checkpoints: a model file plus everything needed to use it later or to resume training.

``fit(..., out_dir="runs/mini_resnet")`` keeps three files there:

    best.npz       the weights with the best validation accuracy so far (use this one; with
                   ``fit(ema=...)``, the weight average that was validated)
    last.npz       the latest weights + optimizer state (``extra/optimizer/...``) and, with
                   ``fit(ema=...)``, the weight average (``extra/ema/...``), for resuming
    history.json   the per-epoch numbers (see ``History``)

Both .npz files are ordinary minicnn model files (``minicnn.load(path)``) written atomically
(temporary file, then ``os.replace``), so a crash or Ctrl-C mid-save leaves the old file intact.
Their ``metadata`` holds what a user of the model needs:

    model_name, architecture      how the model was built (``minicnn.models.build``)
    classes                       class names, in output order
    image_size, color, input_shape  what the loader must produce (``minicnn.data.load_image``)
    preprocessing                 ``Standardizer.to_dict()``: the statistics fitted on training data
    epoch, val_accuracy           when this checkpoint was taken, and how good it was
    seed, split, training         how to reproduce it
    history                       (last.npz only) the History, so resuming keeps the curves
"""
import hashlib
import os
import warnings

import numpy as np

from minicnn.serialization import load, load_arrays, load_weights

OPTIMIZER_PREFIX = "optimizer/"
EMA_PREFIX = "ema/"
BEST, LAST, HISTORY = "best.npz", "last.npz", "history.json"


def all_finite(model):
    """True when every parameter and buffer is finite (never checkpoint NaN weights)."""
    arrays = list(model.params.values()) + list(model.buffers.values())
    return all(np.isfinite(a).all() for a in arrays)


def _model_then_path(first, second, name):
    """(model, path) from the arguments of ``name(model, path, ...)``; the old order
    ``name(path, model, ...)`` still works, with a DeprecationWarning."""
    if isinstance(first, (str, os.PathLike)) and not isinstance(second, (str, os.PathLike)):
        warnings.warn(f"{name}(path, model, ...) is deprecated: the model comes first, as in "
                      f"save_model(model, path) and load_weights(model, path); call "
                      f"{name}(model, path, ...)", DeprecationWarning, stacklevel=3)
        return second, first
    return first, second


def save_checkpoint(model, path, metadata=None, optimizer=None, ema=None):
    """Write ``model``, ``metadata`` and the optimizer state and weight average (``WeightEMA``),
    if given, atomically to ``path``."""
    model, path = _model_then_path(model, path, "save_checkpoint")
    if not all_finite(model):
        raise FloatingPointError(f"refusing to write {path}: the model has non-finite weights")
    extra = {}
    for prefix, part in ((OPTIMIZER_PREFIX, optimizer), (EMA_PREFIX, ema)):
        if part is not None:
            extra.update({prefix + k: np.asarray(v) for k, v in part.state_dict().items()})
    model.save(os.fspath(path), metadata=metadata, extra_arrays=extra or None)


def checkpoint_error(path):
    """Why ``path`` is not a checkpoint file to load, in one line; None when it is a file."""
    path = os.fspath(path)
    if os.path.isfile(path):
        return None
    if os.path.isdir(path):
        best = os.path.join(path, BEST)
        hint = f": did you mean {best}?" if os.path.isfile(best) else ""
        return f"checkpoint {path} is a folder, not a file{hint}"
    return f"checkpoint {path} does not exist"


def load_checkpoint(path):
    """``minicnn.load(path)`` with a clear error when the file is missing or is a folder.

    Returns the model; ``model.metadata`` is the checkpoint metadata ({} for a bare model file).
    """
    path = os.fspath(path)
    error = checkpoint_error(path)
    if error:
        raise (IsADirectoryError if os.path.isdir(path) else FileNotFoundError)(error)
    return load(path)


def restore(model, path, optimizer=None, ema=None):
    """Load the weights at ``path`` into ``model``, the optimizer state into ``optimizer`` and
    the weight average into ``ema`` (a ``WeightEMA``), when given.

    Returns the checkpoint metadata.

    Used by ``fit(resume=True)``: the model must have the checkpoint's architecture.
    """
    model, path = _model_then_path(model, path, "restore")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"cannot resume: {path} does not exist (train without resume first)")
    metadata = load_weights(model, path)
    arrays = load_arrays(path) if optimizer is not None or ema is not None else {}
    for prefix, part, what in ((OPTIMIZER_PREFIX, optimizer, "optimizer state"),
                               (EMA_PREFIX, ema, "weight average (ema)")):
        if part is None:
            continue
        prefix = "extra/" + prefix
        state = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        if not state:
            raise ValueError(f"cannot resume from {path}: it holds no {what} "
                             f"(resume from a last.npz written by fit with the same settings)")
        part.load_state_dict({k: (v.item() if v.ndim == 0 else v) for k, v in state.items()})
    return metadata


def snapshot(model, optimizer=None, ema=None):
    """An in-memory copy of every parameter and buffer, and of the optimizer state and weight
    average if given (to roll back an interrupted or diverged epoch)."""
    arrays = {k: v.copy() for k, v in {**model.params, **model.buffers}.items()}
    return arrays, *(None if part is None else part.state_dict() for part in (optimizer, ema))


def rollback(model, saved, optimizer=None, ema=None):
    """Copy a ``snapshot`` back into the model's own arrays (in place), the optimizer and ema."""
    arrays, *states = saved
    for k, v in {**model.params, **model.buffers}.items():
        v[...] = arrays[k]
    for part, state in zip((optimizer, ema), states):
        if part is not None and state is not None:
            part.load_state_dict(state)


def prepare_out_dir(out_dir, overwrite=False):
    """Create ``out_dir`` for a new run, before any training: refuse a folder that already holds
    a run (unless ``overwrite``, which deletes its files) and one that cannot be written."""
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"output folder {out_dir} is a file, not a folder")
    existing = [n for n in (BEST, LAST, HISTORY) if os.path.lexists(os.path.join(out_dir, n))]
    if existing and not overwrite:
        raise ValueError(f"{out_dir} already holds a training run ({', '.join(existing)}): resume "
                         f"it (--resume), give another folder (--out), or replace it (--overwrite)")
    for name in existing:
        os.remove(os.path.join(out_dir, name))
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise OSError(f"cannot create the output folder {out_dir}: {e.strerror or e}") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write to the output folder {out_dir}")


def fingerprint(x, y):
    """What a resumed run must find again: the number of images and a SHA-256 of images + labels."""
    digest = hashlib.sha256(np.ascontiguousarray(x)).hexdigest()
    return {"n": int(len(x)), "sha256": hashlib.sha256(
        (digest + ",".join(map(str, np.asarray(y).tolist()))).encode()).hexdigest()}


#: metadata a resumed run must share with the saved one, and what each stands for
RESUME_MUST_MATCH = {"classes": "classes", "input_shape": "input shape", "seed": "seed",
                     "train_data": "training data", "val_data": "validation data"}


#: settings under metadata["training"] a resumed run must keep, their names, and the value a
#: checkpoint written before the setting existed had (MISSING: not compared when not recorded).
#: The number of epochs and the early-stopping patience may change: they only decide when the
#: run stops.
MISSING = object()
RESUME_TRAINING = (("batch_size", "batch size", MISSING), ("optimizer", "optimizer", MISSING),
                   ("lr_schedule", "learning-rate schedule", MISSING),
                   ("augment", "augmentation", MISSING), ("ema", "weight averaging", None),
                   ("label_smoothing", "label smoothing", 0.0), ("mixup", "mixup", None))


def _differing(old, new):
    """The keys of two dicts (or None) whose values differ, as 'key old -> new' texts."""
    old, new = old or {}, new or {}
    return [f"{k} {old.get(k)!r} then, {new.get(k)!r} now" for k in sorted({*old, *new})
            if old.get(k) != new.get(k)]


def check_resume(saved, current, path):
    """Refuse to resume from ``saved`` metadata when this run (``current``) would silently continue
    on something else: other data, classes, input shape, seed or architecture, another batch size,
    optimizer, learning rate or schedule, augmentation, standardisation, weight averaging, label
    smoothing or mixup. Only what ``saved`` records is compared (older checkpoints record less)."""
    diffs = [f"{what} ({saved[k]!r} then, {current.get(k)!r} now)"
             if k in ("classes", "input_shape", "seed") else what
             for k, what in RESUME_MUST_MATCH.items()
             if k in saved and saved[k] != current.get(k)]
    if saved.get("architecture") is not None:
        diffs += [f"architecture ({d})" for d in _differing(saved["architecture"],
                                                             current.get("architecture"))]
    if saved.get("recipe") is not None:               # minicnn train's optimizer settings
        diffs += [f"recipe ({d})" for d in _differing(saved["recipe"], current.get("recipe"))]
    modes = [(m.get("preprocessing") or {}).get("mode") for m in (saved, current)]
    if "preprocessing" in saved and modes[0] != modes[1]:
        diffs.append(f"standardisation ({modes[0]} then, {modes[1]} now)")
    for key, what, default in RESUME_TRAINING:
        old, new = ((m.get("training") or {}).get(key, default) for m in (saved, current))
        if isinstance(old, str) and isinstance(new, str) and key == "augment":
            continue                   # repr() of a callable without get_config: not comparable
        if old is not MISSING and old != new:
            diffs.append(f"{what} ({key} {old} then, {new} now)")
    if diffs:
        raise ValueError(f"cannot resume from {path}: this run differs in {'; '.join(diffs)}. "
                         f"Resume with the same data and settings, or start a new run elsewhere")
