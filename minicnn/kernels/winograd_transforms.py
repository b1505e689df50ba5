"""The Numba transforms of ``winograd_fast``: tiles in and out of NCHW memory.

Every transform is B X B^T for a small matrix B applied to many tiles at once: the tiles sit
side by side in the last axis (``p``), so each half (B X, then (B X) B^T) is a linear
combination of whole rows of tiles, loops over contiguous memory that LLVM vectorises.
``winograd_rows.transform_rows`` does one half for one group of rows, with the tables of both
tile sizes written out.

- ``tile_transform`` gathers each channel's tiles from NCHW (zeros outside the image: the
  padding; negative padding crops), then transforms them: the input transform V = BT d B, and
  for dW the output transform's transpose on dout (A dY AT). Tiles wholly inside the image are
  copied a tile row at a time (widths 6 and 4 written out) with no bounds checks.
- ``untile_transform`` does Y = AT M A, adds the bias and writes each output row: whole tiles
  without bounds checks (F(4x4)'s four columns written out), a row's cropped last tile pixel by
  pixel.
- ``tile_transform_t``: the adjoint of ``tile_transform`` (each tile's B^T dV B added back where
  its pixels came from), for the input gradient; ``transform_rows_t`` is its half-transform.

The filter transforms (U = G W G^T and its adjoint) are in ``winograd_filters``.
"""
import numpy as np
from numba import njit

from minicnn.kernels.winograd_rows import transform_rows, transform_rows_t


