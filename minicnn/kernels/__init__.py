"""The kernels: for each family a plain NumPy reference (to read) and a Numba fast twin (to run).

The twins of a family have the same functions with the same signatures and return the same
numbers (to float rounding), so the layers call whichever is selected:

    family   reference (read this)   fast (runs by default)
    conv     im2col_ref.py           conv_fast.py (+ conv_gather.py)
    elementwise elementwise_ref.py   elementwise_fast.py: ReLU, a residual block's add + ReLU
    norm     norm_ref.py             norm_fast.py
    pool     pool_ref.py             pool_fast.py
    winograd winograd_ref.py         winograd_fast.py (+ winograd_transforms.py): 3x3 stride 1

Switch a whole model onto the readable kernels, e.g. to put a breakpoint in ``col2im`` and watch
a real network's backward pass (slowly, with the same answers):

    with minicnn.kernels.use("reference"):       # only inside the block
        fit(model, ...)
    minicnn.kernels.use("reference")             # from here on (in this thread)
    MINICNN_KERNELS=reference python train.py    # the default of every thread in the process

The choice is a context variable: ``use`` affects the calling thread (and asyncio task) only;
a thread started later begins at ``$MINICNN_KERNELS`` (``fast`` if unset). ``backend()`` says
which is in force. A new kernel family joins with one ``register`` line below, and its layer
fetches the selected module with ``kernels.get("family")``.
"""
import contextvars
import os

from minicnn.kernels import (conv_fast, elementwise_fast, elementwise_ref, im2col_ref, norm_fast,
                             norm_ref, pool_fast, pool_ref, winograd_fast, winograd_ref)

BACKENDS = ("fast", "reference")
FAMILIES = {}  #: family -> {"fast": module, "reference": module}


def register(family, fast, reference):
    """Make ``family`` switchable: two modules with the same functions and signatures."""
    FAMILIES[family] = {"fast": fast, "reference": reference}


register("conv", fast=conv_fast, reference=im2col_ref)
register("elementwise", fast=elementwise_fast, reference=elementwise_ref)
register("norm", fast=norm_fast, reference=norm_ref)
register("pool", fast=pool_fast, reference=pool_ref)
register("winograd", fast=winograd_fast, reference=winograd_ref)


def _check(name):
    if name not in BACKENDS:
        raise ValueError(f"kernel backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    return name


_DEFAULT = _check(os.environ.get("MINICNN_KERNELS", "fast") or "fast")
_current = contextvars.ContextVar("minicnn_kernels", default=_DEFAULT)


def backend():
    """The backend in force here: "fast" or "reference"."""
    return _current.get()


def get(family):
    """The selected module of ``family`` (e.g. ``get("conv").conv_forward(...)``)."""
    return FAMILIES[family][_current.get()]


class use:
    """Select a backend: as a call from here on, or as ``with use(name):`` inside a block only."""

    def __init__(self, name):
        self._token = _current.set(_check(name))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _current.reset(self._token)
