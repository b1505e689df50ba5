"""Winograd convolution, the fast path: ``winograd_ref``'s numbers with Numba transforms + BLAS.

Same algorithm and interface as ``winograd_ref.py`` (the tests hold one to the other); what
changes is how the work is laid out:

1. The transforms are Numba kernels (``winograd_transforms``, ``winograd_filters``).
   ``tile_transform`` gathers one channel's tiles of a chunk from NCHW memory (zeros outside
   the image by bounds checks; negative padding crops) and writes ``out[i*a + j, c, p] =
   (B d B^T)[i, j]`` for every tile p, both halves vectorised across the tiles (F(4x4)'s
   matrices written out): the input transform (B = BT, tiles of a = m+2 pixels, stride m)
   and, for backward, the output transform's transpose on dout (dM = A dY AT, tiles of m; its
   position (1, 1) is each tile's sum, which gives db). ``untile_transform`` does Y = AT M A
   per tile, adds the bias and writes the cropped block into the NCHW output.
2. Between them, one GEMM per tile position: M[k] = U[k] (C_out, C) @ V[k] (C, P) for the
   a^2 positions k, as one ``np.matmul`` on the stacks (NumPy calls BLAS per slice).
3. Backward uses dM twice: dU[k] = dM[k] V[k]^T (then dW = G^T dU G), and the input gradient
   as forward's exact adjoint, dV[k] = U[k]^T dM[k] with each tile's BT^T dV BT added back
   where forward gathered it (``tile_transform_t``). The reference instead correlates dout
   with the flipped kernel; the adjoint spares that second transform of dout and the flipped
   filters' (8-20% of a layer's forward + backward).
4. Memory stays bounded: the batch is cut into chunks (whole samples, or bands of tile rows
   of one large sample) whose V and M fit CHUNK_BYTES, in Workspace buffers reused every
   step. Forward keeps V (2.25x its input for F(4x4)) for backward only where it is at most
   KEEP_V_BYTES and U at most KEEP_MAX_FILTER_BYTES (in the arrays the layer's last forward
   kept: ``recycle``); elsewhere backward transforms x again. It always keeps the transformed
   filters U (a*a, C_out, C), 4x the weights, for the input gradient; "auto" takes Winograd
   only where U is at most ``winograd_rule.AUTO_MAX_FILTER_BYTES`` (a 512->512 layer's U is 38 MB).
5. As in ``conv_fast``, the batch is split between worker threads (single-threaded BLAS, own
   Workspace each). Each worker sums a dU of its own over its samples (added at the end) and
   computes their dx from the same dM. Where U is larger than SPLIT_POSITIONS_BYTES and there
   are several workers, they share one dU in U's buffer instead: chunk by chunk, two of them
   transform x and dout, then each multiplies its own tile positions; dx follows with the U
   forward kept.
"""
import numpy as np

from minicnn.kernels import conv_fast as cf
from minicnn.kernels.shapes import int_pair as pair
from minicnn.kernels.workspace import shared_workspace
from minicnn.kernels.winograd_tables import check_conv, tile_grid, winograd_matrices
from minicnn.kernels.winograd_filters import filter_blocks, filter_transform, filter_transform_t
from minicnn.kernels.winograd_transforms import tile_transform, tile_transform_t, untile_transform

CHUNK_BYTES = 4 << 20     #: target size of one chunk's transformed tiles (V, and M likewise)
KEEP_V_BYTES = 40 << 20   #: forward keeps the transformed input for backward if it is this small
KEEP_MAX_FILTER_BYTES = 16 << 20   #: ... and the layer's transformed filters too (memory: CNN5 @150)
PARALLEL_FILTER_BYTES = 4 << 20    #: the worker threads share a filter transform from this size
SPLIT_POSITIONS_BYTES = 16 << 20   #: several workers split dW's tile positions, not the batch, above this U


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
    return _shared(filter_transform, W, G, ws.get(name, (G.shape[0] ** 2, C_out, C), W.dtype))


def _shared(transform, src, G, dst):
    """``transform(src, G, dst)`` (a filter transform or its adjoint), its blocks of filters split
    between the worker threads when they are many (a 512->512 layer's 38 MB: 4.5 ms on one)."""
    if max(src.nbytes, dst.nbytes) < PARALLEL_FILTER_BYTES:             # U's size, either way
        return transform(src, G, dst)
    C_out, C = (src if src.ndim == 4 else dst).shape[:2]
    ranges = cf._sample_ranges(filter_blocks(C_out, C), dst.size)
    cf._map(lambda w, b0, b1: transform(src, G, dst, b0, b1), ranges)
    return dst


