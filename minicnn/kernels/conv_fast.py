"""Convolution, the fast path: the same im2col + GEMM algorithm as ``im2col_ref.py``, made quick.

What changes from the reference (the numbers do not: tests hold this file to the reference):

1. Channels last inside. x is copied once to NHWC, where one kernel row of a window,
   x[n, ih, iw:iw+KW, :], is KW*C contiguous numbers; col's rows are ordered (kh, kw, c), so
   im2col is a few long contiguous copies per output pixel. Padding is handled in the gather
   (taps outside the image write zeros): no padded copy of x.
2. im2col / col2im / the NCHW<->NHWC transposes are Numba loops, threaded over samples or output
   rows (``prange``) when the arrays are large, serial when small. No ``np.add.at``.
3. For stride 1, dx is computed without col2im: it is the convolution of dout with the
   flipped, channel-transposed kernel (padding KH-1-ph), i.e. another gather + GEMM, which is
   cheaper than the scatter-add of col2im. Strided convolutions use dcol + col2im.
4. The batch is processed in chunks of samples whose col fits in ``CHUNK_BYTES``. If the whole
   batch's col fits in ``KEEP_COL_BYTES`` it is kept from forward for backward; otherwise
   backward recomputes it chunk by chunk (saving GBs on 150x150 inputs).
5. All buffers come from a ``Workspace`` (one per layer), allocated once and reused every step.

Layouts: col (n*OH*OW, KH*KW*C) rows (n, oh, ow), columns (kh, kw, c); Wt = W as (C_out, KH*KW*C)
with the same column order (a per-filter transpose of W's (C, KH*KW)), so y = col @ Wt.T.
"""
import types

import numpy as np
from numba import njit, prange

from minicnn.kernels.im2col_ref import conv_output_size, pair

CHUNK_BYTES = 16 << 20           #: target size of one chunk's col (the im2col -> GEMM working set)
KEEP_COL_BYTES = 128 << 20       #: keep forward's col for backward if the whole batch's fits here
GATHER_DX_MIN_CHANNELS = 16      #: stride-1 convs with at least this many input channels gather dx
PARALLEL_MIN_ELEMENTS = 1 << 16  #: below this many elements a kernel runs on one thread


class Workspace:
    """Named scratch buffers, grown on demand and reused: ``ws.get("col", (M, K), np.float32)``.

    The returned arrays are views of one flat buffer per name, so a later ``get`` of the same
    name overwrites them.
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


# ---------------------------------------------------------------------------------------------
# Numba kernels (each compiled threaded and serial, see _run). x3 / dx3: (N, H, W*C) NHWC.
# ``n0, nb``: the chunk is samples n0 .. n0+nb-1; its rows in col / y start at 0.
# ---------------------------------------------------------------------------------------------
def _im2col(x3, C, n0, nb, KH, KW, sh, sw, ph, pw, OH, OW, col):
    """col[(i, oh, ow), (kh, kw, c)] = x[n0+i, oh*sh-ph+kh, ow*sw-pw+kw, c]  (0 outside the image)."""
    H, W = x3.shape[1], x3.shape[2] // C
    KWC = KW * C
    for t in prange(nb * OH):
        i, oh = t // OH, t % OH
        for ow in range(OW):
            r = t * OW + ow
            iw0 = ow * sw - pw
            for kh in range(KH):
                ih = oh * sh - ph + kh
                base = kh * KWC
                if ih < 0 or ih >= H:
                    col[r, base:base + KWC] = 0
                elif iw0 >= 0 and iw0 + KW <= W:        # the whole kernel row is inside
                    col[r, base:base + KWC] = x3[n0 + i, ih, iw0 * C:iw0 * C + KWC]
                else:
                    for kw in range(KW):
                        iw, d = iw0 + kw, base + kw * C
                        if iw < 0 or iw >= W:
                            col[r, d:d + C] = 0
                        else:
                            col[r, d:d + C] = x3[n0 + i, ih, iw * C:iw * C + C]


def _col2im(col, C, n0, nb, KH, KW, sh, sw, ph, pw, OH, OW, dx3):
    """dx3[n0+i] = sum of col's rows put back where im2col took them (overlaps add up)."""
    H, W = dx3.shape[1], dx3.shape[2] // C
    for i in prange(nb):
        dx3[n0 + i] = 0
        for oh in range(OH):
            for kh in range(KH):
                ih = oh * sh - ph + kh
                if ih < 0 or ih >= H:
                    continue
                for ow in range(OW):
                    r = (i * OH + oh) * OW + ow
                    for kw in range(KW):
                        iw, d = ow * sw - pw + kw, (kh * KW + kw) * C
                        if iw >= 0 and iw < W:
                            dx3[n0 + i, ih, iw * C:iw * C + C] += col[r, d:d + C]


