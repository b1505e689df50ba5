"""Winograd convolution, the fast path: ``winograd_ref``'s numbers with Numba transforms + BLAS.

Same algorithm and interface as ``winograd_ref.py`` (the tests hold one to the other); what
changes is how the work is laid out:

1. The transforms are Numba kernels. ``tile_transform`` gathers one channel's tiles of a chunk
   from NCHW memory (zeros outside the image by bounds checks; negative padding crops) and
   writes ``out[i*a + j, c, p] = (B d B^T)[i, j]`` for every tile p, both halves vectorised
   across the tiles, zero matrix entries skipped: the input transform (B = BT, tiles of a = m+2
   pixels, stride m) and, for dW, the output transform's transpose on dout (B = A, tiles of m;
   its position (1, 1) is each tile's sum, which gives db). ``untile_transform`` does
   Y = AT M A per tile, adds the bias and writes the cropped block into the NCHW output.
2. Between them, one GEMM per tile position: M[k] = U[k] (C_out, C) @ V[k] (C, P) for the
   a^2 positions k, as one ``np.matmul`` on the stacks (NumPy calls BLAS per slice).
3. Memory stays bounded: the batch is cut into chunks (whole samples, or bands of tile rows
   of one large sample) whose V and M fit CHUNK_BYTES, in Workspace buffers reused every
   step. Forward keeps V (2.25x its input for F(4x4)) for backward only where it is at most
   KEEP_V_BYTES; elsewhere backward transforms x again. The transformed filters U
   (a*a, C_out, C), 4x the weights, share one buffer with backward's flipped ones, and each
   worker sums a dU of that size, so "auto" takes Winograd only where U is at most
   AUTO_MAX_FILTER_BYTES (a 512->512 layer's U is 38 MB: too much for CNN5's memory at 150).
4. As in ``conv_fast``, the batch is split between worker threads (single-threaded BLAS, own
   Workspace each); their weight-gradient sums are added at the end.
"""
import numpy as np
from numba import njit

from minicnn.kernels import conv_fast as cf
from minicnn.kernels.shapes import int_pair as pair
from minicnn.kernels.workspace import shared_workspace
from minicnn.kernels.winograd_tables import check_conv, tile_grid, winograd_matrices

CHUNK_BYTES = 4 << 20     #: target size of one chunk's transformed tiles (V, and M likewise)
KEEP_V_BYTES = 16 << 20   #: forward keeps the transformed input for backward if it is this small
DEFAULT_TILE = 4          #: output tile m of F(m x m, 3x3) when Conv2D(algorithm="winograd")
AUTO_MIN_CHANNELS = 32    #: "auto" keeps im2col below this many input channels (measured)
AUTO_MAX_FILTER_BYTES = 16 << 20   #: ... and where the transformed filters would be larger (memory)


def auto_tile(kernel_size, stride, c_in, c_out, OH, OW):
    """Conv2D(algorithm="auto")'s rule: the Winograd tile m for this layer shape, or None for
    im2col. Measured with benchmarks/bench_layers.py at every model shape (benchmarks/README.md)."""
    u_bytes = (DEFAULT_TILE + 2) ** 2 * c_in * c_out * 4                   # U and each dU, float32
    if (tuple(kernel_size), tuple(stride)) != ((3, 3), (1, 1)) or c_in < AUTO_MIN_CHANNELS \
            or u_bytes > AUTO_MAX_FILTER_BYTES:
        return None
    return DEFAULT_TILE


@njit(nogil=True, cache=True, inline="always")
def _combine_at(out, B, i, src, k0, o):
    """out[:] = sum_k B[i, k] * src[k0 + k, o, :] over the nonzero B[i, k]: a vectorised
    combination of contiguous rows (src 3-D, C-contiguous)."""
    first = True
    for k in range(B.shape[1]):
        bik = B[i, k]
        if bik != 0:
            row = src[k0 + k, o]
            if first:
                for q in range(out.shape[0]):
                    out[q] = bik * row[q]
            else:
                for q in range(out.shape[0]):
                    out[q] += bik * row[q]
            first = False


@njit(nogil=True, cache=True, inline="always")
def _combine(out, B, i, src):
    """out[:] = sum_k B[i, k] * src[k, :] (src 2-D, C-contiguous)."""
    _combine_at(out, B, i, src.reshape((src.shape[0], 1, src.shape[1])), 0, 0)


