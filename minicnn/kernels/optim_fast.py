"""Optimizer updates in Numba: one pass over each parameter array instead of ~8 NumPy temporaries.

The arithmetic is ``minicnn.optim``'s NumPy reference (``_update_reference``), the same
operations in the same order and the same precision, so the results are bit-for-bit equal
(tests/test_optim.py holds the two together). In particular, for float32 parameters NumPy
computes Adam's denominator ``sqrt(v) / sqrt(bc2) + eps`` in float64 (a float32 array divided by
a NumPy float64 scalar), and so does ``adam_update``; every other operation stays in the
parameters' dtype, with the Python-float hyper-parameters rounded to that dtype first.

All arrays are 1-D views of the flattened, C-contiguous parameter p, gradient g and state
(m, v or the velocity), all of one dtype; p and the state are updated in place.
``error_model="numpy"``: a division by zero gives inf/nan as in NumPy (instead of raising),
and it lets LLVM vectorise the loop. The loops are serial: they are memory-bound, and on the
2-core laptop a parallel loop was no faster even for the 8M-element Dense weight, while waking
the threads cost ~0.1 ms per call.
"""
import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def _adam(p, g, m, v, decay, beta1, one_minus_beta1, beta2, one_minus_beta2, step, sqrt_bc2, eps):
    """Adam on every element; step = lr / bc1, decay = 1 - lr * weight_decay (1 for none)."""
    for i in range(p.size):
        gi = g[i]
        p[i] *= decay
        mi = m[i] * beta1 + one_minus_beta1 * gi
        vi = v[i] * beta2 + one_minus_beta2 * gi * gi
        m[i] = mi
        v[i] = vi
        denom = np.float64(np.sqrt(vi)) / sqrt_bc2 + eps                # float64, as NumPy does
        p[i] -= p.dtype.type(np.float64(step * mi) / denom)


@njit(cache=True, error_model="numpy")
def _sgd(p, g, velocity, weight_decay, momentum, lr):
    """SGD on every element; with momentum == 0 the velocity array is not touched."""
    for i in range(p.size):
        gi = g[i]
        if weight_decay != 0:
            gi = gi + weight_decay * p[i]
        if momentum != 0:
            gi = velocity[i] * momentum + gi
            velocity[i] = gi
        p[i] -= lr * gi


def supported(*arrays):
    """True if the fast path applies: float32/float64 arrays, one dtype, all C-contiguous."""
    dtype = arrays[0].dtype
    return dtype in (np.float32, np.float64) and all(
        a.dtype == dtype and a.flags.c_contiguous for a in arrays)


def adam_update(p, g, m, v, lr, beta1, beta2, eps, weight_decay, t):
    """Adam step t on p, m, v in place (see ``minicnn.optim.Adam`` for the formulas)."""
    T = p.dtype.type
    bc1, bc2 = 1 - beta1 ** t, 1 - beta2 ** t
    _adam(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),        # views, no copies
          T(1 - lr * weight_decay), T(beta1), T(1 - beta1), T(beta2), T(1 - beta2), T(lr / bc1),
          float(np.sqrt(bc2)), float(eps))


def sgd_update(p, g, velocity, lr, momentum, weight_decay):
    """SGD step on p (and velocity, if momentum) in place (see ``minicnn.optim.SGD``)."""
    T = p.dtype.type
    velocity = p if velocity is None else velocity                        # unused when momentum == 0
    _sgd(p.reshape(-1), g.reshape(-1), velocity.reshape(-1), T(weight_decay), T(momentum), T(lr))