TILE = 32   # transposes go tile by tile (TILE positions x TILE channels) to stay in L1 cache


def _nchw_to_nhwc(x, n0, nb, out, sums):
    """out[i, p, c] = x[n0+i, c, p]  (x: (N, C, P)); sums[n0+i, c] = sum over p of x[n0+i, c, :]."""
    C, P = x.shape[1], x.shape[2]
    for i in prange(nb):
        for c in range(C):
            sums[n0 + i, c] = 0.0
        for p0 in range(0, P, TILE):
            for c0 in range(0, C, TILE):
                for c in range(c0, min(c0 + TILE, C)):
                    s = 0.0
                    for p in range(p0, min(p0 + TILE, P)):
                        v = x[n0 + i, c, p]
                        out[i, p, c] = v
                        s += v
                    sums[n0 + i, c] += s


def _nhwc_to_nchw(y, b, n0, nb, out):
    """out[n0+i, c, p] = y[i, p, c] + b[c]   (y: (nb, P, C), out: (N, C, P))."""
    C, P = out.shape[1], out.shape[2]
    for i in prange(nb):
        for p0 in range(0, P, TILE):
            for c0 in range(0, C, TILE):
                for c in range(c0, min(c0 + TILE, C)):
                    for p in range(p0, min(p0 + TILE, P)):
                        out[n0 + i, c, p] = y[i, p, c] + b[c]


def _renamed(f, suffix):
    """A copy of f under another name, so that Numba's on-disk cache keeps its two builds apart."""
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__ + suffix)
    g.__qualname__ = f.__qualname__ + suffix
    return g


_KERNELS = {f.__name__: (njit(cache=True)(_renamed(f, "_serial")), njit(parallel=True, cache=True)(f))
            for f in (_im2col, _col2im, _nchw_to_nhwc, _nhwc_to_nchw)}


def _run(name, n_elements, *args):
    """Call kernel ``name``, threaded if it touches at least PARALLEL_MIN_ELEMENTS elements."""
    _KERNELS[name][n_elements >= PARALLEL_MIN_ELEMENTS](*args)


# ---------------------------------------------------------------------------------------------
# Python drivers
# ---------------------------------------------------------------------------------------------
def _geometry(x_shape, W_shape, stride, padding):
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    N, C, H, Wd = x_shape
    C_out, _, KH, KW = W_shape
    OH, OW = conv_output_size(H, Wd, KH, KW, stride, padding)
    return N, C, H, Wd, C_out, KH, KW, sh, sw, ph, pw, OH, OW