def _budget(U):
    """Chunk bytes: CHUNK_BYTES, or up to the filters' size (at most 16 MB): wider GEMMs."""
    return max(CHUNK_BYTES, min(U.nbytes, 16 << 20))


def _correlate(src, U, bias, padding, m, out, ws, n0, n1, keep=None, reuse=None):
    """out[n] (N, C_out, OH, OW) = Winograd correlation of src[n] with U (+ bias), n0 <= n < n1.
    U: (a*a, C_out, C) (any strides BLAS takes). With a dict ``keep``, each chunk's V is an
    array of its own stored there under its chunk (a, nb, ty0, ty1), for backward: the one
    ``reuse`` holds under that chunk if it has the shape, else a new one."""
    AT, _, BT = _matrices(m, src.dtype)
    (kk, C_out, C), (OH, OW) = U.shape, out.shape[2:]
    TH, TW = tile_grid(OH, OW, m)
    b = np.zeros(C_out, src.dtype) if bias is None else bias.astype(src.dtype, copy=False)
    for chunk in _chunks(n0, n1, TH, TW, kk * max(C, C_out) * src.itemsize, _budget(U)):
        a, nb, ty0, ty1 = chunk
        P = nb * (ty1 - ty0) * TW
        V = ws.get("V", (kk, C, P), src.dtype) if keep is None else _reused(reuse, chunk, (kk, C, P), src.dtype)
        V = tile_transform(src, a, nb, ty0, ty1, TW, m, *padding, BT, V)
        if keep is not None:
            keep[chunk] = V
        Mt = np.matmul(U, V, out=ws.get("M", (kk, C_out, P), src.dtype))    # a*a, C_out, P
        untile_transform(Mt, a, nb, ty0, ty1, TW, AT, b, out)


def _reused(arrays, key, shape, dtype):
    """arrays[key] if it is there with this shape and dtype, else a new array."""
    old = (arrays or {}).get(key)
    return old if old is not None and old.shape == shape and old.dtype == dtype else np.empty(shape, dtype)


def conv_forward(x, W, b=None, stride=1, padding=0, ws=None, tile=4, for_backward=True, recycle=None):
    """Same numbers as ``winograd_ref.conv_forward``: x (N, C, H, W), W (C_out, C, 3, 3) -> (out, saved).
    ``for_backward=False``: no backward will follow (keep nothing for it). ``recycle``: the
    ``saved`` of a forward whose backward will not come (the layer's previous step): its kept
    arrays are written over instead of allocating new ones (a fresh array of many MB costs a
    page fault per 4 KB when first written: about as much as transforming it)."""
    check_conv(W, stride)
    ws = ws or shared_workspace()
    x = np.ascontiguousarray(x)
    (N, C, H, Wd), (ph, pw) = x.shape, pair(padding)
    out = np.empty((N, W.shape[0], H + 2 * ph - 2, Wd + 2 * pw - 2), dtype=x.dtype)
    reuse = recycle[2] if recycle is not None else None
    # U = G W G^T: with a backward to come, in the layer's own array (38 MB for 512->512), kept
    shape = ((tile + 2) ** 2,) + W.shape[:2]                                  # a*a, C_out, C
    U = _shared(filter_transform, np.ascontiguousarray(W), _matrices(tile, x.dtype)[1],
                _reused(reuse, "U", shape, W.dtype) if for_backward else ws.get("U", shape, W.dtype))
    # keep V = BT x B for backward's weight gradient when it is small (the 64x64 models' layers,
    # Mini-ResNet's at 150), but not beside large filters (CNN5's 512-wide layers at 150 would
    # keep 50 MB more, and they already hold 38 MB of U and dU)
    TH, TW = tile_grid(*out.shape[2:], tile)
    small = U.shape[0] * C * N * TH * TW * x.itemsize <= KEEP_V_BYTES and U.nbytes <= KEEP_MAX_FILTER_BYTES
    keep = {} if for_backward and small else None
    cf._map(lambda w, n0, n1: _correlate(x, U, b, (ph, pw), tile, out, ws.worker(w), n0, n1, keep, reuse),
            cf._sample_ranges(N, N * x[0].size * 9))
    kept = {**(keep or {}), "U": U} if for_backward else {}     # U: for backward's input gradient
    return out, (x, b is not None, kept)


