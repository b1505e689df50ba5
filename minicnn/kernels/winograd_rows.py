"""The row transforms under every Winograd transform of ``winograd_fast``: Y = B X on rows of tiles.

Every transform is B X B^T for a small matrix B applied to many tiles at once: the tiles (or the
filters) sit side by side in the last axis, so each half (B X, then (B X) B^T) is a linear
combination of whole rows, loops over contiguous memory that LLVM vectorises.
``transform_rows`` does one half for one group of rows, ``transform_rows_t`` the same with B
transposed (the adjoints, for the input gradient). The tables of ``winograd_tables`` are written
out, each recognised by its shape: all of B's outputs in one pass over the rows, zeros skipped
and shared sums computed once. That is several times faster than ``_combine_at``'s pass per
nonzero entry, which serves any other matrix (and is the plain definition to read). Constants
that float32 cannot hold exactly (G4's 1/6, 4/3, ...) are read from B itself, so float64 data
gets float64's. Tests hold every branch to its matrix.
"""
import numpy as np
from numba import njit


@njit(nogil=True, cache=True, inline="always")
def _combine_at(out, B, i, src, k0, ks, o):
    """out[:] = sum_k B[i, k] * src[k0 + k*ks, o, :] over the nonzero B[i, k] (src 3-D,
    C-contiguous): one vectorised pass per entry, for any B (the plain definition; the tables
    of ``winograd_tables`` have their own branches below)."""
    first = True
    for k in range(B.shape[1]):
        bik = B[i, k]
        if bik != 0:
            row = src[k0 + k * ks, o]
            if first:
                for q in range(out.shape[0]):
                    out[q] = bik * row[q]
            else:
                for q in range(out.shape[0]):
                    out[q] += bik * row[q]
            first = False


# The F(4x4, 3x3) tables' constants, in float32 (exact; float32 data stays float32)
_2, _4, _5 = np.float32(2), np.float32(4), np.float32(5)
_H, _Q, _E = np.float32(0.5), np.float32(0.25), np.float32(0.125)