@njit(nogil=True, cache=True)
def tile_transform(src, n0, nb, ty0, ty1, TW, step, ph, pw, B, out):
    """out[i*a + j, c, p] = sum_{k,l} B[i,k] B[j,l] src[n, c, ty*step + k - ph, tx*step + l - pw]
    for samples n0..n0+nb-1, tile rows ty0..ty1-1, tiles tx < TW; p = ((n-n0)*(ty1-ty0) +
    ty-ty0)*TW + tx. Pixels outside src are zero. B: (a, t) for tiles of t pixels."""
    _, C, H, W = src.shape
    a, t = B.shape
    P = nb * (ty1 - ty0) * TW
    d = np.empty((t, t, P), src.dtype)        # d[k, l, p]: pixel (k, l) of every tile
    tmp = np.empty((a, t, P), src.dtype)      # tmp[i, l] = sum_k B[i, k] d[k, l]
    # tiles tx0 <= tx < tx1 lie wholly inside the image's columns: no bounds checks there
    tx0 = min(TW, -(-pw // step)) if pw > 0 else 0
    tx1 = max(tx0, min(TW, (W + pw - t) // step + 1))
    for c in range(C):
        for n in range(n0, n0 + nb):          # gather: zero outside the image
            img = src[n, c]
            for ty in range(ty0, ty1):
                q0 = ((n - n0) * (ty1 - ty0) + ty - ty0) * TW
                for k in range(t):
                    r = ty * step + k - ph
                    dk = d[k]
                    if not 0 <= r < H:
                        for l in range(t):
                            for tx in range(TW):
                                dk[l, q0 + tx] = 0
                        continue
                    row = img[r]
                    if t == 6:
                        for tx in range(tx0, tx1):
                            c0, q = tx * step - pw, q0 + tx
                            dk[0, q], dk[1, q], dk[2, q] = row[c0], row[c0 + 1], row[c0 + 2]
                            dk[3, q], dk[4, q], dk[5, q] = row[c0 + 3], row[c0 + 4], row[c0 + 5]
                    elif t == 4:
                        for tx in range(tx0, tx1):
                            c0, q = tx * step - pw, q0 + tx
                            dk[0, q], dk[1, q] = row[c0], row[c0 + 1]
                            dk[2, q], dk[3, q] = row[c0 + 2], row[c0 + 3]
                    else:
                        for l in range(t):
                            for tx in range(tx0, tx1):
                                dk[l, q0 + tx] = row[tx * step + l - pw]
                    for e in range(tx0 + TW - tx1):              # the edge tiles
                        tx = e if e < tx0 else tx1 + e - tx0
                        for l in range(t):
                            col = tx * step + l - pw
                            dk[l, q0 + tx] = row[col] if 0 <= col < W else 0
        for l in range(t):                    # B d, down the columns, every tile at once
            transform_rows(B, d, 0, 1, l, tmp, 0, 1, l)
        tmp2 = tmp.reshape((a * t, 1, P))
        for i in range(a):                    # (B d) B^T, along the rows
            transform_rows(B, tmp2, i * t, 1, 0, out, i * a, 1, c)
    return out


@njit(nogil=True, cache=True)
def tile_transform_t(dV, n0, nb, ty0, ty1, TW, step, ph, pw, B, dx):
    """dx[n, c, ty*step + k - ph, tx*step + l - pw] += sum_{i,j} B[i,k] B[j,l] dV[i*a + j, c, p]
    for the pixels inside dx: the adjoint of ``tile_transform`` (same numbering, B (a, t)),
    adding each tile's B^T dV B back where its pixels came from. Tiles overlap (stride < t),
    so their sums add up; dx must hold zeros (or what to add to) before the first call."""
    _, C, H, W = dx.shape
    a, t = B.shape
    P = nb * (ty1 - ty0) * TW
    BT = np.ascontiguousarray(B.T)
    h = np.empty((t, a, P), dx.dtype)         # h[l, i] = sum_j B[j, l] dV[i*a + j]
    h2 = h.reshape((t * a, 1, P))
    d = np.empty((t, t, P), dx.dtype)         # d[k, l] = sum_i B[i, k] h[l, i]: pixel (k, l)
    tx0 = min(TW, -(-pw // step)) if pw > 0 else 0     # as in tile_transform
    tx1 = max(tx0, min(TW, (W + pw - t) // step + 1))
    for c in range(C):
        for i in range(a):                    # dV B, along the rows
            transform_rows_t(B, BT, dV, i * a, 1, c, h, 0, 1, i)
        for l in range(t):                    # B^T (dV B), down the columns
            transform_rows_t(B, BT, h2, l * a, 1, 0, d, 0, 1, l)
        for n in range(n0, n0 + nb):          # scatter-add: pixels outside dx are dropped
            img = dx[n, c]
            for ty in range(ty0, ty1):
                q0 = ((n - n0) * (ty1 - ty0) + ty - ty0) * TW
                for k in range(t):
                    r = ty * step + k - ph
                    if not 0 <= r < H:
                        continue
                    row, dk = img[r], d[k]
                    if t == 6:
                        for tx in range(tx0, tx1):
                            c0, q = tx * step - pw, q0 + tx
                            row[c0] += dk[0, q]
                            row[c0 + 1] += dk[1, q]
                            row[c0 + 2] += dk[2, q]
                            row[c0 + 3] += dk[3, q]
                            row[c0 + 4] += dk[4, q]
                            row[c0 + 5] += dk[5, q]
                    else:
                        for tx in range(tx0, tx1):
                            for l in range(t):
                                row[tx * step + l - pw] += dk[l, q0 + tx]
                    for e in range(tx0 + TW - tx1):              # the edge tiles
                        tx = e if e < tx0 else tx1 + e - tx0
                        for l in range(t):
                            col = tx * step + l - pw
                            if 0 <= col < W:
                                row[col] += dk[l, q0 + tx]
    return dx


@njit(nogil=True, cache=True)
def untile_transform(M, n0, nb, ty0, ty1, TW, AT, bias, y):
    """y[n, o, ty*m + u, tx*m + v] = bias[o] + sum_{i,j} AT[u,i] AT[v,j] M[i*a + j, o, p] (the
    inverse of ``tile_transform``'s numbering), cropped to y's (OH, OW)."""
    _, C_out, OH, OW = y.shape
    m, a = AT.shape
    P = nb * (ty1 - ty0) * TW
    full = min(TW, OW // m)                   # tiles of a row that lie wholly inside y
    h = np.empty((m, a, P), M.dtype)          # h[v, i] = sum_j AT[v, j] M[i*a + j, o]
    h2 = h.reshape((m * a, 1, P))
    Y = np.empty((m, m, P), M.dtype)          # Y[u, v] = sum_i AT[u, i] h[v, i]
    for o in range(C_out):
        for i in range(a):                    # M A, along the rows
            transform_rows(AT, M, i * a, 1, o, h, 0, 1, i)
        for v in range(m):                    # AT (M A), down the columns
            transform_rows(AT, h2, v * a, 1, 0, Y, 0, 1, v)
        bo = bias[o]
        for n in range(n0, n0 + nb):          # scatter, one output row at a time
            for ty in range(ty0, ty1):
                q0 = ((n - n0) * (ty1 - ty0) + ty - ty0) * TW
                for u in range(min(m, OH - ty * m)):
                    row, Yu = y[n, o, ty * m + u], Y[u]
                    if m == 4:                # whole tiles: no bounds checks
                        Y0, Y1, Y2, Y3 = Yu[0, q0:q0 + full], Yu[1, q0:q0 + full], Yu[2, q0:q0 + full], Yu[3, q0:q0 + full]
                        for tx in range(full):
                            row[4 * tx], row[4 * tx + 1] = Y0[tx] + bo, Y1[tx] + bo
                            row[4 * tx + 2], row[4 * tx + 3] = Y2[tx] + bo, Y3[tx] + bo
                    else:
                        for tx in range(full):
                            for v in range(m):
                                row[tx * m + v] = Yu[v, q0 + tx] + bo
                    for col in range(full * m, OW):          # the cropped last tile
                        row[col] = Yu[col % m, q0 + col // m] + bo
    return y
