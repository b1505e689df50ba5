"""Winograd convolution F(m x m, 3 x 3), in plain NumPy: the page to read (and the fast path's oracle).

A 3x3 stride-1 convolution computes every output pixel with 9 multiplies per input channel.
Winograd's minimal filtering (Lavin & Gray 2015, after Toom-Cook) computes a whole m x m block of
outputs with (m+2)^2 multiplies per channel instead of 9 m^2: 16 instead of 36 for F(2x2, 3x3)
(2.25x fewer), 36 instead of 144 for F(4x4, 3x3) (4x fewer). It is three matrices:

    1-D, F(m, 3):  y = AT [ (G g) * (BT d) ]     g: 3 filter taps, d: m+2 inputs, y: m outputs
    2-D:           Y = AT [ (G g G^T) * (BT d B) ] A      (* is the elementwise product)

Derivation (1-D; 2-D nests it along rows and columns). Read y_i = sum_k g_k d_{i+k} (i < m,
k < 3) as the transpose of a polynomial product: s(x) = g(x) h(x) with g of degree 2 and h of
degree m-1 has degree m+1, so it is fixed by alpha = m+2 numbers. The Toom-Cook trick takes them
to be values: s(a) = g(a) h(a) at alpha-1 points a (one multiply each) plus the leading
coefficient (the "point at infinity", g_2 * h_{m-1}: one more multiply). That is why an input
tile is alpha = m + r - 1 = m+2 wide: m outputs need m+2 inputs (a 3-tap window slides m times),
and the product of a degree-2 and a degree-(m-1) polynomial needs m+2 samples. Writing the
bilinear algorithm s = C [(E_g g) * (E_h h)] (E: evaluate at the points, C: interpolate) and
transposing it (sum_n d_n s_n = sum_i h_i y_i) gives the correlation y = E_h^T [(E_g g) * (C^T d)]:

    AT = E_h^T        column j = (1, a_j, a_j^2, ..., a_j^(m-1)); the infinity column (0, ..., 0, 1)
    G  = E_g          row j = (1, a_j, a_j^2) / f_j; the infinity row (0, 0, 1)
    BT = C^T          row j = coefficients of prod_{k != j} (x - a_k) (Lagrange numerator);
                      the infinity row = coefficients of prod_k (x - a_k)

with f_j = prod_{k != j} (a_j - a_k) moved from BT into G (any diagonal scaling D can move:
G -> D G, BT -> D^-1 BT), and each BT row scaled to small integers. ``toom_cook`` builds them
exactly (fractions) from the points; the tables in ``winograd_tables.py`` are its output, and a
test checks that.
Points: 0, +-1 and infinity for F(2x2, 3x3); 0, +-1, +-1/2 and infinity for F(4x4, 3x3).

Where the savings come from: a layer is C_out x C_in such products per tile, so the filter
transform U = G g G^T (once per step) and the input transform V = BT d B (once per input channel
and tile) are shared by all C_out x C_in pairs; what remains is, for each of the alpha^2 tile
positions (i, j), ONE matrix multiply  M[i,j] = U[i,j] (C_out, C_in) @ V[i,j] (C_in, tiles):
alpha^2 / m^2 = 4 / 2.25 multiplies per output pixel and channel pair instead of 9.

Why large tiles lose float32 accuracy: the points must be distinct, so bigger m needs points
farther from 0 and +-1 (+-1/2, +-2, +-3/2, ...). The matrices then mix large and small powers
(a_j^(m-1), 1/f_j) with alternating signs: V and U have entries much larger than the result,
which comes out of their cancellation, and float32's relative rounding (6e-8) is amplified by
that ratio. F(2x2) stays near im2col's error; F(4x4) is ~10x worse; F(6x6) ~100x
(benchmarks/README.md has the table at every model shape).

Any H, W and padding: the padded input is tiled with stride m (tiles overlap by 2), zeros are
added on the bottom/right up to a whole number of tiles, and the extra outputs are cropped.
Backward is two more Winograd passes:
    dx = Winograd correlation of dout (padding 2 - p) with W flipped and in/out channels swapped
    dW: the forward's transposes: dM = A^T-transform of dout tiles (A dY AT),
        dU[i,j] = dM[i,j] (C_out, tiles) @ V[i,j]^T (tiles, C_in), dW = G^T dU G
The interface is ``conv_fast``'s (and ``winograd_fast``'s): conv_forward -> (out, saved),
conv_backward(dout, saved, ...) -> (dx, dW, db), so the two are interchangeable.
"""
from fractions import Fraction
from math import lcm

