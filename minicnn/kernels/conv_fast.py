"""Convolution, the fast path: the same im2col + GEMM algorithm as ``im2col_ref.py``, made quick.

The numbers are the reference's (tests hold this file to it); what changes is how they are
computed:

1. Everything stays NCHW. Sample n's columns are ``col_n (K, P)``, rows (c, kh, kw) as in the
   reference's W.reshape(C_out, K), columns the output pixels (oh, ow). Then
   ``y[n] = W2d @ col_n`` (C_out, P) is already sample n's NCHW output and
   ``dW += dout[n] @ col_n.T`` reads dout as it comes: no layout transposes of x, y or dout.
   For small images (P < FOLD_MAX_P) thin per-sample GEMMs are slow, so a chunk of samples is
   folded into one GEMM: col (K, nb*P), with one small (C_out, nb, P) <-> (nb, C_out, P) copy.
2. The bias rides in the GEMM: col gets an extra row of ones and W2d a last column b, so
   ``[W2d | b] @ [col; 1] = W2d @ col + b`` and the weight-gradient GEMM returns db as its last
   column (``dout[n] @ [col_n; 1].T = [dW_n | db_n]``). No separate pass over y or dout.
3. im2col / col2im are Numba loops, threaded over (sample, channel) (``prange``) when the arrays
   are large, serial when small; padding is handled in the gather (no padded copy of x).
4. For stride 1 (and enough input channels), dx is the convolution of dout with the flipped,
   channel-swapped kernel (padding K-1-p): the forward's gather + GEMM again, no col2im.
5. The batch goes in chunks whose col fits in CHUNK_BYTES; forward's col is kept for backward
   when the whole batch's fits in KEEP_COL_BYTES, else backward recomputes it chunk by chunk.
   Buffers come from a per-layer ``Workspace``, allocated once and reused every step.
"""
import types

import numpy as np
from numba import njit, prange

from minicnn.kernels.im2col_ref import conv_output_size, pair

