"""Convolution, the fast path: the same im2col + GEMM algorithm as ``im2col_ref.py``, made quick.

The numbers are the reference's (tests hold this file to it); what changes is how they are
computed:

1. Everything stays NCHW. Sample n's columns are ``col_n (K, P)``, rows (c, kh, kw) as in the
   reference's W.reshape(C_out, K), columns the output pixels (oh, ow). Then
   ``y[n] = W2d @ col_n`` (C_out, P) is already sample n's NCHW output and
   ``dW += dout[n] @ col_n.T`` reads dout as it comes: no layout transposes of x, y or dout.
   For small images (P < FOLD_COLUMNS) thin per-sample GEMMs are slow (each one also re-reads
   all of W), so a chunk of ~FOLD_COLUMNS/P samples is folded into one GEMM: col (K, nb*P),
   with one small (C_out, nb, P) <-> (nb, C_out, P) copy of y and dout.
2. The bias rides in the GEMM: col gets an extra row of ones and W2d a last column b, so
   ``[W2d | b] @ [col; 1] = W2d @ col + b`` and the weight-gradient GEMM returns db as its last
   column (``dout[n] @ [col_n; 1].T = [dW_n | db_n]``). No separate pass over y or dout.
3. Samples are independent, so the batch is split between worker threads (as many as Numba's
   thread count), each running the Numba gathers (``conv_gather``, GIL released) and
   single-threaded BLAS on its own samples; the weight gradient is summed at the end. One
   hand-off per layer call, instead of a thread synchronisation inside every small GEMM.
4. For stride 1 (and enough input channels), dx is the convolution of dout with the flipped,
   channel-swapped kernel (padding K-1-p): the forward's gather + GEMM again, no col2im.
5. Each worker goes through its samples in chunks whose col fits in CHUNK_BYTES (cache-sized),
   and backward gathers col again (cheaper than keeping it: a gather into cache costs less than
   reading a batch-sized col back from memory); an image whose col is larger goes in bands of
   output rows. Scratch buffers come from a ``Workspace`` shared by all layers (one per calling
   thread), allocated once and reused every step, so memory is bounded by the largest layer.
"""
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from minicnn.kernels import conv_gather as g
from minicnn.kernels.shapes import conv_output_size, int_pair as pair
from minicnn.kernels.workspace import Workspace, shared_workspace  # noqa: F401  (Workspace: re-export)

CHUNK_BYTES = 4 << 20            #: target size of one chunk's col (the im2col -> GEMM working set)
FOLD_COLUMNS = 2048              #: fold samples with fewer output pixels, this many per GEMM
FOLD_CHUNK_BYTES = 16 << 20      #: the largest folded chunk's col
GATHER_DX_MIN_CHANNELS = 16      #: stride-1 convs with at least this many input channels gather dx
PARALLEL_MIN_ELEMENTS = 1 << 16  #: below this many col elements one thread does the whole batch
THREADS = None                   #: worker threads; None = numba.get_num_threads()


# ---------------------------------------------------------------------------------------------
# Worker threads
# ---------------------------------------------------------------------------------------------
_pool, _blas = None, None        # (size, ThreadPoolExecutor); threadpoolctl controller


