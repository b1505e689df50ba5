"""Batch normalisation kernels in Numba: the same maths as ``norm_ref.py``, fused.

Work is split by channel. A channel's values (N * H * W of them, under a MB at the model shapes)
stay in the core's cache between passes, so each kernel reads memory about once: forward does
mean -> variance -> output for one channel, backward does the two sums -> dx. Sums accumulate in
float64 whatever the data dtype. Inside, x, dout, y, dx are (N, C, L) views, L = H * W; the
public functions take and return what ``norm_ref``'s do, so the layer can run either.

Each per-channel function has two drivers: a parallel one (channels spread over the cores) and a
serial one for small tensors, where waking the threads would cost more than the work.
"""
import numpy as np
from numba import njit, prange

from minicnn.kernels.parallel import parallel_region

_FAST = {"reassoc", "contract"}  # let LLVM vectorise the reductions; keeps NaN/inf semantics
PARALLEL_MIN_SIZE = 1 << 16      # elements; below this the serial drivers run


@njit(cache=True, fastmath=_FAST)
def _forward_channel(x, c, gamma_c, beta_c, eps, y):
    """Normalise channel c of x into y; returns the channel's (mean, biased variance)."""
    n, _, length = x.shape
    s = 0.0
    for i in range(n):
        for j in range(length):
            s += x[i, c, j]
    mu = s / (n * length)
    ss = 0.0
    for i in range(n):
        for j in range(length):
            d = x[i, c, j] - mu
            ss += d * d
    var = ss / (n * length)
    scale = gamma_c / np.sqrt(var + eps)
    sc, sh = y.dtype.type(scale), y.dtype.type(beta_c - mu * scale)
    for i in range(n):
        for j in range(length):
            y[i, c, j] = x[i, c, j] * sc + sh
    return mu, var


@njit(cache=True, fastmath=_FAST)
def _backward_channel(dout, x, c, mu, inv_std, gamma_c, dx):
    """Write channel c of dx; returns the channel's (dgamma, dbeta).

    With xhat = (x - mean) * inv_std and M = N * L:
        dbeta = sum dout,  dgamma = sum dout * xhat,
        dx = gamma * inv_std / M * (M * dout - dbeta - xhat * dgamma)
    """
    n, _, length = x.shape
    s_d = 0.0
    s_dx = 0.0
    for i in range(n):
        for j in range(length):
            d = dout[i, c, j]
            s_d += d
            s_dx += d * (x[i, c, j] - mu)
    dbeta, dgamma = s_d, s_dx * inv_std
    # dx = a * dout + b * (x - mean) + e: the formula above, expanded to two multiply-adds
    k = gamma_c * inv_std / (n * length)
    t = dx.dtype.type
    a, b, e, mu_t = t(k * n * length), t(-k * inv_std * dgamma), t(-k * dbeta), t(mu)
    for i in range(n):
        for j in range(length):
            dx[i, c, j] = a * dout[i, c, j] + b * (x[i, c, j] - mu_t) + e
    return dgamma, dbeta


@njit(cache=True, parallel=True)
def _forward_parallel(x, gamma, beta, eps, y, mean, var):
    for c in prange(x.shape[1]):
        mean[c], var[c] = _forward_channel(x, c, gamma[c], beta[c], eps, y)


@njit(cache=True)
def _forward_serial(x, gamma, beta, eps, y, mean, var):
    for c in range(x.shape[1]):
        mean[c], var[c] = _forward_channel(x, c, gamma[c], beta[c], eps, y)


@njit(cache=True, parallel=True)
def _backward_parallel(dout, x, mean, inv_std, gamma, dx, dgamma, dbeta):
    for c in prange(x.shape[1]):
        dgamma[c], dbeta[c] = _backward_channel(dout, x, c, mean[c], inv_std[c], gamma[c], dx)


@njit(cache=True)
def _backward_serial(dout, x, mean, inv_std, gamma, dx, dgamma, dbeta):
    for c in range(x.shape[1]):
        dgamma[c], dbeta[c] = _backward_channel(dout, x, c, mean[c], inv_std[c], gamma[c], dx)


def _drive(parallel, serial, size, args):
    """The parallel driver for large tensors, the serial one below PARALLEL_MIN_SIZE elements."""
    if size >= PARALLEL_MIN_SIZE:
        with parallel_region():          # the workqueue layer is not thread-safe (kernels.parallel)
            parallel(*args)
    else:
        serial(*args)


def batchnorm_forward(x, gamma, beta, eps):
    """Training-mode forward, as ``norm_ref.batchnorm_forward``: x (N, C, H, W) -> (y, mean, var),
    mean and (biased) var float64 (C,)."""
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    y = np.empty(x.shape, x.dtype)
    mean, var = np.empty(c), np.empty(c)
    args = (x.reshape(n, c, h * w), gamma, beta, float(eps), y.reshape(n, c, h * w), mean, var)  # N, C, L
    _drive(_forward_parallel, _forward_serial, x.size, args)
    return y, mean, var


def batchnorm_backward(dout, x, mean, var, gamma, eps):
    """Backward, as ``norm_ref.batchnorm_backward``: returns (dx, dgamma, dbeta), the last two float64 (C,)."""
    x, dout = np.ascontiguousarray(x), np.ascontiguousarray(dout, x.dtype)
    n, c, h, w = x.shape
    dx = np.empty(x.shape, x.dtype)
    dgamma, dbeta = np.empty(c), np.empty(c)
    args = (dout.reshape(n, c, h * w), x.reshape(n, c, h * w), mean, 1.0 / np.sqrt(var + eps), gamma,
            dx.reshape(n, c, h * w), dgamma, dbeta)                                       # N, C, L
    _drive(_backward_parallel, _backward_serial, x.size, args)
    return dx, dgamma, dbeta
