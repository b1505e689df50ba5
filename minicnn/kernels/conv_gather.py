"""The two loops of the fast convolution, in Numba: im2col (gather windows into rows) and col2im.

A chunk is samples n0 .. n0+nb-1 of x, output rows oh0 .. oh1-1 (all rows, or a band of one
large image). Sample i of the chunk owns rows and columns of a 2-D ``col``:

    col[i*ri + k, i*ci + p]     k = (c, kh, kw) a kernel tap, p = (oh-oh0, ow) an output pixel

so (ri, ci) = (K, 0) stacks the samples' (K, P) blocks vertically, (nb*K, P), and (0, P) puts
them side by side, (K, nb*P) ("folded": one GEMM for the whole chunk). x and dx are NCHW.
Padding is handled here: a tap that falls outside the image reads (im2col) or adds (col2im)
nothing. Indices are unsigned, which spares Numba its negative-index check in the inner loops.
The kernels release the GIL (``nogil``), so ``conv_fast`` runs them on several threads at once.
"""
import numpy as np
from numba import njit

U = np.uint64


@njit(cache=True, nogil=True)
def _inside(K, O, s, p, n):
    """lo[k], hi[k]: the outputs lo <= o < hi whose tap k reads inside the input (0 <= o*s-p+k < n)."""
    lo, hi = np.empty(K, np.int64), np.empty(K, np.int64)
    for k in range(K):
        lo[k] = min(O, max(0, (p - k + s - 1) // s))
        hi[k] = max(lo[k], min(O, (n - 1 + p - k) // s + 1))
    return lo, hi


@njit(cache=True, nogil=True)
def im2col(x, n0, nb, oh0, oh1, KH, KW, sh, sw, ph, pw, OW, col, ri, ci):
    """col[i*ri + (c, kh, kw), i*ci + (oh-oh0, ow)] = x[n0+i, c, oh*sh-ph+kh, ow*sw-pw+kw]
    for the output rows oh0 <= oh < oh1 (0 where the tap falls outside the image)."""
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    xf, cf, LD = x.reshape(-1), col.reshape(-1), col.shape[1]    # flat, unsigned indices below
    oh_lo, oh_hi = _inside(KH, oh1, sh, ph, H)
    ow_lo, ow_hi = _inside(KW, OW, sw, pw, W)
    same = sh == 1 and sw == 1 and OW == W                      # e.g. 3x3, stride 1, padding 1
    for t in range(nb * C):
        i, c = (t % nb, t // nb) if ci else (t // C, t % C)    # in the order col is laid out
        xb = ((n0 + i) * C + c) * H * W                         # x[n0+i, c, 0, 0]
        for kh in range(KH):
            a = max(oh_lo[kh], oh0)                             # output rows a..b-1 see the image
            b = max(a, oh_hi[kh])
            for kw in range(KW):
                rb = (i * ri + (c * KH + kh) * KW + kw) * LD + i * ci - oh0 * OW  # col at oh = 0
                off = kw - pw                                   # ow + off is x's column
                for j in range(oh0 * OW, a * OW):
                    cf[U(rb + j)] = 0
                for j in range(b * OW, oh1 * OW):
                    cf[U(rb + j)] = 0
                if same:
                    # rows a..b-1 are x's rows shifted by off: one long copy, then zero the
                    # |off| columns of each row that the shift brought in from a neighbour row
                    s0 = xb + (kh - ph) * W + off                           # x at col j: s0 + j
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


@njit(cache=True, nogil=True)
def col2im(col, n0, nb, oh0, oh1, KH, KW, sh, sw, ph, pw, OW, ri, ci, dx):
    """dx[n0+i] += the columns of output rows oh0..oh1-1 of sample i, added back where im2col
    took them (overlapping windows add up). The caller zeroes dx first."""
    C, H, W = dx.shape[1], dx.shape[2], dx.shape[3]
    cf, df, LD = col.reshape(-1), dx.reshape(-1), col.shape[1]
    oh_lo, oh_hi = _inside(KH, oh1, sh, ph, H)
    ow_lo, ow_hi = _inside(KW, OW, sw, pw, W)
    for t in range(nb * C):
        i, c = (t % nb, t // nb) if ci else (t // C, t % C)
        xb = ((n0 + i) * C + c) * H * W
        for kh in range(KH):
            for kw in range(KW):
                rb = (i * ri + (c * KH + kh) * KW + kw) * LD + i * ci - oh0 * OW
                for oh in range(max(oh_lo[kh], oh0), oh_hi[kh]):
                    q, dst = rb + oh * OW, xb + (oh * sh - ph + kh) * W + kw - pw
                    for ow in range(ow_lo[kw], ow_hi[kw]):
                        df[U(dst + ow * sw)] += cf[U(q + ow)]
