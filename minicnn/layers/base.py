"""The contract every minicnn layer keeps.

A layer is a class with two methods and three dicts:

    y  = layer.forward(x, training=False)   # remembers what backward needs in self.cache
    dx = layer.backward(dout)                # fills self.grads, returns dL/dx of that forward

    layer.params   {"W": array, "b": array}  trainable arrays, updated in place by optimizers
    layer.grads    same keys as params       overwritten (never accumulated) by each backward
    layer.buffers  {"running_mean": ...}     state that is saved but not trained

Rules (``tests/helpers.py: check_contract`` holds every layer and container to them):
- Data is NCHW. Every constructor takes ``dtype`` (default float32); with float64 the
  parameters, buffers and arithmetic are float64 (the gradient checks need it). Input of the
  other float dtype is converted: output, dx and grads are always in the layer's dtype.
- ``backward(dout)`` is the exact gradient of the last ``forward``, in whichever mode it ran:
  training (batch statistics, dropout masks) or inference (BatchNorm2D and Dropout are then
  fixed affine maps, and that is what backward differentiates; Grad-CAM relies on it). The
  cache holds references, not copies: activations stay alive until the next forward. Under
  ``with minicnn.no_grad():`` forward keeps no cache (prediction without that memory).
- ``backward`` never writes into ``dout``, into ``x`` or into anything ``forward`` cached, so it
  can run twice with the same answer. It overwrites ``grads`` (never accumulates) in the same
  arrays: ``grads`` and ``params`` keep their identity, as optimizers hold them.
- ``from_config(get_config())`` rebuilds the layer; ``minicnn.load`` of a saved one gives the same
  outputs.
- Bad input raises ``ValueError`` saying what was expected and what came; ``backward`` before
  any ``forward`` (or after one under ``no_grad``) raises ``BackwardError``.
- The arithmetic of Conv2D, BatchNorm2D and MaxPool2D runs in the kernels selected with
  ``minicnn.kernels.use`` ("fast" Numba by default, or the "reference" NumPy to read).
"""
import contextlib
import contextvars

import numpy as np

_RECORDING = contextvars.ContextVar("minicnn_recording", default=True)
_FREEING = contextvars.ContextVar("minicnn_free_after_backward", default=False)

#: Every Layer subclass, by class name; ``minicnn.load`` rebuilds models from it. A name belongs
#: to one class: a second class called ``Dense`` is refused (it would silently change what every
#: later ``load`` builds). Defining the same class again (same module and qualified name, e.g. a
#: re-run script or a class inside a function) replaces the old definition.
LAYER_REGISTRY = {}


def register_layer(cls):
    """Add ``cls`` to LAYER_REGISTRY under its class name (every Layer subclass does, on creation)."""
    name, old = cls.__name__, LAYER_REGISTRY.get(cls.__name__)
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"a layer class named {name!r} is already registered "
                         f"({old.__module__}.{old.__qualname__}); {cls.__module__}.{cls.__qualname__} "
                         f"needs another name, since minicnn.load finds layer classes by name")
    LAYER_REGISTRY[name] = cls
    return cls


class BackwardError(RuntimeError, ValueError):
    """``backward`` was called when it cannot run: no forward yet, or only under ``no_grad``."""


class no_grad:
    """``with minicnn.no_grad():`` forwards keep no backward cache, as in PyTorch: prediction
    without holding every activation until the next forward. Per thread, like kernels.use."""

    def __enter__(self):
        self._token = _RECORDING.set(False)
        return self

    def __exit__(self, *exc):
        _RECORDING.reset(self._token)


class free_after_backward:
    """``with minicnn.free_after_backward(): model.backward(dout)``: every container drops a
    child's cache (``Layer.drop_cache``) as soon as that child's backward is done, so the
    forward's activations are freed layer by layer while backward runs, as PyTorch frees its
    saved tensors; a second backward then needs a new forward. ``fit`` trains this way (it
    lowers the peak memory of a step: the early layers' large gradients no longer sit beside
    every later layer's activations). Outside it, backward keeps every cache and can run
    again. Per thread, like ``no_grad``."""

    def __enter__(self):
        self._token = _FREEING.set(True)
        return self

    def __exit__(self, *exc):
        _FREEING.reset(self._token)


def freeing_caches():
    """True inside ``free_after_backward()`` (containers ask before dropping a child's cache)."""
    return _FREEING.get()


def as_dtype(dtype):
    """Return ``np.dtype(dtype)``, allowing only float32 and float64."""
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


def build_layer(spec):
    """Rebuild a layer from ``{"class": name, "config": {...}}`` (the form ``layer_spec`` writes)."""
    if not isinstance(spec, dict) or "class" not in spec:
        raise ValueError(f"a layer spec is a dict with 'class' and 'config', got {spec!r}")
    cls = LAYER_REGISTRY.get(spec["class"])
    if cls is None:
        raise ValueError(f"unknown layer class {spec['class']!r} (known: {', '.join(sorted(LAYER_REGISTRY))})")
    return cls.from_config(dict(spec.get("config", {})))


def layer_spec(layer):
    """``{"class": name, "config": layer.get_config()}``: JSON-friendly, ``build_layer`` inverts it."""
    return {"class": type(layer).__name__, "config": layer.get_config()}


_DEFERRED = contextvars.ContextVar("minicnn_deferred_init", default=False)  # per thread/task