def _sample_ranges(N, n_elements):
    """[(n0, n1), ...]: the batch split evenly between the worker threads (one if work is small)."""
    T = THREADS or numba.get_num_threads()
    if n_elements < PARALLEL_MIN_ELEMENTS or _blas_controller() is None:
        T = 1
    T = max(1, min(T, N))
    return [(N * w // T, N * (w + 1) // T) for w in range(T)]


def _blas_controller():
    """threadpoolctl's BLAS controller (made once), or None if threadpoolctl is not installed."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController  # loaded on the first parallel conv only
            _blas = ThreadpoolController()
        except ImportError:
            _blas = False
    return _blas or None


def _map(fn, ranges):
    """[fn(w, n0, n1) for each worker w's samples n0..n1-1], on threads with BLAS single-threaded."""
    global _pool
    T = len(ranges)
    if T == 1:
        return [fn(0, *ranges[0])]
    if _pool is None or _pool[0] < T:
        _pool = (T, ThreadPoolExecutor(T, thread_name_prefix="minicnn-conv"))
    with _blas_controller().limit(limits=1, user_api="blas"):
        return list(_pool[1].map(fn, range(T), *zip(*ranges)))


# ---------------------------------------------------------------------------------------------
# One worker's share: samples n0 .. n1-1, in chunks
# ---------------------------------------------------------------------------------------------
def _chunks(n0, n1, Kr, OH, OW, itemsize):
    """Chunks (a, m, r0, r1) of samples n0..n1-1: samples a..a+m-1, output rows r0..r1-1.

    Folded: enough samples for FOLD_COLUMNS GEMM columns (col within FOLD_CHUNK_BYTES).
    Else as many samples as fit a (Kr, OH*OW)-per-sample col into CHUNK_BYTES; a sample larger
    than that goes in even bands of output rows that fit.
    """
    P, per_sample = OH * OW, Kr * OH * OW * itemsize
    if P < FOLD_COLUMNS or per_sample <= CHUNK_BYTES:
        nb = min(-(-FOLD_COLUMNS // P), FOLD_CHUNK_BYTES // per_sample) if P < FOLD_COLUMNS \
            else CHUNK_BYTES // per_sample
        nb = max(1, min(n1 - n0, nb))
        return [(a, min(nb, n1 - a), 0, OH) for a in range(n0, n1, nb)]
    rows = -(-OH // -(-per_sample // CHUNK_BYTES))           # ceil(OH / number of bands)
    return [(n, 1, r, min(r + rows, OH)) for n in range(n0, n1) for r in range(0, OH, rows)]


def _col_buffer(ws, name, m, Kr, Pb, dtype):
    """Workspace col for m samples of Pb output pixels: folded (Kr, m*Pb) or stacked (m*Kr, Pb)."""
    return ws.get(name, (Kr, m * Pb) if Pb < FOLD_COLUMNS else (m * Kr, Pb), dtype)


def _gather(src, a, m, r0, r1, KH, KW, stride, padding, OW, col, Kr):
    """im2col of samples a..a+m-1, output rows r0..r1-1 into col (stacked (m*Kr, Pb) or folded
    (Kr, m*Pb)); rows past the KH*KW*C taps (Kr = taps + 1 with a bias) are ones."""
    (sh, sw), (ph, pw), Pb = stride, padding, (r1 - r0) * OW
    K = src.shape[1] * KH * KW
    ri, ci = (0, Pb) if col.shape[0] == Kr else (Kr, 0)
    g.im2col(src, a, m, r0, r1, KH, KW, sh, sw, ph, pw, OW, col, ri, ci)
    if Kr > K:
        if ci:
            col[K:] = 1
        else:
            col.reshape(m, Kr, Pb)[:, K:] = 1
    return col


def _correlate(src, Wm, KH, KW, stride, padding, OH, OW, out, ws, n0, n1):
    """out[n] = Wm @ [im2col(src[n]); 1] for samples n0 <= n < n1: forward (and stride-1 dx).

    src (N, C, H, W); Wm (C_out, Kr), Kr = C*KH*KW (+1 for a bias column); out (N, C_out, OH*OW).
    """
    (C_out, Kr), P = Wm.shape, OH * OW
    for a, m, r0, r1 in _chunks(n0, n1, Kr, OH, OW, src.itemsize):
        Pb = (r1 - r0) * OW
        col = _col_buffer(ws, "col", m, Kr, Pb, src.dtype)
        _gather(src, a, m, r0, r1, KH, KW, stride, padding, OW, col, Kr)
        if P < FOLD_COLUMNS:                                # one GEMM for the chunk, then unfold
            y = ws.get("y", (C_out, m, P), src.dtype)                        # C_out, m, P
            np.dot(Wm, col, out=y.reshape(C_out, m * P))
            out[a:a + m] = y.transpose(1, 0, 2)                              # m, C_out, P
        else:
            for i in range(m):                                               # C_out, Pb
                np.matmul(Wm, col[i * Kr:(i + 1) * Kr], out=out[a + i, :, r0 * OW:r1 * OW])


def _add_dot(acc, first, a, b, ws):
    """acc = a @ b if first, else acc += a @ b (computed into the scratch ws "part")."""
    if first:
        np.dot(a, b, out=acc)
    else:
        acc += np.dot(a, b, out=ws.get("part", acc.shape, acc.dtype))


def _backward_share(dy, x, W, stride, padding, dx, Wf, ws, n0, n1, Kr):
    """[dW | db] summed over samples n0..n1-1, and their dx (if dx is not None): by a gather
    with the flipped kernel Wf (C, C_out*KH*KW) if given, else by col2im."""
    (C_out, C, KH, KW), (OH, OW) = W.shape, dy.shape[2:]
    K, P, fold = C * KH * KW, OH * OW, OH * OW < FOLD_COLUMNS
    dy3, W2d = dy.reshape(-1, C_out, P), W.reshape(C_out, K)                 # N, C_out, P; C_out, K
    dWb = ws.get("dWb", (C_out, Kr), W.dtype)                                # [dW | db]
    col2im = dx is not None and Wf is None
    if col2im:
        dx[n0:n1] = 0
    for a, m, r0, r1 in _chunks(n0, n1, Kr, OH, OW, W.itemsize):             # as in forward
        Pb = (r1 - r0) * OW
        col = _gather(x, a, m, r0, r1, KH, KW, stride, padding, OW,
                      _col_buffer(ws, "col", m, Kr, Pb, W.dtype), Kr)
        dcol = _col_buffer(ws, "dcol", m, K, Pb, W.dtype) if col2im else None
        if fold:                                           # dout as one (C_out, m*P) block
            dyf = ws.get("y", (C_out, m, P), W.dtype)
            dyf[...] = dy3[a:a + m].transpose(1, 0, 2)                       # C_out, m, P
            dyf = dyf.reshape(C_out, m * P)                                  # C_out, m*P
            _add_dot(dWb, a == n0, dyf, col.T, ws)                           # C_out, Kr
            if col2im:
                np.dot(W2d.T, dyf, out=dcol)                                 # K, m*P
        else:
            for i in range(m):
                dyi = dy3[a + i, :, r0 * OW:r1 * OW]                         # C_out, Pb
                _add_dot(dWb, a + i == n0 and r0 == 0, dyi, col[i * Kr:(i + 1) * Kr].T, ws)
                if col2im:
                    np.dot(W2d.T, dyi, out=dcol[i * K:(i + 1) * K])          # K, Pb
        if col2im:
            ri, ci = (0, Pb) if dcol.shape[0] == K else (K, 0)
            g.col2im(dcol, a, m, r0, r1, KH, KW, *stride, *padding, OW, ri, ci, dx)
    if dx is not None and Wf is not None:
        _correlate(dy, Wf, KH, KW, (1, 1), (KH - 1 - padding[0], KW - 1 - padding[1]),
                   *dx.shape[2:], dx.reshape(dx.shape[0], C, -1), ws, n0, n1)
    return dWb


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------
def im2col(x, KH, KW, stride=1, padding=0):
    """x (N, C, H, W) -> col (N, C*KH*KW, OH*OW): sample n's block is the reference's rows, transposed."""
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, W, KH, KW, stride, padding)
    col = np.empty((N * C * KH * KW, OH * OW), dtype=x.dtype)                # N*K, P
    _gather(np.ascontiguousarray(x), 0, N, 0, OH, KH, KW, pair(stride), pair(padding), OW, col, C * KH * KW)
    return col.reshape(N, C * KH * KW, OH * OW)


def col2im(col, x_shape, KH, KW, stride=1, padding=0):
    """col (N, C*KH*KW, OH*OW) -> dx (N, C, H, W), summing overlaps (the adjoint of ``im2col``)."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    N, C, H, W = x_shape
    OH, OW = conv_output_size(H, W, KH, KW, stride, padding)
    dx = np.zeros(x_shape, dtype=col.dtype)
    col2d = np.ascontiguousarray(col).reshape(N * C * KH * KW, OH * OW)      # N*K, P
    g.col2im(col2d, 0, N, 0, OH, KH, KW, sh, sw, ph, pw, OW, C * KH * KW, 0, dx)
    return dx


def conv_forward(x, W, b=None, stride=1, padding=0, ws=None):
    """Same numbers as ``im2col_ref.conv_forward``: x (N, C, H, W), W (C_out, C, KH, KW) -> (out, saved).

    ``saved`` is what ``conv_backward`` needs: x itself (not copied) and whether there was a bias.
    ``ws``: scratch buffers (default: ``shared_workspace()``).
    """
    ws = ws or shared_workspace()
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
    _map(lambda w, n0, n1: _correlate(x, Wm, KH, KW, pair(stride), pair(padding), OH, OW, out,
                                      ws.worker(w), n0, n1), _sample_ranges(N, N * K * P))
    return out.reshape(N, C_out, OH, OW), (x, b is not None)


def conv_backward(dout, saved, W, stride=1, padding=0, need_dx=True, ws=None):
    """Same numbers as ``im2col_ref.conv_backward``: returns dx (None if not need_dx), dW, db (None if
    forward had no bias). dout (N, C_out, OH, OW); ``saved`` from ``conv_forward``.
    dW and db are views of ``ws`` (default: ``shared_workspace()``), valid until its next use.
    """
    ws = ws or shared_workspace()
    x, has_bias = saved
    (N, C, _, _), (C_out, _, KH, KW), K = x.shape, W.shape, W[0].size
    (sh, sw), (ph, pw) = stride, padding = pair(stride), pair(padding)
    dy = np.ascontiguousarray(dout)                                          # N, C_out, OH, OW
    dx = np.empty(x.shape, dtype=W.dtype) if need_dx else None               # N, C, H, W
    Wf = None
    if need_dx and sh == sw == 1 and ph < KH and pw < KW and C >= GATHER_DX_MIN_CHANNELS:
        # dx = conv(dout, W flipped in space with in/out channels swapped), padding K-1-p
        Wf = ws.get("Wf", (C, C_out, KH, KW), W.dtype)
        Wf[...] = W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)                  # C, C_out, KH, KW
        Wf = Wf.reshape(C, C_out * KH * KW)
    ranges = _sample_ranges(N, N * K * dy[0, 0].size)
    parts = _map(lambda w, n0, n1: _backward_share(dy, x, W, stride, padding, dx, Wf, ws.worker(w),
                                                   n0, n1, K + has_bias), ranges)
    dWb = parts[0]                                                           # C_out, K(+1): [dW | db]
    for p in parts[1:]:
        dWb += p
    return dx, dWb[:, :K].reshape(W.shape), (dWb[:, K] if has_bias else None)
