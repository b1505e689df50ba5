"""Saving and loading models: one .npz file, no pickle.

File layout (a plain NumPy .npz, i.e. a zip of .npy arrays):

    "__minicnn__"     0-d unicode array holding a JSON string:
                      {"format": "minicnn", "version": 1,
                       "model": {"class": "Sequential", "config": {...nested layer specs...}},
                       "metadata": {...free-form JSON: classes, preprocessing, epoch, ...}}
    "param/<key>"     every entry of model.params   ("param/0.W", "param/3.main.0.W", ...)
    "buffer/<key>"    every entry of model.buffers  ("buffer/1.running_mean", ...)
    "extra/<key>"     optional extra arrays, e.g. optimizer state for resuming training

Files are read with ``minicnn.npz.NpzReader``, never unpickling: a model file cannot run code,
one holding an object array is rejected, and a damaged, truncated or crafted file is a
ValueError that says so. Loading checks before it allocates: the header is at most
MAX_HEADER_CHARS, the model description at most MAX_DEPTH deep, the model is built without
drawing initial weights (``deferred_init``), every array's shape is compared with the model's
from its .npy header alone, members the model does not use are never read, and NaN or infinite
weights are refused. Writes go through ``minicnn.atomic.atomic_write``
(a temporary file renamed over ``path``), so an interrupted save never leaves a half-written file.

    model.save("runs/cnn5/best.npz", metadata={"classes": [...]}, extra_arrays=opt.state_dict())
    model = minicnn.load("runs/cnn5/best.npz")   # model.metadata, model.extra (dict of arrays)
"""
import json
import math
import os

import numpy as np

# Rebuilding a model looks its classes up in LAYER_REGISTRY, which every Layer subclass joins
# when its module is imported; ``import minicnn`` imports all of minicnn's layers and containers.
from minicnn.atomic import atomic_write
from minicnn.layers.base import build_layer, deferred_init, layer_spec
from minicnn.npz import NpzReader

FORMAT, VERSION = "minicnn", 1
HEADER = "__minicnn__"
MAX_HEADER_CHARS = 1 << 22     #: 4 M characters: a header with a long history is ~100 k
MAX_DEPTH = 64                 #: nesting of the model description (a deep ResNet needs ~10)


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
    """Read every array of an .npz file into a dict (no pickle; ValueError for a bad file)."""
    with NpzReader(path, "an .npz file") as f:
        return {name: f.read(name) for name in f.names}


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


def _read_header(f):
    """The JSON header of an open model file, size-bounded and checked -> dict."""
    if HEADER not in f.names:
        raise ValueError(f"{f.path}: not a minicnn model file (no {HEADER!r} entry)")
    shape, dtype = f.header(HEADER)
    if shape != () or dtype.kind != "U" or dtype.itemsize // 4 > MAX_HEADER_CHARS:
        raise ValueError(f"{f.path}: damaged model file (its {HEADER!r} entry is {dtype.str} "
                         f"{shape}, not a JSON string of at most {MAX_HEADER_CHARS} characters)")
    try:
        header = json.loads(str(f.read(HEADER)[()]))
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{f.path}: damaged model file (its header is not JSON: "
                         f"{str(e)[:200]})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{f.path}: damaged model file (its header is a JSON "
                         f"{type(header).__name__}, not an object)")
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ValueError(f"{f.path}: unsupported format {header.get('format')!r} version "
                         f"{header.get('version')!r} (this minicnn reads {FORMAT!r} version {VERSION})")
    if not isinstance(header.get("metadata") or {}, dict):
        raise ValueError(f"{f.path}: damaged model file (its metadata is not a JSON object)")
    return header


def _depth(spec):
    """How deeply the JSON value ``spec`` nests (iteratively: no recursion limit to hit)."""
    deepest, stack = 0, [(spec, 1)]
    while stack:
        value, d = stack.pop()
        deepest = max(deepest, d)
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((v, d + 1) for v in children if isinstance(v, (dict, list)))
    return deepest


def _build(header, path):
    """The model the header describes, with untouched zero weights (``deferred_init``)."""
    spec = header.get("model")
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: damaged model file (no \"model\" description in its header)")
    if _depth(spec) > MAX_DEPTH:
        raise ValueError(f"{path}: the model description nests deeper than {MAX_DEPTH} levels")
    try:
        with deferred_init():
            return build_layer(spec)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError,
            OverflowError, MemoryError) as e:   # what a constructor raises for a crafted config
        raise ValueError(f"{path}: invalid model description ({type(e).__name__}: "
                         f"{str(e)[:300]})") from e


def _assign(model, f):
    """Check every ``param/``/``buffer/`` member against the model by its .npy header (nothing
    read yet), then read each into the model's own arrays and refuse NaN or inf values."""
    targets = {f"{kind}/{k}": a for kind, arrays in (("param", model.params),
                                                      ("buffer", model.buffers))
               for k, a in arrays.items()}
    for name, target in targets.items():
        kind, key = name.split("/", 1)
        if name not in f.names:
            raise ValueError(f"{f.path}: {kind} {key!r} is missing from the file")
        shape, dtype = f.header(name)
        if shape != target.shape:
            raise ValueError(f"{f.path}: {kind} {key!r}: file has shape {shape}, model expects "
                             f"{target.shape}")
        if dtype.kind not in "fiu":
            raise ValueError(f"{f.path}: {kind} {key!r} has dtype {dtype}, not a real number type")
    extra = [n for n in f.names if n.startswith(("param/", "buffer/")) and n not in targets]
    if extra:
        kind, key = extra[0].split("/", 1)
        raise ValueError(f"{f.path}: the file has {kind} {key!r}, which the model does not have")
    for name, target in targets.items():
        value = f.read(name)
        if not np.isfinite(value).all():
            raise ValueError(f"{f.path}: {name.replace('/', ' ', 1)} holds NaN or infinite "
                             f"values: the saved model is broken")
        target[...] = value           # in place: optimizers keep their references


def _extras(f, model):
    """The ``extra/`` arrays, whose total size may not exceed a few times the model's."""
    names = [n for n in f.names if n.startswith("extra/")]
    limit = 4 * sum(a.size for a in {**model.params, **model.buffers}.values()) + 4096
    if sum(math.prod(f.header(n)[0]) for n in names) > limit:
        raise ValueError(f"{f.path}: its extra arrays are far larger than the model itself")
    return {n.split("/", 1)[1]: f.read(n) for n in names}


def load(path):
    """Rebuild the model saved at ``path``; sets ``model.metadata`` and ``model.extra``.

    A file that is not a sound minicnn model file raises ValueError saying so, after reading no
    more of it than needed: the header (at most MAX_HEADER_CHARS), then each array's .npy header,
    which must match the rebuilt model's before any weights are read.
    """
    with NpzReader(path) as f:
        header = _read_header(f)
        model = _build(header, f.path)
        _assign(model, f)
        model.metadata = header.get("metadata") or {}
        model.extra = _extras(f, model)
    return model


def load_weights(model, path):
    """Load the params and buffers saved at ``path`` into an existing ``model`` (same checks).

    Returns the file's metadata dict. The model's architecture is not rebuilt, only filled in.
    """
    with NpzReader(path) as f:
        header = _read_header(f)
        _assign(model, f)
    return header.get("metadata") or {}