CHUNK_BYTES = 4 << 20            #: target size of one chunk's col (the im2col -> GEMM working set)
KEEP_COL_BYTES = 64 << 20        #: keep forward's col for backward if the whole batch's fits here
FOLD_MAX_P = 128                 #: below this many output pixels a chunk's samples share one GEMM
GATHER_DX_MIN_CHANNELS = 16      #: stride-1 convs with at least this many input channels gather dx
PARALLEL_MIN_ELEMENTS = 1 << 16  #: below this many elements a kernel runs on one thread
U = np.uint64                    # Numba skips the negative-index check for unsigned indices


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
# Numba kernels (each compiled threaded and serial, see _run). x / dx: (N, C, H, W).
# The chunk is samples n0 .. n0+nb-1. col is 2-D: sample i's row k, column p is
# col[i*ri + k, i*ci + p], i.e. (ri, ci) = (K, 0) per sample (nb*K, P), (0, P) folded (K, nb*P).
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _inside(K, O, s, p, n):
    """lo[k], hi[k]: the outputs lo <= o < hi whose tap k reads inside the input (0 <= o*s-p+k < n)."""
    lo, hi = np.empty(K, np.int64), np.empty(K, np.int64)
    for k in range(K):
        lo[k] = min(O, max(0, (p - k + s - 1) // s))
        hi[k] = max(lo[k], min(O, (n - 1 + p - k) // s + 1))
    return lo, hi


def _im2col(x, n0, nb, KH, KW, sh, sw, ph, pw, OH, OW, col, ri, ci):
    """col[i*ri + (c, kh, kw), i*ci + (oh, ow)] = x[n0+i, c, oh*sh-ph+kh, ow*sw-pw+kw] (0 outside)."""
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    xf, cf, LD = x.reshape(-1), col.reshape(-1), col.shape[1]    # flat, unsigned indices below
    oh_lo, oh_hi = _inside(KH, OH, sh, ph, H)
    ow_lo, ow_hi = _inside(KW, OW, sw, pw, W)
    same = sh == 1 and sw == 1 and OW == W                      # e.g. 3x3, stride 1, padding 1
    for t in prange(nb * C):
        i, c = (t % nb, t // nb) if ci else (t // C, t % C)    # in the order col is laid out
        xb = ((n0 + i) * C + c) * H * W                         # x[n0+i, c, 0, 0]
        for kh in range(KH):
            a, b = oh_lo[kh], oh_hi[kh]                         # output rows that see the image
            for kw in range(KW):
                rb = (i * ri + (c * KH + kh) * KW + kw) * LD + i * ci   # col[row, i*ci]
                off = kw - pw                                   # ow + off is x's column
                for j in range(a * OW):
                    cf[U(rb + j)] = 0
                for j in range(b * OW, OH * OW):
                    cf[U(rb + j)] = 0
                if same:
                    # rows a..b-1 are x's rows shifted by off: one long copy, then zero the
                    # |off| columns of each row that the shift brought in from a neighbour row
                    s0 = xb + (a + kh - ph) * W + off - a * OW                 # x at col j: s0 + j
                    for j in range(max(a * OW, xb - s0), min(b * OW, xb + H * W - s0)):
                        cf[U(rb + j)] = xf[U(s0 + j)]
                    z0, z1 = (max(0, OW - off), OW) if off > 0 else (0, min(OW, -off))
                    for oh in range(a, b):
                        for ow in range(z0, z1):
                            cf[U(rb + oh * OW + ow)] = 0
                    continue
                lo, hi = ow_lo[kw], ow_hi[kw]                   # columns that see the image
                for oh in range(a, b):
                    q, src = rb + oh * OW, xb + (oh * sh - ph + kh) * W + off
                    for ow in range(lo):
                        cf[U(q + ow)] = 0
                    for ow in range(lo, hi):
                        cf[U(q + ow)] = xf[U(src + ow * sw)]
                    for ow in range(hi, OW):
                        cf[U(q + ow)] = 0


def _col2im(col, n0, nb, KH, KW, sh, sw, ph, pw, OH, OW, ri, ci, dx):
    """dx[n0+i] = sample i's columns added back where im2col took them (overlaps add up)."""
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    cf, df, LD = col.reshape(-1), dx.reshape(-1), col.shape[1]
    oh_lo, oh_hi = _inside(KH, OH, sh, ph, H)
    ow_lo, ow_hi = _inside(KW, OW, sw, pw, W)
    for t in prange(nb * C):
        i, c = (t % nb, t // nb) if ci else (t // C, t % C)
        xb = ((n0 + i) * C + c) * H * W
        df[xb:xb + H * W] = 0
        for kh in range(KH):
            for kw in range(KW):
                rb = (i * ri + (c * KH + kh) * KW + kw) * LD + i * ci
                for oh in range(oh_lo[kh], oh_hi[kh]):
                    q, dst = rb + oh * OW, xb + (oh * sh - ph + kh) * W + kw - pw
                    for ow in range(ow_lo[kw], ow_hi[kw]):
                        df[U(dst + ow * sw)] += cf[U(q + ow)]


def _renamed(f, suffix):
    """A copy of f under another name, so that Numba's on-disk cache keeps its two builds apart."""
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__ + suffix)
    g.__qualname__ = f.__qualname__ + suffix
    return g


_KERNELS = {f.__name__: (njit(cache=True)(_renamed(f, "_serial")), njit(parallel=True, cache=True)(f))
            for f in (_im2col, _col2im)}


def _run(name, n_elements, *args):
    """Call kernel ``name``, threaded if it touches at least PARALLEL_MIN_ELEMENTS elements."""
    _KERNELS[name][n_elements >= PARALLEL_MIN_ELEMENTS](*args)


# ---------------------------------------------------------------------------------------------
# Python drivers
# ---------------------------------------------------------------------------------------------
def _chunk(N, per_sample_bytes, limit):
    """Samples per chunk: as many as fit per_sample_bytes each into limit (at least 1)."""
    return int(max(1, min(N, limit // max(1, per_sample_bytes))))


def _gather(src, n0, m, KH, KW, stride, padding, OH, OW, col, Kr):
    """im2col of samples n0..n0+m-1 into col (per sample (m*Kr, P) or folded (Kr, m*P));
    rows past the KH*KW*C taps (Kr = taps + 1 with a bias) are ones."""
    (sh, sw), (ph, pw), P = stride, padding, OH * OW
    K = src.shape[1] * KH * KW
    ri, ci = (0, P) if col.shape[0] == Kr else (Kr, 0)
    _run("_im2col", m * K * P, src, n0, m, KH, KW, sh, sw, ph, pw, OH, OW, col, ri, ci)
    if Kr > K:
        if ci:
            col[K:] = 1
        else:
            col.reshape(m, Kr, P)[:, K:] = 1
    return col


def _col_buffer(ws, name, m, Kr, P, dtype):
    """Workspace col for m samples: folded (Kr, m*P) if P < FOLD_MAX_P, else (m*Kr, P)."""
    return ws.get(name, (Kr, m * P) if P < FOLD_MAX_P else (m * Kr, P), dtype)


def _correlate(src, Wm, KH, KW, stride, padding, OH, OW, out, ws, keep=False):
    """out[n] = Wm @ [im2col(src[n]); 1] for every sample: the forward pass (and stride-1 dx).

    src (N, C, H, W); Wm (C_out, Kr), Kr = C*KH*KW (+1 for a bias column); out (N, C_out, OH*OW).
    Returns the whole batch's col if ``keep`` (it is then computed in one chunk).
    """
    N, (C_out, Kr), P = src.shape[0], Wm.shape, OH * OW
    nb = N if keep else _chunk(N, Kr * P * src.itemsize, CHUNK_BYTES)
    for n0 in range(0, N, nb):
        m = min(nb, N - n0)
        col = _col_buffer(ws, "col_kept" if keep else "col", m, Kr, P, src.dtype)
        _gather(src, n0, m, KH, KW, stride, padding, OH, OW, col, Kr)
        if P < FOLD_MAX_P:                                  # one GEMM for the chunk, then unfold
            y = ws.get("y", (C_out, m, P), src.dtype)                        # C_out, m, P
            np.dot(Wm, col, out=y.reshape(C_out, m * P))
            out[n0:n0 + m] = y.transpose(1, 0, 2)                            # m, C_out, P
        else:
            for i in range(m):
                np.dot(Wm, col[i * Kr:(i + 1) * Kr], out=out[n0 + i])        # C_out, P
    return col if keep else None


def im2col(x, KH, KW, stride=1, padding=0):
    """x (N, C, H, W) -> col (N, C*KH*KW, OH*OW): sample n's block is the reference's rows, transposed."""
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, W, KH, KW, stride, padding)
    col = np.empty((N * C * KH * KW, OH * OW), dtype=x.dtype)                # N*K, P
    _gather(np.ascontiguousarray(x), 0, N, KH, KW, pair(stride), pair(padding), OH, OW, col, C * KH * KW)
    return col.reshape(N, C * KH * KW, OH * OW)


def col2im(col, x_shape, KH, KW, stride=1, padding=0):
    """col (N, C*KH*KW, OH*OW) -> dx (N, C, H, W), summing overlaps (the adjoint of ``im2col``)."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    N, C, H, W = x_shape
    OH, OW = conv_output_size(H, W, KH, KW, stride, padding)
    dx = np.empty(x_shape, dtype=col.dtype)
    col2d = np.ascontiguousarray(col).reshape(N * C * KH * KW, OH * OW)      # N*K, P
    _run("_col2im", col.size, col2d, 0, N, KH, KW, sh, sw, ph, pw, OH, OW, C * KH * KW, 0, dx)
    return dx


def conv_forward(x, W, b=None, stride=1, padding=0, ws=None):
    """Same numbers as ``conv_forward_ref``: x (N, C, H, W), W (C_out, C, KH, KW) -> (out, saved).

    ``saved`` is what ``conv_backward`` needs (x, and col if it was kept; col lives in ``ws`` and
    stays valid until the next call with the same workspace).
    """
    ws = ws or Workspace()
    x = np.ascontiguousarray(x)
    (N, C, H, Wd), (C_out, _, KH, KW) = x.shape, W.shape
    OH, OW = conv_output_size(H, Wd, KH, KW, stride, padding)
    K, P = C * KH * KW, OH * OW
    if b is None:
        Wm = W.reshape(C_out, K)                                             # C_out, K
    else:
        Wm = ws.get("Wb", (C_out, K + 1), x.dtype)                           # C_out, K+1: [W2d | b]
        Wm[:, :K], Wm[:, K] = W.reshape(C_out, K), b
    out = np.empty((N, C_out, P), dtype=x.dtype)                             # N, C_out, OH*OW
    keep = N * Wm.shape[1] * P * x.itemsize <= KEEP_COL_BYTES
    col = _correlate(x, Wm, KH, KW, pair(stride), pair(padding), OH, OW, out, ws, keep)
    return out.reshape(N, C_out, OH, OW), (x, col, b is not None)


def _add_dot(acc, first, a, b, part):
    """acc = a @ b if first, else acc += a @ b (computed into the scratch ``part``)."""
    if first:
        np.dot(a, b, out=acc)
    else:
        acc += np.dot(a, b, out=part)


def conv_backward(dout, saved, W, stride=1, padding=0, need_dx=True, ws=None):
    """Same numbers as ``conv_backward_ref``: returns dx (None if not need_dx), dW, db (None if
    forward had no bias). dout (N, C_out, OH, OW); ``saved`` from ``conv_forward`` (same ``ws``).
    dW and db are views of ``ws``, valid until its next backward.
    """
    ws = ws or Workspace()
    x, col_kept, has_bias = saved
    (N, C, H, Wd), (C_out, _, KH, KW) = x.shape, W.shape
    (sh, sw), (ph, pw) = stride, padding = pair(stride), pair(padding)
    OH, OW = dout.shape[2:]
    K, P = C * KH * KW, OH * OW
    Kr, fold = K + has_bias, P < FOLD_MAX_P
    dy = np.ascontiguousarray(dout).reshape(N, C_out, P)                     # N, C_out, P
    W2d = W.reshape(C_out, K)                                                # C_out, K
    gather_dx = sh == sw == 1 and ph < KH and pw < KW and C >= GATHER_DX_MIN_CHANNELS
    col2im_dx = need_dx and not gather_dx
    dx = np.empty(x.shape, dtype=W.dtype) if need_dx else None               # N, C, H, W
    dWb = ws.get("dWb", (C_out, Kr), W.dtype)                                # [dW | db]
    part = ws.get("part", (C_out, Kr), W.dtype)
    nb = N if col_kept is not None else _chunk(N, Kr * P * W.itemsize, CHUNK_BYTES)
    for n0 in range(0, N, nb):
        m = min(nb, N - n0)
        col = col_kept
        if col is None:
            col = _gather(x, n0, m, KH, KW, stride, padding, OH, OW,
                          _col_buffer(ws, "col", m, Kr, P, W.dtype), Kr)
        dcol = _col_buffer(ws, "dcol", m, K, P, W.dtype) if col2im_dx else None
        if fold:                                           # dout as one (C_out, m*P) block
            dyf = ws.get("y", (C_out, m, P), W.dtype)
            dyf[...] = dy[n0:n0 + m].transpose(1, 0, 2)                      # C_out, m, P
            dyf = dyf.reshape(C_out, m * P)                                  # C_out, m*P
            _add_dot(dWb, n0 == 0, dyf, col.T, part)                         # C_out, Kr
            if col2im_dx:
                np.dot(W2d.T, dyf, out=dcol)                                 # K, m*P
        else:
            for i in range(m):
                _add_dot(dWb, n0 + i == 0, dy[n0 + i], col[i * Kr:(i + 1) * Kr].T, part)
                if col2im_dx:
                    np.dot(W2d.T, dy[n0 + i], out=dcol[i * K:(i + 1) * K])   # K, P
        if col2im_dx:
            ri, ci = (0, P) if fold else (K, 0)
            _run("_col2im", m * K * P, dcol, n0, m, KH, KW, sh, sw, ph, pw, OH, OW, ri, ci, dx)
    if gather_dx and need_dx:
        # dx = conv(dout, W flipped in space with in/out channels swapped), padding K-1-p
        Wf = ws.get("Wf", (C, C_out, KH, KW), W.dtype)
        Wf[...] = W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)                  # C, C_out, KH, KW
        _correlate(dy.reshape(dout.shape), Wf.reshape(C, C_out * KH * KW), KH, KW, (1, 1),
                   (KH - 1 - ph, KW - 1 - pw), H, Wd, dx.reshape(N, C, H * Wd), ws)
    return dx, dWb[:, :K].reshape(W.shape), (dWb[:, K] if has_bias else None)