import numpy as np

from minicnn.kernels.shapes import int_pair as pair
from minicnn.kernels.winograd_tables import (AT2, AT4, BT2, BT4, G2, G4, TILES,  # noqa: F401  (the tables)
                                            check_conv, tile_grid, winograd_matrices)

_H = Fraction(1, 2)
POINTS = {2: (0, 1, -1), 4: (0, 1, -1, _H, -_H)}   #: the finite interpolation points (plus infinity)


def _polymul(p, q):
    """Coefficients (lowest power first) of the product of two polynomials."""
    out = [Fraction(0)] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        for j, b in enumerate(q):
            out[i + j] += a * b
    return out


def toom_cook(m, r, points):
    """(AT, G, BT) of F(m, r) from the m+r-2 finite points (plus infinity), as exact Fractions.

    Each BT row is scaled (with G's row divided to match) so that it is integer and G's row
    starts positive; that is the only choice made beyond the derivation.
    """
    a = [Fraction(p) for p in points]
    alpha = m + r - 1
    if len(a) != alpha - 1 or len(set(a)) != len(a):
        raise ValueError(f"F({m}, {r}) needs {alpha - 1} distinct finite points, got {points}")
    AT = [[a[j] ** i for j in range(alpha - 1)] + [Fraction(int(i == m - 1))] for i in range(m)]
    G, BT = [], []
    for j in range(alpha):
        roots = [a[k] for k in range(alpha - 1) if k != j]        # the infinity row: all points
        poly, f = [Fraction(1)], Fraction(1)
        for root in roots:
            poly = _polymul(poly, [-root, Fraction(1)])
            f *= (a[j] - root) if j < alpha - 1 else 1
        poly += [Fraction(0)] * (alpha - len(poly))
        g_row = [a[j] ** k / f for k in range(r)] if j < alpha - 1 else [Fraction(int(k == r - 1)) for k in range(r)]
        s = lcm(*[c.denominator for c in poly]) * (1 if next(c for c in g_row if c) > 0 else -1)
        BT.append([c * s for c in poly])
        G.append([c / s for c in g_row])
    return AT, G, BT


def padded(x, p, TH, TW, m):
    """x (N, C, H, W) placed at offset (ph, pw) in zeros of (N, C, TH*m + 2, TW*m + 2).

    Padding p = (ph, pw) may be negative (then x is cropped): backward's dx needs 2 - p.
    """
    (ph, pw), (N, C, H, W) = p, x.shape
    out = np.zeros((N, C, TH * m + 2, TW * m + 2), dtype=x.dtype)
    h0, w0 = max(0, -ph), max(0, -pw)                             # rows/columns of x cut off
    h1, w1 = min(H, out.shape[2] - ph), min(W, out.shape[3] - pw)
    out[:, :, h0 + ph:h1 + ph, w0 + pw:w1 + pw] = x[:, :, h0:h1, w0:w1]
    return out


def input_tiles(xp, m):
    """xp (N, C, TH*m+2, TW*m+2) -> d (N, C, TH, TW, m+2, m+2): overlapping tiles, stride m."""
    N, C, Hp, Wp = xp.shape
    TH, TW, a = (Hp - 2) // m, (Wp - 2) // m, m + 2
    d = np.empty((N, C, TH, TW, a, a), dtype=xp.dtype)
    for i in range(a):
        for j in range(a):                                        # pixel (i, j) of every tile
            d[..., i, j] = xp[:, :, i:i + TH * m:m, j:j + TW * m:m]
    return d