@njit(nogil=True, cache=True)
def tile_transform(src, n0, nb, ty0, ty1, TW, step, ph, pw, B, out):
    """out[i*a + j, c, p] = sum_{k,l} B[i,k] B[j,l] src[n, c, ty*step + k - ph, tx*step + l - pw]
    for samples n0..n0+nb-1, tile rows ty0..ty1-1, tiles tx < TW; p = ((n-n0)*(ty1-ty0) +
    ty-ty0)*TW + tx. Pixels outside src are zero. B: (a, t) for tiles of t pixels."""
    _, C, H, W = src.shape
    a, t = B.shape
    TP = (ty1 - ty0) * TW                     # tiles per sample in this chunk
    P = nb * TP
    d = np.empty((t, t, P), src.dtype)        # d[l, k, p]: pixel (k, l) of every tile
    tmp = np.empty((a, t, P), src.dtype)      # tmp[i, l] = sum_k B[i, k] d[l, k]
    for c in range(C):
        for n in range(n0, n0 + nb):          # gather: zero outside the image
            img = src[n, c]
            for ty in range(ty0, ty1):
                q0 = ((n - n0) * (ty1 - ty0) + ty - ty0) * TW
                for k in range(t):
                    r = ty * step + k - ph
                    inside = 0 <= r < H
                    for l in range(t):
                        dlk = d[l, k]
                        for tx in range(TW):
                            col = tx * step + l - pw
                            dlk[q0 + tx] = img[r, col] if inside and 0 <= col < W else 0
        for i in range(a):                    # B d, down the columns, every tile at once
            for l in range(t):
                _combine(tmp[i, l], B, i, d[l])
        for i in range(a):                    # (B d) B^T, along the rows
            for j in range(a):
                _combine(out[i * a + j, c], B, j, tmp[i])
    return out


@njit(nogil=True, cache=True)
def untile_transform(M, n0, nb, ty0, ty1, TW, AT, bias, y):
    """y[n, o, ty*m + u, tx*m + v] = bias[o] + sum_{i,j} AT[u,i] AT[v,j] M[i*a + j, o, p] (the
    inverse of ``tile_transform``'s numbering), cropped to y's (OH, OW)."""
    _, C_out, OH, OW = y.shape
    m, a = AT.shape
    TP = (ty1 - ty0) * TW
    P = nb * TP
    h = np.empty((m, a, P), M.dtype)          # h[v, i] = sum_j AT[v, j] M[i*a + j, o]
    Y = np.empty((m, m, P), M.dtype)
    for o in range(C_out):
        for i in range(a):                    # M A, along the rows
            for v in range(m):
                _combine_at(h[v, i], AT, v, M, i * a, o)
        for u in range(m):                    # AT (M A), down the columns
            for v in range(m):
                _combine(Y[u, v], AT, u, h[v])
        for n in range(n0, n0 + nb):          # scatter, cropped, one output row at a time
            for ty in range(ty0, ty1):
                q0 = ((n - n0) * (ty1 - ty0) + ty - ty0) * TW
                for u in range(min(m, OH - ty * m)):
                    row = y[n, o, ty * m + u]
                    for v in range(m):
                        Yuv = Y[u, v]
                        for tx in range(TW):
                            col = tx * m + v
                            if col < OW:
                                row[col] = Yuv[q0 + tx] + bias[o]
    return y


@njit(nogil=True, cache=True)
def filter_transform(W, G, U):
    """U[i*a + j, o, c] = (G W[o, c] G^T)[i, j]: W (C_out, C, 3, 3) -> U (a*a, C_out, C).
    Vectorised along c; G with its columns reversed gives the flipped kernel's transform."""
    C_out, C, r, _ = W.shape
    a = G.shape[0]
    w = np.empty((r, r, C), W.dtype)          # w[l, k, c] = W[o, c, k, l]
    tmp = np.empty((a, r, C), W.dtype)        # tmp[i, l] = sum_k G[i, k] w[l, k]
    for o in range(C_out):
        for c in range(C):
            for k in range(r):
                for l in range(r):
                    w[l, k, c] = W[o, c, k, l]
        for i in range(a):
            for l in range(r):
                _combine(tmp[i, l], G, i, w[l])
        for i in range(a):
            for j in range(a):
                _combine(U[i * a + j, o], G, j, tmp[i])
    return U


