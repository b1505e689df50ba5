"""Max pooling in Numba: the same results as ``pool_ref.py`` (tests compare them), fast.

Every (n, c) plane is independent, so planes are spread over the cores. x is viewed as
(P, H*W) with P = N * C; argmax holds flat indices h * W + w into a plane (int32).
Windows are clipped to the input instead of padding it: a padded position is -inf and can
never win, so skipping it gives the same answer without copying x.

Two things make the forward fast (about 6x over a plain loop nest):
- the window size and stride are compiled in as constants (one kernel per configuration,
  built by ``_forward_kernel``; compiled on first use, a second or two, then cached on disk),
  so the window loops unroll and LLVM vectorises across outputs;
- windows wholly inside the input skip the clipping, and index with unsigned integers, which
  spares Numba's negative-index check in the inner loop.
"""
import functools

import numpy as np
from numba import njit, prange

from minicnn.kernels.parallel import parallel_region
from minicnn.kernels.shapes import output_size

PARALLEL_MIN_SIZE = 1 << 15  # input elements; below this the serial kernels run


@njit(cache=True)
def _clipped_window(xf, p, r0, c0, kh, kw, h, w):
    """(max, flat index of the first max; of the last NaN if any) of the window at (r0, c0), clipped to the H x W plane."""
    r_lo, r_hi = max(r0, 0), min(r0 + kh, h)
    c_lo, c_hi = max(c0, 0), min(c0 + kw, w)
    best_at = r_lo * w + c_lo
    best = xf[p, best_at]
    for r in range(r_lo, r_hi):
        for c in range(c_lo, c_hi):
            v = xf[p, r * w + c]
            if v > best or v != v:  # strict ">": the first maximum wins; a NaN wins (as torch)
                best, best_at = v, r * w + c
    return best, best_at


@functools.lru_cache(maxsize=None)
def _forward_kernel(kh, kw, sh, sw, parallel):
    """A forward kernel with kh, kw, sh, sw (and ``parallel``) frozen in as constants."""

    def forward(x, h, w, ph, pw, y, argmax):  # x: (P, H*W); y, argmax: (P, OH, OW)
        oh, ow = y.shape[1], y.shape[2]
        j_in = min(ow, (pw + sw - 1) // sw)                   # outputs j_in <= j < j_out have
        j_out = max(j_in, min(ow, (w - kw + pw) // sw + 1))   # their columns inside the input
        for p in prange(x.shape[0]):  # a plain range when parallel is False
            for i in range(oh):
                r0 = i * sh - ph
                inside = r0 >= 0 and r0 + kh <= h
                a, b = (j_in, j_out) if inside else (ow, ow)
                for j in range(a):
                    y[p, i, j], argmax[p, i, j] = _clipped_window(x, p, r0, j * sw - pw, kh, kw, h, w)
                for j in range(a, b):  # the common case: a whole kh x kw window
                    corner = r0 * w + j * sw - pw
                    best_at = corner
                    best = x[p, np.uint64(corner)]
                    for r in range(kh):
                        for q in range(kw):
                            k = corner + r * w + q
                            v = x[p, np.uint64(k)]
                            win = (v > best) | (v != v)  # NaN propagates (the last NaN, as torch)
                            best, best_at = (v, k) if win else (best, best_at)  # a select, no branch
                    y[p, i, j] = best
                    argmax[p, i, j] = best_at
                for j in range(b, ow):
                    y[p, i, j], argmax[p, i, j] = _clipped_window(x, p, r0, j * sw - pw, kh, kw, h, w)
        return parallel  # also makes ``parallel`` part of the compiled closure (and cache key)

    return njit(cache=True, parallel=parallel)(forward)


@njit(cache=True)
def _backward_plane(dout, argmax, p, dx):
    dx[p, :] = 0
    for i in range(dout.shape[1]):
        for j in range(dout.shape[2]):
            dx[p, np.uint64(argmax[p, i, j])] += dout[p, i, j]  # += : overlapping windows may share a winner


@njit(cache=True, parallel=True)
def _backward_parallel(dout, argmax, dx):
    for p in prange(dout.shape[0]):
        _backward_plane(dout, argmax, p, dx)


@njit(cache=True)
def _backward_serial(dout, argmax, dx):
    for p in range(dout.shape[0]):
        _backward_plane(dout, argmax, p, dx)


def maxpool_forward(x, kernel, stride, padding):
    """x: (N, C, H, W) -> (y, argmax), (N, C, OH, OW); argmax int32 plane indices (as ``pool_ref``)."""
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    oh, ow = output_size(h, kernel[0], stride[0], padding[0]), output_size(w, kernel[1], stride[1], padding[1])
    y = np.empty((n, c, oh, ow), dtype=x.dtype)
    argmax = np.empty((n, c, oh, ow), dtype=np.int32)
    parallel = x.size >= PARALLEL_MIN_SIZE
    run = _forward_kernel(*kernel, *stride, parallel)
    with parallel_region(parallel):
        run(x.reshape(n * c, h * w), h, w, *padding,
            y.reshape(n * c, oh, ow), argmax.reshape(n * c, oh, ow))  # (P, H*W), (P, OH, OW) views
    return y, argmax


def maxpool_backward(dout, argmax, input_shape):
    """dout, argmax: (N, C, OH, OW) -> dx (input_shape), each dout added at its argmax."""
    n, c, h, w = input_shape
    dx = np.empty(input_shape, dtype=dout.dtype)
    parallel = dx.size >= PARALLEL_MIN_SIZE
    run = _backward_parallel if parallel else _backward_serial
    p = n * c
    with parallel_region(parallel):
        run(dout.reshape(p, -1, dout.shape[3]), argmax.reshape(p, -1, argmax.shape[3]),
            dx.reshape(p, h * w))  # (P, OH, OW), (P, OH, OW), (P, H*W)
    return dx
