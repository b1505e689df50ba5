"""Convolution, the fast path: the same im2col + GEMM algorithm as ``im2col_ref.py``, made quick.

What changes from the reference (the numbers do not: tests hold this file to the reference):

1. The columns are laid out transposed, ``col (C*KH*KW, n*OH*OW)``: row (c, kh, kw) holds what
   that kernel tap sees at every output position. For stride 1 both the read of x and the write
   of col are then contiguous runs along the image width, and the GEMM ``W (C_out, C*KH*KW) @ col``
   yields (C_out, n*OH*OW), one short transpose away from NCHW.
2. im2col / col2im are Numba loops (``prange`` over rows, or over (sample, channel) planes),
   and padding is handled inside the gather: taps that fall outside the image write zeros, no
   padded copy of x is ever made. No ``np.add.at``.
3. The batch is processed in chunks of samples whose columns fit in ``CHUNK_BYTES``, so col is a
   few MB that stay in cache between the im2col and the GEMM, instead of a multi-GB matrix for
   big images. The chunk buffers live in a ``Workspace`` that is allocated once and reused.
4. The GEMMs are NumPy's (OpenBLAS); the chunk's dW contributions are summed.

Backward recomputes each chunk's columns rather than storing the whole col from forward: it
costs one more im2col, and saves memory the size of the whole col (GBs for 150x150 inputs).
"""
import types

import numpy as np
from numba import njit, prange

from minicnn.kernels.im2col_ref import conv_output_size, pair

#: Target size of one chunk's column matrix (the im2col / GEMM working set).
CHUNK_BYTES = 8 << 20


class Workspace:
    """Named scratch buffers, grown on demand and reused: ``ws.get("col", (K, M), np.float32)``.

    The returned arrays are views of one flat buffer per name, so a later ``get`` of the same
    name overwrites them: use a name only for data that is dead before the next call.
    """

    def __init__(self):
        self._flat = {}

    def get(self, name, shape, dtype):
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        buf = self._flat.get(name)
        if buf is None or buf.nbytes < nbytes:
            buf = self._flat[name] = np.empty(max(nbytes, 64), dtype=np.uint8)
        return buf[:nbytes].view(dtype).reshape(shape)

    def nbytes(self):
        return sum(b.nbytes for b in self._flat.values())


#: Shared by every Conv2D: the buffers hold nothing between calls, so one set serves all layers.
WORKSPACE = Workspace()