@njit(nogil=True, cache=True)
def filter_transform_t(dU, G, dW):
    """dW[o, c] = G^T dU[:, o, c] G (the adjoint of ``filter_transform``): dU (a*a, C_out, C)."""
    C_out, C, r, _ = dW.shape
    a = G.shape[0]
    GT = np.ascontiguousarray(G.T)
    h = np.empty((r, a, C), dW.dtype)         # h[l, i] = sum_j G[j, l] dU[i*a + j, o]
    w = np.empty((r, r, C), dW.dtype)         # w[k, l] = sum_i G[i, k] h[l, i]
    for o in range(C_out):
        for i in range(a):
            for l in range(r):
                _combine_at(h[l, i], GT, l, dU, i * a, o)
        for k in range(r):
            for l in range(r):
                _combine(w[k, l], GT, k, h[l])
        for c in range(C):
            for k in range(r):
                for l in range(r):
                    dW[o, c, k, l] = w[k, l, c]
    return dW


def _chunks(n0, n1, TH, TW, per_tile, budget):
    """Chunks (a, nb, ty0, ty1): whole samples while their tiles fit ``budget`` bytes, else one
    sample in bands of tile rows."""
    per_sample = TH * TW * per_tile
    if per_sample <= budget:
        nb = max(1, min(n1 - n0, budget // per_sample))
        return [(a, min(nb, n1 - a), 0, TH) for a in range(n0, n1, nb)]
    rows = max(1, budget // (TW * per_tile))
    return [(n, 1, r, min(r + rows, TH)) for n in range(n0, n1) for r in range(0, TH, rows)]


def _matrices(m, dtype):
    return tuple(M.astype(dtype) for M in winograd_matrices(m))          # AT, G, BT


def _filters(W, G, ws, name):
    """U (a*a, C_out, C) = G W G^T per filter, in the Workspace buffer ``name``."""
    C_out, C = W.shape[:2]
    return filter_transform(W, G, ws.get(name, (G.shape[0] ** 2, C_out, C), W.dtype))


def _budget(U):
    """Chunk bytes: CHUNK_BYTES, or up to the filters' size (at most 16 MB): wider GEMMs."""
    return max(CHUNK_BYTES, min(U.nbytes, 16 << 20))


def _correlate(src, U, bias, padding, m, out, ws, n0, n1, keep=None):
    """out[n] (N, C_out, OH, OW) = Winograd correlation of src[n] with U (+ bias), n0 <= n < n1.
    U: (a*a, C_out, C) (any strides BLAS takes). With a dict ``keep``, each chunk's V is a new
    array stored there under its chunk (a, nb, ty0, ty1), for backward."""
    AT, _, BT = _matrices(m, src.dtype)
    (kk, C_out, C), (OH, OW) = U.shape, out.shape[2:]
    TH, TW = tile_grid(OH, OW, m)
    b = np.zeros(C_out, src.dtype) if bias is None else bias.astype(src.dtype, copy=False)
    for chunk in _chunks(n0, n1, TH, TW, kk * max(C, C_out) * src.itemsize, _budget(U)):
        a, nb, ty0, ty1 = chunk
        P = nb * (ty1 - ty0) * TW
        V = np.empty((kk, C, P), src.dtype) if keep is not None else ws.get("V", (kk, C, P), src.dtype)
        V = tile_transform(src, a, nb, ty0, ty1, TW, m, *padding, BT, V)
        if keep is not None:
            keep[chunk] = V
        Mt = np.matmul(U, V, out=ws.get("M", (kk, C_out, P), src.dtype))    # a*a, C_out, P
        untile_transform(Mt, a, nb, ty0, ty1, TW, AT, b, out)


def conv_forward(x, W, b=None, stride=1, padding=0, ws=None, tile=4, for_backward=True):
    """Same numbers as ``winograd_ref.conv_forward``: x (N, C, H, W), W (C_out, C, 3, 3) -> (out, saved).
    ``for_backward=False``: no backward will follow (keep nothing for it)."""
    check_conv(W, stride)
    ws = ws or shared_workspace()
    x = np.ascontiguousarray(x)
    (N, C, H, Wd), (ph, pw) = x.shape, pair(padding)
    out = np.empty((N, W.shape[0], H + 2 * ph - 2, Wd + 2 * pw - 2), dtype=x.dtype)
    U = _filters(np.ascontiguousarray(W), _matrices(tile, x.dtype)[1], ws, "U")   # a*a, C_out, C
    # keep V = BT x B for backward's weight gradient when it is small (the 64x64 models' layers)
    TH, TW = tile_grid(*out.shape[2:], tile)
    keep = {} if for_backward and U.shape[0] * C * N * TH * TW * x.itemsize <= KEEP_V_BYTES else None
    cf._map(lambda w, n0, n1: _correlate(x, U, b, (ph, pw), tile, out, ws.worker(w), n0, n1, keep),
            cf._sample_ranges(N, N * x[0].size * 9))
    return out, (x, b is not None, keep or {})


def _weight_grad_share(dy, x, padding, m, ws, n0, n1, kept):
    """(dU (a*a, C_out, C), db (C_out,)) summed over samples n0..n1-1: A dY AT of dout against
    V = BT d B of x (from ``kept``, forward's V by chunk, where it is there). db comes free: at
    tile position (1, 1) (interpolation point 1, A's all-ones column) dM is each tile's sum."""
    AT, _, BT = _matrices(m, x.dtype)
    (N, C_out, OH, OW), C = dy.shape, x.shape[1]
    TH, TW = tile_grid(OH, OW, m)
    kk = (m + 2) ** 2
    dU = ws.get("dU", (kk, C_out, C), x.dtype)
    db = np.zeros(C_out, x.dtype)
    A = np.ascontiguousarray(AT.T)                                           # a, m
    for chunk in _chunks(n0, n1, TH, TW, kk * max(C, C_out) * x.itemsize, _budget(dU)):
        a, nb, ty0, ty1 = chunk
        P = nb * (ty1 - ty0) * TW
        V = kept.get(chunk)
        if V is None:
            V = tile_transform(x, a, nb, ty0, ty1, TW, m, *padding, BT, ws.get("V", (kk, C, P), x.dtype))
        dM = tile_transform(dy, a, nb, ty0, ty1, TW, m, 0, 0, A, ws.get("M", (kk, C_out, P), x.dtype))
        db += dM[m + 3].sum(axis=1)                                          # position (1, 1)
        Vt = V.transpose(0, 2, 1)                                            # a*a, P, C
        if a == n0 and ty0 == 0:
            np.matmul(dM, Vt, out=dU)
        else:                                  # one tile position at a time: a small scratch
            part = ws.get("part", dU.shape[1:], x.dtype)                     # C_out, C
            for k in range(kk):
                dU[k] += np.dot(dM[k], Vt[k], out=part)
    return dU, db


def conv_backward(dout, saved, W, stride=1, padding=0, need_dx=True, ws=None, tile=4):
    """Same numbers as ``winograd_ref.conv_backward``: dx (None if not need_dx), dW, db (None
    without a bias). dW and db are fresh arrays."""
    check_conv(W, stride)
    ws = ws or shared_workspace()
    x, has_bias, kept = saved
    (ph, pw), (N, C), C_out = pair(padding), x.shape[:2], W.shape[0]
    dy = np.ascontiguousarray(dout)
    _, G, _ = _matrices(tile, W.dtype)
    ranges = cf._sample_ranges(N, N * x[0].size * 9)                         # as in forward
    parts = cf._map(lambda w, n0, n1: _weight_grad_share(dy, x, (ph, pw), tile, ws.worker(w), n0, n1, kept),
                    ranges)
    dU, db = parts[0]                                                        # a*a, C_out, C
    for p, b in parts[1:]:
        dU += p
        db += b
    dW = filter_transform_t(dU, G, np.empty(W.shape, W.dtype))               # C_out, C, 3, 3
    db = db if has_bias else None
    dx = None
    if need_dx:
        dx = np.empty(x.shape, dtype=W.dtype)
        # the flipped, channel-swapped kernel's transform: G J W J G^T with J reversing the taps
        Uf = _filters(np.ascontiguousarray(W), np.ascontiguousarray(G[:, ::-1]), ws, "U")
        Uf = Uf.transpose(0, 2, 1)                                           # a*a, C, C_out
        cf._map(lambda w, n0, n1: _correlate(dy, Uf, None, (2 - ph, 2 - pw), tile, dx, ws.worker(w), n0, n1),
                ranges)
    return dx, dW, db