def correlate(xp, U, m):
    """Valid 3x3 correlation of the tiled, padded xp with transformed filters U (C_out, C, a, a).

    Returns (Y, V): the output tiles Y (N, C_out, TH*m, TW*m) and V = BT d B (N, C, TH, TW, a, a).
    """
    AT, _, BT = (M.astype(xp.dtype) for M in winograd_matrices(m))
    V = BT @ input_tiles(xp, m) @ BT.T                            # N, C, TH, TW, a, a
    # one (C_out, C) @ (C, N*TH*TW) matrix multiply per tile position (i, j):
    Mt = np.einsum("ocij,ncthij->nothij", U, V)                   # N, C_out, TH, TW, a, a
    Y = AT @ Mt @ AT.T                                            # N, C_out, TH, TW, m, m
    N, C_out, TH, TW = Y.shape[:4]
    return Y.transpose(0, 1, 2, 4, 3, 5).reshape(N, C_out, TH * m, TW * m), V


def filter_transform(W, m):
    """U = G W G^T: W (C_out, C, 3, 3) -> (C_out, C, m+2, m+2)."""
    G = winograd_matrices(m)[1].astype(W.dtype)
    return G @ W @ G.T


def conv_forward(x, W, b=None, stride=1, padding=0, ws=None, tile=4, for_backward=True, recycle=None):
    """out = conv(x, W) + b by Winograd F(tile x tile, 3x3); x (N, C, H, W), W (C_out, C, 3, 3).

    Returns (out (N, C_out, OH, OW), saved) with OH = H + 2*ph - 2; ``saved`` is for backward.
    ``ws``, ``for_backward`` and ``recycle`` are the fast path's (its scratch space; whether it
    may keep its transformed input for backward; a finished forward's arrays to write over):
    accepted here for the same interface, and unused.
    """
    check_conv(W, stride)
    (N, C, H, Wd), (ph, pw) = x.shape, pair(padding)
    OH, OW = H + 2 * ph - 2, Wd + 2 * pw - 2
    TH, TW = tile_grid(OH, OW, tile)
    Y, V = correlate(padded(x, (ph, pw), TH, TW, tile), filter_transform(W, tile), tile)
    out = Y[:, :, :OH, :OW]                                       # the extra tile outputs cropped
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    return np.ascontiguousarray(out), (x, V, b is not None)


def conv_backward(dout, saved, W, stride=1, padding=0, need_dx=True, ws=None, tile=4):
    """dx (None if not need_dx), dW, db (None without a bias) for dout (N, C_out, OH, OW)."""
    check_conv(W, stride)
    x, V, has_bias = saved
    m, (ph, pw) = tile, pair(padding)
    AT, G, _ = (M.astype(W.dtype) for M in winograd_matrices(m))
    N, C_out, OH, OW = dout.shape
    TH, TW = tile_grid(OH, OW, m)
    dY = np.zeros((N, C_out, TH * m, TW * m), dtype=dout.dtype)  # zero beyond the real outputs
    dY[:, :, :OH, :OW] = dout
    dY = dY.reshape(N, C_out, TH, m, TW, m).transpose(0, 1, 2, 4, 3, 5)     # N, C_out, TH, TW, m, m
    dM = AT.T @ dY @ AT                                           # N, C_out, TH, TW, a, a
    dU = np.einsum("nothij,ncthij->ocij", dM, V)                  # C_out, C, a, a
    dW = G.T @ dU @ G                                             # C_out, C, 3, 3
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    dx = None
    if need_dx:
        H, Wd = x.shape[2:]
        Wf = W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)           # C, C_out, 3, 3
        THx, TWx = tile_grid(H, Wd, m)
        dxp, _ = correlate(padded(dout, (2 - ph, 2 - pw), THx, TWx, m), filter_transform(Wf, m), m)
        dx = np.ascontiguousarray(dxp[:, :, :H, :Wd])
    return dx, dW, db
