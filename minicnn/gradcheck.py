"""Numerical gradient checks: how the tests prove every backward pass.

The idea fits in two lines. For a scalar loss L(x) and a tiny step h,

    dL/dx[i]  ~=  (L(x + h e_i) - L(x - h e_i)) / (2 h)        (centred difference, error O(h^2))

so we can compute the gradient the slow, obviously-correct way and compare it with the
gradient ``backward`` computed. A layer's output is an array, not a scalar, so we make a
scalar by dotting it with a *random* upstream gradient ``dout``: L = sum(forward(x) * dout),
whose exact gradient is what ``backward(dout)`` must return. (An all-ones ``dout`` would hide
bugs: for batch norm, for instance, the true input gradient of sum(y) is exactly zero.)

Run everything in float64: in float32 the finite differences drown in rounding error.
``check_layer`` refuses what would give misleading numbers: a layer that is not float64 (its
errors come out near 1e-2 and read like a bug), and one whose forward changes from call to call
(Dropout in training mode draws a new mask each time). ``numerical_gradient`` refuses an integer
array (x[i] = 1 + h would store 1).
"""
import numpy as np


def numerical_gradient(f, x, h=1e-6):
    """Centred-difference gradient of the scalar function ``f()`` with respect to array ``x``.

    ``x`` is perturbed in place, one element at a time, and restored afterwards; ``f`` must
    read ``x`` (for a parameter, the layer's own array) each time it is called.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        got = f"dtype {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"numerical_gradient steps x in place by h={h}, so x must be a float "
                         f"NumPy array (an integer array would keep x + h == x); got {got}. "
                         f"Use x = x.astype(np.float64) and let f read that new array")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        f_plus = f()
        x[i] = old - h
        f_minus = f()
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def rel_error(analytic, numeric):
    """max|a - n| / max(1e-8, max(|a| + |n|)): about 1e-7 or less means the gradient is right."""
    a, n = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    return float(np.max(np.abs(a - n)) / max(1e-8, float(np.max(np.abs(a) + np.abs(n)))))


def _check_float64(layer, out):
    """ValueError unless the layer's parameters and its output ``out`` are float64."""
    dtypes = {p.dtype for p in layer.params.values()} | {out.dtype}
    if dtypes != {np.dtype(np.float64)}:
        raise ValueError(f"check_layer needs a float64 layer; {type(layer).__name__} computes in "
                         f"{', '.join(sorted(d.name for d in dtypes))}, whose rounding makes "
                         f"errors near 1e-2 that look like a bug. Build it (and every layer in "
                         f"it) with dtype=np.float64")


def check_layer(layer, x, seed=0, h=1e-6, training=True):
    """Compare ``layer.backward`` with numerical gradients for ``x`` and every parameter.

    Returns {"x": err, "W": err, ...} of relative errors (see ``rel_error``).
    The layer must be float64 (``x`` is copied to float64), and its forward the same function
    each time: a ValueError says so otherwise (see the module doc).
    """
    # A stream of its own: had dout come from the same seed as the caller's x, dout could equal
    # x, and for batch norm the true input gradient of sum(y * x) is exactly zero.
    rng = np.random.default_rng([seed, 0x6D696E69])
    x = np.array(x, dtype=np.float64)  # our own copy: it is perturbed in place
    out = layer.forward(x, training=training)
    _check_float64(layer, out)
    dout = rng.standard_normal(out.shape)

    def loss():
        return float(np.sum(layer.forward(x, training=training) * dout))

    again = layer.forward(x, training=training)           # the forward that backward follows
    if rel_error(again, out) > 1e-10:
        raise ValueError(f"{type(layer).__name__}.forward(x, training={training}) gave two "
                         f"different outputs for the same x: it draws random numbers (Dropout a "
                         f"new mask each forward), so the finite differences would compare "
                         f"different functions. Check it with training=False, or with a fixed "
                         f"mask (reset its generator before every forward, as tests/helpers.py's "
                         f"Frozen does)")
    dx = layer.backward(dout.copy())
    analytic = {"x": dx}
    analytic.update({k: g.copy() for k, g in layer.grads.items()})

    errors = {"x": rel_error(analytic["x"], numerical_gradient(loss, x, h))}
    for name, p in layer.params.items():
        errors[name] = rel_error(analytic[name], numerical_gradient(loss, p, h))
    return errors
