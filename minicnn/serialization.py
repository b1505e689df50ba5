"""Saving and loading models: one .npz file, no pickle.

File layout (a plain NumPy .npz, i.e. a zip of .npy arrays):

    "__minicnn__"     0-d unicode array holding a JSON string:
                      {"format": "minicnn", "version": 1,
                       "model": {"class": "Sequential", "config": {...nested layer specs...}},
                       "metadata": {...free-form JSON: classes, preprocessing, epoch, ...}}
    "param/<key>"     every entry of model.params   ("param/0.W", "param/3.main.0.W", ...)
    "buffer/<key>"    every entry of model.buffers  ("buffer/1.running_mean", ...)
    "extra/<key>"     optional extra arrays, e.g. optimizer state for resuming training

Files are always read with ``np.load(..., allow_pickle=False)``: a model file cannot run code,
and one holding an object array is rejected. Writes go through ``minicnn.atomic.atomic_write``
(a temporary file renamed over ``path``), so an interrupted save never leaves a half-written file.

    model.save("runs/cnn5/best.npz", metadata={"classes": [...]}, extra_arrays=opt.state_dict())
    model = minicnn.load("runs/cnn5/best.npz")   # model.metadata, model.extra (dict of arrays)
"""
import json
import os

import numpy as np

# Rebuilding a model looks its classes up in LAYER_REGISTRY, which every Layer subclass joins
# when its module is imported; ``import minicnn`` imports all of minicnn's layers and containers.
from minicnn.atomic import atomic_write
from minicnn.layers.base import build_layer, layer_spec

FORMAT, VERSION = "minicnn", 1
HEADER = "__minicnn__"


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"metadata value of type {type(obj).__name__} is not JSON-serialisable")


def save_arrays(path, arrays):
    """Atomically write ``arrays`` (name -> array or number) to an .npz file at exactly ``path``."""
    path = os.fspath(path)
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    for k, a in arrays.items():
        if a.dtype == object:
            raise ValueError(f"array {k!r} has dtype object, which cannot be saved without pickle")
    with atomic_write(path) as f:        # a file object: np.savez adds no ".npz" to the name
        np.savez(f, **arrays)


def load_arrays(path):
    """Read every array of an .npz file into a dict (``allow_pickle=False``)."""
    try:
        with np.load(os.fspath(path), allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except ValueError as e:  # an object array needs pickle: refuse it
        raise ValueError(f"{path}: cannot be read without pickle ({e})") from None


def save_model(model, path, metadata=None, extra_arrays=None):
    """Write ``model`` (config, params, buffers), ``metadata`` and ``extra_arrays`` to ``path``."""
    metadata = {} if metadata is None else metadata
    try:
        header = json.dumps({"format": FORMAT, "version": VERSION, "model": layer_spec(model),
                             "metadata": metadata}, default=_json_default)
    except (TypeError, ValueError) as e:
        raise ValueError(f"cannot save: model config or metadata is not JSON-serialisable ({e})") from None
    arrays = {HEADER: np.array(header)}
    arrays.update({f"param/{k}": v for k, v in model.params.items()})
    arrays.update({f"buffer/{k}": v for k, v in model.buffers.items()})
    arrays.update({f"extra/{k}": v for k, v in (extra_arrays or {}).items()})
    save_arrays(path, arrays)


def _read(path):
    arrays = load_arrays(path)
    if HEADER not in arrays:
        raise ValueError(f"{path}: not a minicnn model file (no {HEADER!r} entry)")
    header = json.loads(str(arrays.pop(HEADER)))
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ValueError(f"{path}: unsupported format {header.get('format')!r} version "
                         f"{header.get('version')!r} (this minicnn reads {FORMAT!r} version {VERSION})")
    return header, arrays


def _assign(model, arrays, path):
    """Copy ``param/``/``buffer/`` arrays into the model's own arrays, checking names and shapes."""
    for kind, targets in (("param", model.params), ("buffer", model.buffers)):
        for k, target in targets.items():
            if f"{kind}/{k}" not in arrays:
                raise ValueError(f"{path}: {kind} {k!r} is missing from the file")
            got = arrays[f"{kind}/{k}"].shape
            if got != target.shape:
                raise ValueError(f"{path}: {kind} {k!r}: file has shape {got}, model expects {target.shape}")
        expected = {f"{kind}/{k}" for k in targets}
        extra = [n for n in arrays if n.startswith(kind + "/") and n not in expected]
        if extra:
            raise ValueError(f"{path}: the file has {kind} {extra[0].split('/', 1)[1]!r}, "
                             f"which the model does not have")
    for kind, targets in (("param", model.params), ("buffer", model.buffers)):
        for k, target in targets.items():
            target[...] = arrays[f"{kind}/{k}"]  # in place: optimizers keep their references


def _extras(arrays):
    return {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("extra/")}


def load(path):
    """Rebuild the model saved at ``path``; sets ``model.metadata`` and ``model.extra``."""
    header, arrays = _read(path)
    try:
        model = build_layer(header["model"])
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    _assign(model, arrays, path)
    model.metadata = header.get("metadata") or {}
    model.extra = _extras(arrays)
    return model


def load_weights(model, path):
    """Load the params and buffers saved at ``path`` into an existing ``model`` (same checks).

    Returns the file's metadata dict. The model's architecture is not rebuilt, only filled in.
    """
    header, arrays = _read(path)
    _assign(model, arrays, path)
    return header.get("metadata") or {}