@contextlib.contextmanager
def deferred_init():
    """Build layers without initial values: inside this context ``_add_param``/``_add_buffer``
    given a function make untouched zeros of the right shape instead of calling it (no random
    draw; the operating system maps the memory only when it is written). ``minicnn.load`` builds
    a model this way, then checks the file's arrays against it before reading any, so a small
    file declaring a huge model costs nothing."""
    token = _DEFERRED.set(True)
    try:
        yield
    finally:
        _DEFERRED.reset(token)


class Layer:
    """Base class: holds params/grads/buffers and the input checks every layer shares."""

    #: False when nothing needs dL/dx (``fit`` sets it on a model's first layer). A layer that can
    #: skip computing dx (Conv2D) then returns None from ``backward``; the others ignore it.
    needs_input_grad = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        register_layer(cls)

    def __init__(self, dtype=np.float32):
        self.dtype = as_dtype(dtype)
        self.params = {}
        self.grads = {}
        self.buffers = {}
        self.cache = None

    # ---- the two methods a layer implements -------------------------------------------
    def forward(self, x, training=False):
        raise NotImplementedError

    def backward(self, dout):
        raise NotImplementedError

    def drop_cache(self):
        """Forget what forward kept for backward. Under ``free_after_backward()`` a container
        calls it on each child once that child's backward is done."""
        self.cache = None

    def __call__(self, x, training=False):
        return self.forward(x, training=training)

    # ---- shapes, cost and config (used by summary() and save/load) ----------------------
    def output_shape(self, input_shape):
        """Per-sample output shape for a per-sample ``input_shape`` (no batch axis)."""
        return tuple(input_shape)

    def flops(self, input_shape):
        """Forward FLOPs for one sample (a multiply-add counts as 2)."""
        return 0

    def get_config(self):
        """Constructor arguments as JSON-friendly values; ``type(self)(**config)`` rebuilds it."""
        return {"dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def children(self):
        """(name, layer) pairs of sub-layers; containers override this."""
        return []

    def num_params(self):
        return int(sum(p.size for p in self.params.values()))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "dtype")
        return f"{type(self).__name__}({args})"

    # ---- helpers for subclasses ---------------------------------------------------------
    def _recording(self):
        """Whether a backward can follow this forward: False under ``no_grad()``."""
        return _RECORDING.get()

    def _keep(self, cache):
        """What forward stores as ``self.cache``: ``cache``, or None under ``no_grad()``."""
        return cache if self._recording() else None

    def _new_array(self, value, shape):
        """``value`` (an array, or a function of no arguments making the initial one) as a
        contiguous array of ``self.dtype``; under ``deferred_init()`` zeros of ``shape`` instead."""
        if callable(value):
            if _DEFERRED.get():
                return np.zeros(shape, dtype=self.dtype)   # mapped lazily: no memory touched
            value = value()
        return np.ascontiguousarray(value, dtype=self.dtype)

    def _add_param(self, name, value, shape=None):
        """A trainable array and its gradient. Pass a function (and ``shape``) for ``value`` to
        let ``minicnn.load`` skip drawing initial weights it would overwrite anyway."""
        self.params[name] = self._new_array(value, shape)
        self.grads[name] = np.zeros(self.params[name].shape, dtype=self.dtype)

    def _add_buffer(self, name, value, shape=None):
        """A saved, untrained array (running statistics); ``value`` as for ``_add_param``."""
        self.buffers[name] = self._new_array(value, shape)

    def _check_input(self, x, expect, channels=None):
        """Validate ``x`` and return it as a contiguous array of ``self.dtype``.

        expect:   a string of axis names such as "NCHW" or "NF"; its length is the rank.
        channels: if given, the size required on axis 1.
        """
        name = type(self).__name__
        if not isinstance(x, np.ndarray):
            raise ValueError(f"{name} expects a NumPy array of shape ({', '.join(expect)}), "
                             f"got {type(x).__name__}")
        if not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"{name} expects a floating-point array ({self.dtype.name}), got dtype "
                             f"{x.dtype}. For raw images use minicnn.training.predict(model, images), which "
                             f"applies the training preprocessing; x.astype(np.{self.dtype.name}) "
                             f"alone skips it")
        if x.ndim != len(expect):
            raise ValueError(f"{name} expects input of shape ({', '.join(expect)}) "
                             f"({len(expect)} dimensions), got shape {x.shape}")
        if channels is not None and x.shape[1] != channels:
            raise ValueError(f"{name} expects {channels} {'channels' if 'C' in expect else 'features'} "
                             f"on axis 1, got {x.shape[1]} (input shape {x.shape})")
        if x.shape[0] == 0:
            raise ValueError(f"{name} got an empty batch (input shape {x.shape})")
        return np.ascontiguousarray(x, dtype=self.dtype)

    def _check_dout(self, dout, shape):
        """Validate the upstream gradient against the forward output ``shape``."""
        name = type(self).__name__
        if self.cache is None:
            raise BackwardError(f"{name}.backward called before forward (or after a forward "
                                f"under minicnn.no_grad(), which keeps nothing for backward, or a "
                                f"second time under minicnn.free_after_backward(), which frees it)")
        if not isinstance(dout, np.ndarray) or dout.shape != tuple(shape):
            got = dout.shape if isinstance(dout, np.ndarray) else type(dout).__name__
            raise ValueError(f"{name}.backward expects dout of shape {tuple(shape)} "
                             f"(the forward output), got {got}")
        return np.ascontiguousarray(dout, dtype=self.dtype)
