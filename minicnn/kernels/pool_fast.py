"""Max pooling in Numba: the same results as ``pool_ref.py`` (tests compare them), fast.

Every (n, c) plane is independent, so the planes are spread over the cores. x is viewed as
(P, H, W) with P = N * C; argmax holds flat indices h * W + w into a plane (int32).
Windows are clipped to the input instead of padding it: a padded position is -inf and can
never win, so skipping it gives the same answer without copying x.
"""
import numpy as np
from numba import njit, prange

PARALLEL_MIN_SIZE = 1 << 15  # input elements; below this the serial drivers run


@njit(cache=True)
def _forward_plane(x, p, kh, kw, sh, sw, ph, pw, y, argmax):
    h, w = x.shape[1], x.shape[2]
    for i in range(y.shape[1]):
        r0 = i * sh - ph
        r_lo, r_hi = max(r0, 0), min(r0 + kh, h)
        for j in range(y.shape[2]):
            c0 = j * sw - pw
            c_lo, c_hi = max(c0, 0), min(c0 + kw, w)
            best = x[p, r_lo, c_lo]
            best_at = r_lo * w + c_lo
            for r in range(r_lo, r_hi):
                for c in range(c_lo, c_hi):
                    v = x[p, r, c]
                    if v > best or np.isnan(v):  # first maximum wins ties; NaN propagates
                        best = v
                        best_at = r * w + c
            y[p, i, j] = best
            argmax[p, i, j] = best_at


@njit(cache=True)
def _backward_plane(dout, argmax, p, dx):
    dx[p, :] = 0
    for i in range(dout.shape[1]):
        for j in range(dout.shape[2]):
            dx[p, argmax[p, i, j]] += dout[p, i, j]  # += : overlapping windows may share a winner


@njit(cache=True, parallel=True)
def _forward_parallel(x, kh, kw, sh, sw, ph, pw, y, argmax):
    for p in prange(x.shape[0]):
        _forward_plane(x, p, kh, kw, sh, sw, ph, pw, y, argmax)


@njit(cache=True)
def _forward_serial(x, kh, kw, sh, sw, ph, pw, y, argmax):
    for p in range(x.shape[0]):
        _forward_plane(x, p, kh, kw, sh, sw, ph, pw, y, argmax)


@njit(cache=True, parallel=True)
def _backward_parallel(dout, argmax, dx):
    for p in prange(dout.shape[0]):
        _backward_plane(dout, argmax, p, dx)


@njit(cache=True)
def _backward_serial(dout, argmax, dx):
    for p in range(dout.shape[0]):
        _backward_plane(dout, argmax, p, dx)


def maxpool_forward(x, kernel, stride, padding, out_hw):
    """x: (N, C, H, W) contiguous -> (y, argmax), (N, C, OH, OW); argmax int32 plane indices."""
    n, c, h, w = x.shape
    oh, ow = out_hw
    y = np.empty((n, c, oh, ow), dtype=x.dtype)
    argmax = np.empty((n, c, oh, ow), dtype=np.int32)
    run = _forward_parallel if x.size >= PARALLEL_MIN_SIZE else _forward_serial
    run(x.reshape(n * c, h, w), *kernel, *stride, *padding,
        y.reshape(n * c, oh, ow), argmax.reshape(n * c, oh, ow))  # (P, ., .) views, P = N*C
    return y, argmax


def maxpool_backward(dout, argmax, input_shape):
    """dout, argmax: (N, C, OH, OW) -> dx (input_shape), each dout added at its argmax."""
    n, c, h, w = input_shape
    dx = np.empty(input_shape, dtype=dout.dtype)
    run = _backward_parallel if dx.size >= PARALLEL_MIN_SIZE else _backward_serial
    p = n * c
    run(dout.reshape(p, -1, dout.shape[3]), argmax.reshape(p, -1, argmax.shape[3]),
        dx.reshape(p, h * w))  # (P, OH, OW), (P, OH, OW), (P, H*W)
    return dx