def _weight_grad_share(dy, x, padding, m, ws, n0, n1, kept, dU, U=None, dx=None):
    """(dU (a*a, C_out, C), db (C_out,)) summed over samples n0..n1-1 into the array dU: A dY AT
    of dout against V = BT d B of x (from ``kept``, forward's V by chunk, where it is there).
    db comes free: at tile position (1, 1) (interpolation point 1, A's all-ones column) dM is
    each tile's sum. With forward's filters U, the same dM also gives these samples' input
    gradient, added into dx (``_add_input_grad``)."""
    AT, _, BT = _matrices(m, x.dtype)
    (N, C_out, OH, OW), C = dy.shape, x.shape[1]
    TH, TW = tile_grid(OH, OW, m)
    kk = (m + 2) ** 2
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
        _add_products(dU, dM, V.transpose(0, 2, 1), 0, kk, a == n0 and ty0 == 0, ws)
        if dx is not None:                     # after dU: V's buffer is free for dV
            _add_input_grad(dM, U, chunk, TW, m, padding, BT, dx, ws)
    return dU, db


def _add_input_grad(dM, U, chunk, TW, m, padding, BT, dx, ws):
    """dx += forward's adjoint on one chunk: dV[k] = U[k]^T dM[k] per tile position (dM = A dY AT,
    dout's transform, as for dW), and each tile's BT^T dV BT added back where forward gathered
    its pixels (``tile_transform_t``; neighbouring tiles overlap by 2 pixels). The reference
    computes the same dx as a correlation of dout with the flipped kernel; this way the
    transform of dout serves dW and dx, and no flipped filters are transformed."""
    a, nb, ty0, ty1 = chunk
    kk, C, P = U.shape[0], U.shape[2], dM.shape[2]
    dV = np.matmul(U.transpose(0, 2, 1), dM, out=ws.get("V", (kk, C, P), dM.dtype))   # a*a, C, P
    tile_transform_t(dV, a, nb, ty0, ty1, TW, m, *padding, BT, dx)