def _chunk(N, per_sample_bytes, limit):
    """Samples per chunk: as many as fit per_sample_bytes each into limit (at least 1)."""
    return int(max(1, min(N, limit // max(1, per_sample_bytes))))


def to_nhwc(x, ws=None, name="xh"):
    """x (N, C, H, W) -> (N, H, W*C) channels-last copy, and the per-(n, c) sums (N, C)."""
    N, C, H, W = x.shape
    out = (ws or Workspace()).get(name, (N, H * W, C), x.dtype)            # N, H*W, C
    sums = np.empty((N, C), dtype=np.float64)
    _run("_nchw_to_nhwc", x.size, x.reshape(N, C, H * W), 0, N, out, sums)
    return out.reshape(N, H, W * C), sums                                   # N, H, W*C


def im2col(x, KH, KW, stride=1, padding=0):
    """x (N, C, H, W) -> col (N*OH*OW, KH*KW*C), columns (kh, kw, c); the reference's, permuted."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, W, KH, KW, stride, padding)
    x3, _ = to_nhwc(np.ascontiguousarray(x))
    col = np.empty((N * OH * OW, KH * KW * C), dtype=x.dtype)
    _run("_im2col", col.size, x3, C, 0, N, KH, KW, sh, sw, ph, pw, OH, OW, col)
    return col


def col2im(col, x_shape, KH, KW, stride=1, padding=0):
    """col (N*OH*OW, KH*KW*C) -> dx (N, C, H, W), summing overlaps (the adjoint of ``im2col``)."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    N, C, H, W = x_shape
    OH, OW = conv_output_size(H, W, KH, KW, stride, padding)
    dx3 = np.empty((N, H, W * C), dtype=col.dtype)                          # N, H, W*C
    _run("_col2im", col.size, np.ascontiguousarray(col), C, 0, N, KH, KW, sh, sw, ph, pw, OH, OW, dx3)
    return dx3.reshape(N, H, W, C).transpose(0, 3, 1, 2).copy()              # N, C, H, W


def conv_forward(x, W, b=None, stride=1, padding=0, ws=None):
    """Same numbers as ``conv_forward_ref``: x (N, C, H, W), W (C_out, C, KH, KW) -> (out, saved).

    ``saved`` is what ``conv_backward`` needs (x in NHWC, and col if it was kept); it lives in
    ``ws`` and stays valid until the next call with the same workspace. x must be C-contiguous.
    """
    ws = ws or Workspace()
    N, C, H, Wd, C_out, KH, KW, sh, sw, ph, pw, OH, OW = _geometry(x.shape, W.shape, stride, padding)
    K, P = KH * KW * C, OH * OW
    x3, _ = to_nhwc(x, ws)                                                   # N, H, W*C
    Wt = ws.get("Wt", (C_out, KH * KW, C), x.dtype)
    Wt[...] = W.reshape(C_out, C, KH * KW).transpose(0, 2, 1)               # C_out, KH*KW, C
    Wt = Wt.reshape(C_out, K)                                                # C_out, KH*KW*C
    bias = np.zeros(C_out, x.dtype) if b is None else b
    out = np.empty((N, C_out, P), dtype=x.dtype)                             # N, C_out, OH*OW
    keep = N * P * K * x.itemsize <= KEEP_COL_BYTES
    nb = N if keep else _chunk(N, P * K * x.itemsize, CHUNK_BYTES)
    for n0 in range(0, N, nb):
        m = min(nb, N - n0)
        col = ws.get("col_kept" if keep else "col", (m * P, K), x.dtype)     # m*OH*OW, KH*KW*C
        _run("_im2col", col.size, x3, C, n0, m, KH, KW, sh, sw, ph, pw, OH, OW, col)
        y = ws.get("y", (m, P, C_out), x.dtype)                              # m, OH*OW, C_out
        np.dot(col, Wt.T, out=y.reshape(m * P, C_out))
        _run("_nhwc_to_nchw", y.size, y, bias, n0, m, out)
    return out.reshape(N, C_out, OH, OW), (x.shape, x3, Wt, col if keep else None)


def conv_backward(dout, saved, W, stride=1, padding=0, need_dx=True, ws=None):
    """Same numbers as ``conv_backward_ref``: returns dx (None if not need_dx), dW, db.

    dout (N, C_out, OH, OW); ``saved`` from ``conv_forward`` (with the same ``ws``).
    """
    ws = ws or Workspace()
    x_shape, x3, Wt, col_kept = saved
    N, C, H, Wd, C_out, KH, KW, sh, sw, ph, pw, OH, OW = _geometry(x_shape, W.shape, stride, padding)
    K, P = KH * KW * C, OH * OW
    dy3, sums = to_nhwc(np.ascontiguousarray(dout), ws, "dy")            # N, OH, OW*C_out
    db = sums.sum(axis=0).astype(W.dtype)                                    # C_out
    dy = dy3.reshape(N * P, C_out)                                           # N*OH*OW, C_out
    dWt = np.empty((C_out, K), dtype=W.dtype)                                # C_out, KH*KW*C
    if col_kept is not None:
        np.dot(dy.T, col_kept, out=dWt)
    else:
        nb = _chunk(N, P * K * W.itemsize, CHUNK_BYTES)
        for n0 in range(0, N, nb):
            m = min(nb, N - n0)
            col = ws.get("col", (m * P, K), W.dtype)                         # m*OH*OW, KH*KW*C
            _run("_im2col", col.size, x3, C, n0, m, KH, KW, sh, sw, ph, pw, OH, OW, col)
            if n0 == 0:
                np.dot(dy[:m * P].T, col, out=dWt)
            else:
                dWt += np.dot(dy[n0 * P:(n0 + m) * P].T, col, out=ws.get("dWt", (C_out, K), W.dtype))
    dW = dWt.reshape(C_out, KH * KW, C).transpose(0, 2, 1).copy().reshape(W.shape)  # C_out, C, KH, KW
    if not need_dx:
        return None, dW, db
    dx = np.empty((N, C, H * Wd), dtype=W.dtype)                             # N, C, H*W
    zeros = np.zeros(C, W.dtype)
    if sh == sw == 1 and ph < KH and pw < KW and C >= GATHER_DX_MIN_CHANNELS:
        # dx = conv(dout, W flipped in space, in/out channels swapped), padding K-1-p, stride 1
        Wf = ws.get("Wf", (KH * KW, C_out, C), W.dtype)
        Wf[...] = Wt.reshape(C_out, KH * KW, C)[:, ::-1, :].transpose(1, 0, 2)  # taps reversed
        Wf = Wf.reshape(KH * KW * C_out, C)                                  # KH*KW*C_out, C
        Kd, HW = KH * KW * C_out, H * Wd
        nb = _chunk(N, HW * Kd * W.itemsize, CHUNK_BYTES)
        for n0 in range(0, N, nb):
            m = min(nb, N - n0)
            cold = ws.get("col", (m * HW, Kd), W.dtype)                      # m*H*W, KH*KW*C_out
            _run("_im2col", cold.size, dy3, C_out, n0, m, KH, KW, 1, 1, KH - 1 - ph, KW - 1 - pw,
                 H, Wd, cold)
            dxh = ws.get("y", (m, HW, C), W.dtype)                           # m, H*W, C
            np.dot(cold, Wf, out=dxh.reshape(m * HW, C))
            _run("_nhwc_to_nchw", dxh.size, dxh, zeros, n0, m, dx)
    else:
        dx3 = ws.get("dx3", (N, H, Wd * C), W.dtype)                         # N, H, W*C
        nb = _chunk(N, P * K * W.itemsize, CHUNK_BYTES)
        for n0 in range(0, N, nb):
            m = min(nb, N - n0)
            dcol = ws.get("col", (m * P, K), W.dtype)                        # m*OH*OW, KH*KW*C
            np.dot(dy[n0 * P:(n0 + m) * P], Wt, out=dcol)
            _run("_col2im", dcol.size, dcol, C, n0, m, KH, KW, sh, sw, ph, pw, OH, OW, dx3)
        _run("_nhwc_to_nchw", dx3.size, dx3.reshape(N, H * Wd, C), zeros, 0, N, dx)
    return dx.reshape(N, C, H, Wd), dW, db