# ---------------------------------------------------------------------------------------------
# Numba kernels. ``n0, nb``: the chunk is samples n0 .. n0+nb-1 of the batch.
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _valid_range(pad, k, stride, size, n_out):
    """Output positions o in [lo, hi) whose input index o*stride - pad + k lies in [0, size)."""
    lo = 0 if pad - k <= 0 else (pad - k + stride - 1) // stride
    t = size - 1 + pad - k
    hi = 0 if t < 0 else min(n_out, t // stride + 1)
    return lo, max(lo, hi)


def _im2col(x, n0, nb, KH, KW, sh, sw, ph, pw, OH, OW, col):
    """col[(c,kh,kw), i*OH*OW + oh*OW + ow] = x[n0+i, c, oh*sh-ph+kh, ow*sw-pw+kw] (0 outside)."""
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    P = OH * OW
    for k in prange(C * KH * KW):
        c = k // (KH * KW)
        kh = (k // KW) % KH
        kw = k % KW
        lo, hi = _valid_range(pw, kw, sw, W, OW)
        for i in range(nb):
            for oh in range(OH):
                ih = oh * sh - ph + kh
                dst = i * P + oh * OW
                if ih < 0 or ih >= H:
                    for ow in range(OW):
                        col[k, dst + ow] = 0
                    continue
                for ow in range(lo):
                    col[k, dst + ow] = 0
                for ow in range(lo, hi):
                    col[k, dst + ow] = x[n0 + i, c, ih, ow * sw - pw + kw]
                for ow in range(hi, OW):
                    col[k, dst + ow] = 0


def _col2im(col, n0, nb, KH, KW, sh, sw, ph, pw, OH, OW, dx):
    """dx[n0+i, c] = sum over taps (kh, kw) of the col rows (c,kh,kw) put back where they came from."""
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    P = OH * OW
    for t in prange(nb * C):
        i = t // C
        c = t % C
        plane = dx[n0 + i, c]
        plane[:, :] = 0
        for kh in range(KH):
            for kw in range(KW):
                k = (c * KH + kh) * KW + kw
                lo, hi = _valid_range(pw, kw, sw, W, OW)
                for oh in range(OH):
                    ih = oh * sh - ph + kh
                    if ih < 0 or ih >= H:
                        continue
                    src = i * P + oh * OW
                    for ow in range(lo, hi):
                        plane[ih, ow * sw - pw + kw] += col[k, src + ow]


def _rows_to_nchw(y, b, n0, nb, out):
    """out[n0+i, co, p] = y[co, i*P + p] + b[co]     (y: (C_out, nb*P), out: (N, C_out, P))."""
    C_out, P = out.shape[1], out.shape[2]
    for t in prange(nb * C_out):
        i = t // C_out
        co = t % C_out
        for p in range(P):
            out[n0 + i, co, p] = y[co, i * P + p] + b[co]


def _nchw_to_rows(dout, n0, nb, dy, db):
    """dy[co, i*P + p] = dout[n0+i, co, p], and db[co] += the sum of those values."""
    C_out, P = dout.shape[1], dout.shape[2]
    for co in prange(C_out):
        s = 0.0
        for i in range(nb):
            for p in range(P):
                v = dout[n0 + i, co, p]
                dy[co, i * P + p] = v
                s += v
        db[co] += s


#: Each kernel compiled twice: threaded (``prange`` splits the outer loop over the cores) and
#: serial, for small arrays where waking threads costs more than the loop itself.
PARALLEL_MIN_ELEMENTS = 1 << 16
def _renamed(f, suffix):
    """A copy of f under another name, so that Numba's on-disk cache keeps its two builds apart."""
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__ + suffix)
    g.__qualname__ = f.__qualname__ + suffix
    return g


_KERNELS = {f.__name__: (njit(cache=True)(_renamed(f, "_serial")), njit(parallel=True, cache=True)(f))
            for f in (_im2col, _col2im, _rows_to_nchw, _nchw_to_rows)}


def _run(name, n_elements, *args):
    """Call kernel ``name``, threaded if it touches at least PARALLEL_MIN_ELEMENTS elements."""
    _KERNELS[name][n_elements >= PARALLEL_MIN_ELEMENTS](*args)


# ---------------------------------------------------------------------------------------------
# Python drivers
# ---------------------------------------------------------------------------------------------
def chunk_size(N, K, P, itemsize, chunk_bytes=None):
    """How many samples go in one chunk: as many as fit their columns (K x P each) in chunk_bytes."""
    per_sample = K * P * itemsize
    return int(max(1, min(N, (chunk_bytes or CHUNK_BYTES) // max(1, per_sample))))


def im2col(x, KH, KW, stride=1, padding=0):
    """x (N, C, H, W) -> col (C*KH*KW, N*OH*OW); equals ``im2col_ref.im2col(...).T``."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, W, KH, KW, stride, padding)
    col = np.empty((C * KH * KW, N * OH * OW), dtype=x.dtype)
    _run("_im2col", col.size, np.ascontiguousarray(x), 0, N, KH, KW, sh, sw, ph, pw, OH, OW, col)
    return col


def col2im(col, x_shape, KH, KW, stride=1, padding=0):
    """col (C*KH*KW, N*OH*OW) -> dx (N, C, H, W), summing overlaps; ``im2col_ref.col2im(col.T, ...)``."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    N, C, H, W = x_shape
    OH, OW = conv_output_size(H, W, KH, KW, stride, padding)
    dx = np.empty(x_shape, dtype=col.dtype)
    _run("_col2im", col.size, np.ascontiguousarray(col), 0, N, KH, KW, sh, sw, ph, pw, OH, OW, dx)
    return dx


def conv_forward(x, W, b=None, stride=1, padding=0, ws=None):
    """Same as ``conv_forward_ref``: x (N, C, H, W), W (C_out, C, KH, KW) -> out (N, C_out, OH, OW).

    x, W (and b) must share a float dtype; x must be C-contiguous.
    """
    ws = ws or WORKSPACE
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    N, C, H, Wd = x.shape
    C_out, _, KH, KW = W.shape
    OH, OW = conv_output_size(H, Wd, KH, KW, stride, padding)
    K, P = C * KH * KW, OH * OW
    Wm = W.reshape(C_out, K)                                      # C_out, C*KH*KW
    bias = np.zeros(C_out, x.dtype) if b is None else b
    out = np.empty((N, C_out, P), dtype=x.dtype)                  # N, C_out, OH*OW
    nb = chunk_size(N, K, P, x.itemsize)
    for n0 in range(0, N, nb):
        m = min(nb, N - n0)
        col = ws.get("col", (K, m * P), x.dtype)                  # C*KH*KW, m*OH*OW
        _run("_im2col", col.size, x, n0, m, KH, KW, sh, sw, ph, pw, OH, OW, col)
        y = ws.get("y", (C_out, m * P), x.dtype)                  # C_out, m*OH*OW
        np.dot(Wm, col, out=y)
        _run("_rows_to_nchw", y.size, y, bias, n0, m, out)
    return out.reshape(N, C_out, OH, OW)


def conv_backward(dout, x, W, stride=1, padding=0, need_dx=True, ws=None):
    """Same as ``conv_backward_ref``: returns dx (or None if not need_dx), dW, db."""
    ws = ws or WORKSPACE
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    N, C, H, Wd = x.shape
    C_out, _, KH, KW = W.shape
    OH, OW = conv_output_size(H, Wd, KH, KW, stride, padding)
    K, P = C * KH * KW, OH * OW
    Wm = W.reshape(C_out, K)                                      # C_out, C*KH*KW
    dout3 = dout.reshape(N, C_out, P)                             # N, C_out, OH*OW
    db = np.zeros(C_out, dtype=np.float64)
    dW = np.zeros((C_out, K), dtype=x.dtype)                      # C_out, C*KH*KW
    dx = np.empty(x.shape, dtype=x.dtype) if need_dx else None
    nb = chunk_size(N, K, P, x.itemsize)
    for n0 in range(0, N, nb):
        m = min(nb, N - n0)
        col = ws.get("col", (K, m * P), x.dtype)                  # C*KH*KW, m*OH*OW
        _run("_im2col", col.size, x, n0, m, KH, KW, sh, sw, ph, pw, OH, OW, col)
        dy = ws.get("y", (C_out, m * P), x.dtype)                 # C_out, m*OH*OW
        _run("_nchw_to_rows", dy.size, dout3, n0, m, dy, db)
        if n0 == 0:
            np.dot(dy, col.T, out=dW)
        else:
            dW += np.dot(dy, col.T, out=ws.get("dW", dW.shape, x.dtype))
        if need_dx:
            np.dot(Wm.T, dy, out=col)                             # dcol, reusing col's buffer
            _run("_col2im", col.size, col, n0, m, KH, KW, sh, sw, ph, pw, OH, OW, dx)
    return dx, dW.reshape(W.shape), db.astype(x.dtype)