def _weight_grad_by_position(dy, x, padding, m, ws, chunks, kept, dU):
    """(dU (a*a, C_out, C), db (C_out,)) summed over the whole batch into the one array dU,
    with len(ws workers) >= 2 threads: chunk by chunk, dout's and x's transforms on two of
    them, then each multiplies its own tile positions k (dU[k] += dM[k] V[k]^T). No worker
    sums a dU of its own (a 512->512 layer's is 38 MB), and each dU[k] adds the chunks in
    one order: the same numbers on every run."""
    AT, _, BT = _matrices(m, x.dtype)
    (N, C_out, OH, OW), C = dy.shape, x.shape[1]
    TW, kk = tile_grid(OH, OW, m)[1], (m + 2) ** 2
    A = np.ascontiguousarray(AT.T)                                           # a, m
    T = len(chunks)
    positions = [(kk * w // T, kk * (w + 1) // T) for w in range(T)]
    db = np.zeros(C_out, x.dtype)
    first = True
    for chunk in (c for share in chunks for c in share):      # forward's chunks: its V is kept by them
        a, nb, ty0, ty1 = chunk
        P = nb * (ty1 - ty0) * TW
        dM = ws.worker(0).get("M", (kk, C_out, P), x.dtype)
        V = kept.get(chunk)

        def transform(w, *_):
            if w == 0:
                tile_transform(dy, a, nb, ty0, ty1, TW, m, 0, 0, A, dM)
            elif V is None:
                return tile_transform(x, a, nb, ty0, ty1, TW, m, *padding, BT,
                                      ws.worker(1).get("V", (kk, C, P), x.dtype))
            return V
        V = cf._map(transform, [(0, 0), (0, 0)])[1]
        db += dM[m + 3].sum(axis=1)                                          # position (1, 1)
        Vt = V.transpose(0, 2, 1)                                            # a*a, P, C
        cf._map(lambda w, k0, k1, first=first: _add_products(dU, dM, Vt, k0, k1, first, ws.worker(w)),
                positions)
        first = False
    return dU, db


def _add_products(dU, dM, Vt, k0, k1, first, ws):
    """dU[k] = dM[k] Vt[k] (a chunk's first) or += (a later one) for tile positions k0..k1-1:
    first as one ``np.matmul`` on the stacks, later one position at a time through a small
    (C_out, C) scratch of ``ws``."""
    if first:
        np.matmul(dM[k0:k1], Vt[k0:k1], out=dU[k0:k1])
        return
    part = ws.get("part", dU.shape[1:], dU.dtype)
    for k in range(k0, k1):
        dU[k] += np.dot(dM[k], Vt[k], out=part)


def conv_backward(dout, saved, W, stride=1, padding=0, need_dx=True, ws=None, tile=4):
    """Same numbers as ``winograd_ref.conv_backward``: dx (None if not need_dx), dW, db (None
    without a bias). dW and db are fresh arrays."""
    check_conv(W, stride)
    ws = ws or shared_workspace()
    x, has_bias, kept = saved
    (ph, pw), (N, C), C_out = pair(padding), x.shape[:2], W.shape[0]
    dy = np.ascontiguousarray(dout)
    _, G, _ = _matrices(tile, W.dtype)
    shape = (G.shape[0] ** 2, C_out, C)                                      # U's and dU's
    ranges = cf._sample_ranges(N, N * x[0].size * 9)                         # as in forward
    dx = np.zeros(x.shape, dtype=W.dtype) if need_dx else None   # tile_transform_t adds into it
    if len(ranges) > 1 and np.prod(shape) * W.itemsize > SPLIT_POSITIONS_BYTES:
        # one dU, the positions split, in the Workspace's buffer "U" (forward's U is the layer's
        # own, kept for dx; a 512->512 layer's is 38 MB: no second dU per worker)
        TH, TW = tile_grid(*dy.shape[2:], tile)
        per_tile = shape[0] * max(C, C_out) * x.itemsize
        dU = ws.get("U", shape, W.dtype)
        chunks = [_chunks(n0, n1, TH, TW, per_tile, _budget(dU)) for n0, n1 in ranges]
        dU, db = _weight_grad_by_position(dy, x, (ph, pw), tile, ws, chunks, kept, dU)
        dW = _shared(filter_transform_t, dU, G, np.empty(W.shape, W.dtype))           # C_out, C, 3, 3
        if need_dx:
            U = _forward_filters(kept, W, G, ws)
            cf._map(lambda w, n0, n1: _input_grad_share(dy, U, (ph, pw), tile, dx, ws.worker(w), n0, n1,
                                                        chunks[w]), ranges)
    else:
        # the batch split: each worker sums a dU of its own, and with dx computes its samples'
        # input gradient from the same transformed dout, with forward's filters U (kept, or in "U")
        U = _forward_filters(kept, W, G, ws) if need_dx else None
        free = U is None or U is kept.get("U")                # the Workspace's "U" holds no U
        dUs = [ws.get("U", shape, W.dtype) if free else ws.worker(0).get("dU", shape, W.dtype)] + \
              [ws.worker(w).get("dU", shape, W.dtype) for w in range(1, len(ranges))]
        parts = cf._map(lambda w, n0, n1: _weight_grad_share(dy, x, (ph, pw), tile, ws.worker(w), n0, n1,
                                                             kept, dUs[w], U, dx), ranges)
        dU, db = parts[0]
        for _, b in parts[1:]:
            db += b
        _sum_into(dU, [p for p, _ in parts[1:]])
        dW = _shared(filter_transform_t, dU, G, np.empty(W.shape, W.dtype))           # C_out, C, 3, 3
    return dx, dW, (db if has_bias else None)


def _sum_into(dU, others):
    """dU += each of ``others``, the worker threads each adding its share of the tile positions
    (a 512->512 layer's dU is 16 MB or more: one thread alone takes milliseconds)."""
    if others:
        cf._map(lambda w, k0, k1: [np.add(dU[k0:k1], o[k0:k1], out=dU[k0:k1]) for o in others],
                cf._sample_ranges(dU.shape[0], dU.size))


def _forward_filters(kept, W, G, ws):
    """Forward's transformed filters U: the array it kept, else (it kept none) made again."""
    U = kept.get("U")
    return U if U is not None else _filters(np.ascontiguousarray(W), G, ws, "U")


def _input_grad_share(dy, U, padding, m, dx, ws, n0, n1, chunks):
    """dx[n0:n1] by ``_add_input_grad``, chunk by chunk, dout transformed again (the positions
    split's dW kept no transformed dout)."""
    AT, _, BT = _matrices(m, dy.dtype)
    TW, A = tile_grid(*dy.shape[2:], m)[1], np.ascontiguousarray(AT.T)
    for chunk in chunks:
        a, nb, ty0, ty1 = chunk
        P = nb * (ty1 - ty0) * TW
        dM = ws.get("M", (U.shape[0], U.shape[1], P), dy.dtype)
        dM = tile_transform(dy, a, nb, ty0, ty1, TW, m, 0, 0, A, dM)
        _add_input_grad(dM, U, chunk, TW, m, padding, BT, dx, ws)
