"""Checkpoints: a model file plus everything needed to use it later or to resume training.

``fit(..., out_dir="runs/mini_resnet")`` keeps three files there:

    best.npz       the weights with the best validation accuracy so far (use this one)
    last.npz       the latest weights + optimizer state (``extra/optimizer/...``), for resuming
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
import os
import warnings

import numpy as np

from minicnn.serialization import load, load_arrays, load_weights

OPTIMIZER_PREFIX = "optimizer/"
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


def save_checkpoint(model, path, metadata=None, optimizer=None):
    """Write ``model``, ``metadata`` and the optimizer state (if given) atomically to ``path``."""
    model, path = _model_then_path(model, path, "save_checkpoint")
    if not all_finite(model):
        raise FloatingPointError(f"refusing to write {path}: the model has non-finite weights")
    extra = None
    if optimizer is not None:
        extra = {OPTIMIZER_PREFIX + k: np.asarray(v) for k, v in optimizer.state_dict().items()}
    model.save(os.fspath(path), metadata=metadata, extra_arrays=extra)


def load_checkpoint(path):
    """``minicnn.load(path)`` with a clear error when the file is missing.

    Returns the model; ``model.metadata`` is the checkpoint metadata ({} for a bare model file).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    return load(path)


def restore(model, path, optimizer=None):
    """Load the weights at ``path`` into ``model`` and the optimizer state into ``optimizer``.

    Returns the checkpoint metadata.

    Used by ``fit(resume=True)``: the model must have the checkpoint's architecture.
    """
    model, path = _model_then_path(model, path, "restore")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"cannot resume: {path} does not exist (train without resume first)")
    metadata = load_weights(model, path)
    if optimizer is not None:
        prefix = "extra/" + OPTIMIZER_PREFIX
        state = {k[len(prefix):]: v for k, v in load_arrays(path).items() if k.startswith(prefix)}
        if not state:
            raise ValueError(f"cannot resume from {path}: it holds no optimizer state "
                             f"(resume from a last.npz written by fit)")
        state = {k: (v.item() if v.ndim == 0 else v) for k, v in state.items()}
        optimizer.load_state_dict(state)
    return metadata


def snapshot(model):
    """An in-memory copy of every parameter and buffer (to roll back a diverged epoch)."""
    return {k: v.copy() for k, v in {**model.params, **model.buffers}.items()}


def rollback(model, saved):
    """Copy a ``snapshot`` back into the model's own arrays, in place."""
    for k, v in {**model.params, **model.buffers}.items():
        v[...] = saved[k]