@njit(nogil=True, cache=True)
def transform_rows(B, X, xo, xs, xc, Y, yo, ys, yc):
    """Y[yo + i*ys, yc, :] = sum_k B[i, k] X[xo + k*xs, xc, :] for every row i of B (X, Y 3-D,
    C-contiguous: each [r, c] is a row of tiles, or of filters, side by side). B is taken to be
    the table of its shape: BT4 (6, 6), AT4 (4, 6), A4 = AT4^T (6, 4), BT2 (4, 4), AT2 (2, 4),
    A2 (4, 2), G4 (6, 3), G2 (4, 3), G4^T (3, 6), G2^T (3, 4); any other goes through
    ``_combine_at``."""
    n, (a, t) = X.shape[2], B.shape
    if (a, t) == (6, 6):                              # BT4 d: the input transform
        r0, r1, r2, r3 = X[xo, xc], X[xo + xs, xc], X[xo + 2 * xs, xc], X[xo + 3 * xs, xc]
        r4, r5 = X[xo + 4 * xs, xc], X[xo + 5 * xs, xc]
        y0, y1, y2 = Y[yo, yc], Y[yo + ys, yc], Y[yo + 2 * ys, yc]
        y3, y4, y5 = Y[yo + 3 * ys, yc], Y[yo + 4 * ys, yc], Y[yo + 5 * ys, yc]
        for q in range(n):
            x0, x1, x2, x3, x4, x5 = r0[q], r1[q], r2[q], r3[q], r4[q], r5[q]
            p, r = _4 * x4 - x2, x1 - _4 * x3               # y1, y2 = p -+ r
            u, v = _2 * (x2 - x4), x1 - x3                  # y3, y4 = u +- v
            y0[q] = x0 - _5 * x2 + _4 * x4
            y1[q] = p - r
            y2[q] = p + r
            y3[q] = u + v
            y4[q] = u - v
            y5[q] = x1 - _5 * x3 + _4 * x5
    elif (a, t) == (4, 6):                            # AT4 M: the output transform
        r0, r1, r2, r3 = X[xo, xc], X[xo + xs, xc], X[xo + 2 * xs, xc], X[xo + 3 * xs, xc]
        r4, r5 = X[xo + 4 * xs, xc], X[xo + 5 * xs, xc]
        y0, y1, y2, y3 = Y[yo, yc], Y[yo + ys, yc], Y[yo + 2 * ys, yc], Y[yo + 3 * ys, yc]
        for q in range(n):
            sp, sm, tp, tm = r1[q] + r2[q], r1[q] - r2[q], r3[q] + r4[q], r3[q] - r4[q]
            y0[q] = r0[q] + sp + tp
            y1[q] = sm + _H * tm
            y2[q] = sp + _Q * tp
            y3[q] = sm + _E * tm + r5[q]
    elif (a, t) == (6, 4):                            # A4 dY: dout's transform for dW
        r0, r1, r2, r3 = X[xo, xc], X[xo + xs, xc], X[xo + 2 * xs, xc], X[xo + 3 * xs, xc]
        y0, y1, y2 = Y[yo, yc], Y[yo + ys, yc], Y[yo + 2 * ys, yc]
        y3, y4, y5 = Y[yo + 3 * ys, yc], Y[yo + 4 * ys, yc], Y[yo + 5 * ys, yc]
        for q in range(n):
            x0, x1, x2, x3 = r0[q], r1[q], r2[q], r3[q]
            p, r = x0 + x2, x1 + x3
            u, v = x0 + _Q * x2, _H * x1 + _E * x3
            y0[q] = x0
            y1[q] = p + r
            y2[q] = p - r
            y3[q] = u + v
            y4[q] = u - v
            y5[q] = x3
    elif (a, t) == (4, 4):                            # BT2 d
        r0, r1, r2, r3 = X[xo, xc], X[xo + xs, xc], X[xo + 2 * xs, xc], X[xo + 3 * xs, xc]
        y0, y1, y2, y3 = Y[yo, yc], Y[yo + ys, yc], Y[yo + 2 * ys, yc], Y[yo + 3 * ys, yc]
        for q in range(n):
            x1, x2 = r1[q], r2[q]
            y0[q] = r0[q] - x2
            y1[q] = x1 + x2
            y2[q] = x2 - x1
            y3[q] = r3[q] - x1
    elif (a, t) == (2, 4):                            # AT2 M
        r0, r1, r2, r3 = X[xo, xc], X[xo + xs, xc], X[xo + 2 * xs, xc], X[xo + 3 * xs, xc]
        y0, y1 = Y[yo, yc], Y[yo + ys, yc]
        for q in range(n):
            x1, x2 = r1[q], r2[q]
            y0[q] = r0[q] + x1 + x2
            y1[q] = x1 - x2 + r3[q]
    elif (a, t) == (4, 2):                            # A2 dY
        r0, r1 = X[xo, xc], X[xo + xs, xc]
        y0, y1, y2, y3 = Y[yo, yc], Y[yo + ys, yc], Y[yo + 2 * ys, yc], Y[yo + 3 * ys, yc]
        for q in range(n):
            x0, x1 = r0[q], r1[q]
            y0[q] = x0
            y1[q] = x0 + x1
            y2[q] = x0 - x1
            y3[q] = x1
    elif (a, t) == (6, 3) or (a, t) == (4, 3):        # G4 g, G2 g: the filter transform
        _filter_rows(B, X, xo, xs, xc, Y, yo, ys, yc)
    elif (a, t) == (3, 6) or (a, t) == (3, 4):        # G^T: its adjoint
        _filter_rows_t(B, X, xo, xs, xc, Y, yo, ys, yc)
    else:
        for i in range(a):
            _combine_at(Y[yo + i * ys, yc], B, i, X, xo, xs, xc)


@njit(nogil=True, cache=True, inline="always")
def _filter_rows(G, X, xo, xs, xc, Y, yo, ys, yc):
    """Y = G X for G4 (6, 3) or G2 (4, 3): rows 0 and a-1 copy x0 and (G4) x2/4; the middle ones
    are G[i, 0] (x0 + x2) +- G[i, 1] x1, plus G4's 4/3 x0 + 1/3 x2 +- 2/3 x1."""
    n, a = X.shape[2], G.shape[0]
    r0, r1, r2 = X[xo, xc], X[xo + xs, xc], X[xo + 2 * xs, xc]
    y0, y1, y2, yl = Y[yo, yc], Y[yo + ys, yc], Y[yo + 2 * ys, yc], Y[yo + (a - 1) * ys, yc]
    g10, g11, gl = G[1, 0], G[1, 1], G[a - 1, 2]
    for q in range(n):
        x0, x1, x2 = r0[q], r1[q], r2[q]
        s = g10 * (x0 + x2)
        y0[q] = x0
        y1[q] = s + g11 * x1
        y2[q] = s - g11 * x1
        yl[q] = gl * x2
    if a == 6:
        y3, y4 = Y[yo + 3 * ys, yc], Y[yo + 4 * ys, yc]
        g30, g31, g32 = G[3, 0], G[3, 1], G[3, 2]
        for q in range(n):
            x0, x1, x2 = r0[q], r1[q], r2[q]
            p = g30 * x0 + g32 * x2
            y3[q] = p + g31 * x1
            y4[q] = p - g31 * x1


