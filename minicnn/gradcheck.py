"""Numerical gradient checks: how the tests prove every backward pass.

The idea fits in two lines. For a scalar loss L(x) and a tiny step h,

    dL/dx[i]  ~=  (L(x + h e_i) - L(x - h e_i)) / (2 h)        (centred difference, error O(h^2))

so we can compute the gradient the slow, obviously-correct way and compare it with the
gradient ``backward`` computed. A layer's output is an array, not a scalar, so we make a
scalar by dotting it with a *random* upstream gradient ``dout``: L = sum(forward(x) * dout),
whose exact gradient is what ``backward(dout)`` must return. (An all-ones ``dout`` would hide
bugs: for batch norm, for instance, the true input gradient of sum(y) is exactly zero.)

Run everything in float64: in float32 the finite differences drown in rounding error.
"""
import numpy as np


def numerical_gradient(f, x, h=1e-6):
    """Centred-difference gradient of the scalar function ``f()`` with respect to array ``x``.

    ``x`` is perturbed in place, one element at a time, and restored afterwards; ``f`` must
    read ``x`` (for a parameter, the layer's own array) each time it is called.
    """
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


def check_layer(layer, x, seed=0, h=1e-6, training=True):
    """Compare ``layer.backward`` with numerical gradients for ``x`` and every parameter.

    Returns {"x": err, "W": err, ...} of relative errors (see ``rel_error``).
    The layer and ``x`` should be float64.
    """
    # A stream of its own: had dout come from the same seed as the caller's x, dout could equal
    # x, and for batch norm the true input gradient of sum(y * x) is exactly zero.
    rng = np.random.default_rng([seed, 0x6D696E69])
    x = np.array(x, dtype=np.float64)  # our own copy: it is perturbed in place
    out = layer.forward(x, training=training)
    dout = rng.standard_normal(out.shape)

    def loss():
        return float(np.sum(layer.forward(x, training=training) * dout))

    layer.forward(x, training=training)
    dx = layer.backward(dout.copy())
    analytic = {"x": dx}
    analytic.update({k: g.copy() for k, g in layer.grads.items()})

    errors = {"x": rel_error(analytic["x"], numerical_gradient(loss, x, h))}
    for name, p in layer.params.items():
        errors[name] = rel_error(analytic[name], numerical_gradient(loss, p, h))
    return errors