@njit(nogil=True, cache=True, inline="always")
def _filter_rows_t(GT, X, xo, xs, xc, Y, yo, ys, yc):
    """Y = G^T X for G4^T (3, 6) or G2^T (3, 4): the adjoint of ``_filter_rows``."""
    n, t = X.shape[2], GT.shape[1]
    r0, r1, r2, rl = X[xo, xc], X[xo + xs, xc], X[xo + 2 * xs, xc], X[xo + (t - 1) * xs, xc]
    y0, y1, y2 = Y[yo, yc], Y[yo + ys, yc], Y[yo + 2 * ys, yc]
    g10, g11, gl = GT[0, 1], GT[1, 1], GT[2, t - 1]
    for q in range(n):
        s, d = r1[q] + r2[q], r1[q] - r2[q]
        y0[q] = r0[q] + g10 * s
        y1[q] = g11 * d
        y2[q] = g10 * s + gl * rl[q]
    if t == 6:
        r3, r4 = X[xo + 3 * xs, xc], X[xo + 4 * xs, xc]
        g30, g31, g32 = GT[0, 3], GT[1, 3], GT[2, 3]
        for q in range(n):
            s, d = r3[q] + r4[q], r3[q] - r4[q]
            y0[q] += g30 * s
            y1[q] += g31 * d
            y2[q] += g32 * s


@njit(nogil=True, cache=True)
def transform_rows_t(B, BT, X, xo, xs, xc, Y, yo, ys, yc):
    """Y[yo + k*ys, yc, :] = sum_i B[i, k] X[xo + i*xs, xc, :] for every column k of B (BT =
    B^T, C-contiguous): ``transform_rows`` with B transposed, the adjoint's half-transform.
    BT4's and BT2's are written out (a 6x6 or 4x4 B is taken to be BT4 or BT2, as in
    ``transform_rows``); any other B goes through ``_combine_at`` with BT."""
    n, (t, a) = X.shape[2], BT.shape
    if (a, t) == (6, 6):                              # BT4^T: tile_transform_t's half
        r0, r1, r2, r3 = X[xo, xc], X[xo + xs, xc], X[xo + 2 * xs, xc], X[xo + 3 * xs, xc]
        r4, r5 = X[xo + 4 * xs, xc], X[xo + 5 * xs, xc]
        y0, y1, y2 = Y[yo, yc], Y[yo + ys, yc], Y[yo + 2 * ys, yc]
        y3, y4, y5 = Y[yo + 3 * ys, yc], Y[yo + 4 * ys, yc], Y[yo + 5 * ys, yc]
        for q in range(n):
            x0, x5 = r0[q], r5[q]
            s12, d12, s34, d34 = r1[q] + r2[q], r2[q] - r1[q], r3[q] + r4[q], r3[q] - r4[q]
            y0[q] = x0
            y1[q] = d12 + d34 + x5
            y2[q] = _2 * s34 - _5 * x0 - s12
            y3[q] = -_4 * d12 - d34 - _5 * x5
            y4[q] = _4 * (x0 + s12) - _2 * s34
            y5[q] = _4 * x5
    elif (a, t) == (4, 4):                            # BT2^T
        r0, r1, r2, r3 = X[xo, xc], X[xo + xs, xc], X[xo + 2 * xs, xc], X[xo + 3 * xs, xc]
        y0, y1, y2, y3 = Y[yo, yc], Y[yo + ys, yc], Y[yo + 2 * ys, yc], Y[yo + 3 * ys, yc]
        for q in range(n):
            x0, x1, x2, x3 = r0[q], r1[q], r2[q], r3[q]
            y0[q] = x0
            y1[q] = x1 - x2 - x3
            y2[q] = x1 + x2 - x0
            y3[q] = x3
    else:
        for k in range(t):
            _combine_at(Y[yo + k * ys, yc], BT, k, X, xo, xs, xc)
