"""The Winograd filter transforms of ``winograd_fast``, in Numba: U = G W G^T and its adjoint.

Once a step per layer, with the C_out x C filters side by side in blocks (a block's scratch
stays in cache), each half a ``transform_rows`` pass over whole rows of filters.
"""
import numpy as np
from numba import njit

from minicnn.kernels.winograd_rows import transform_rows


def filter_blocks(C_out, C):
    """How many blocks of filters the transforms work through (the unit threads share)."""
    return C_out // _filter_block(C_out, C)


@njit(nogil=True, cache=True)
def _filter_block(C_out, C):
    """Output channels per block of filters: the largest divisor of C_out with at most 4096
    filters (C_out/block x C) in a block, so a block's scratch stays in cache."""
    ob = 1
    for d in range(1, C_out + 1):
        if C_out % d == 0 and d * C <= 4096:
            ob = d
    return ob


@njit(nogil=True, cache=True)
def filter_transform(W, G, U, b0=0, b1=-1):
    """U[i*a + j, o, c] = (G W[o, c] G^T)[i, j]: W (C_out, C, 3, 3) -> U (a*a, C_out, C), U
    C-contiguous. Vectorised along blocks of filters side by side (``filter_blocks`` of them:
    only blocks b0 .. b1-1 if given, so that threads can share the work)."""
    C_out, C, r, _ = W.shape
    a, ob = G.shape[0], _filter_block(C_out, C)
    nbk, L = C_out // ob, ob * C                       # blocks, filters per block
    Wb, U3 = W.reshape((nbk, L, r * r)), U.reshape((a * a, nbk, L))
    w = np.empty((r, r, L), W.dtype)          # w[k, l, e] = W[o, c, k, l], e = (o % ob)*C + c
    tmp = np.empty((a, r, L), W.dtype)        # tmp[i, l] = sum_k G[i, k] w[k, l]
    tmp2 = tmp.reshape((a * r, 1, L))
    for bk in range(b0, nbk if b1 < 0 else b1):
        for k in range(r):                    # row by row: one stream written, not r*r
            for l in range(r):
                for e in range(L):
                    w[k, l, e] = Wb[bk, e, k * r + l]
        for l in range(r):
            transform_rows(G, w, 0, 1, l, tmp, 0, 1, l)
        for i in range(a):                    # U[i*a + j] = sum_l G[j, l] tmp[i, l]
            transform_rows(G, tmp2, i * r, 1, 0, U3, i * a, 1, bk)
    return U


@njit(nogil=True, cache=True)
def filter_transform_t(dU, G, dW, b0=0, b1=-1):
    """dW[o, c] = G^T dU[:, o, c] G (the adjoint of ``filter_transform``): dU (a*a, C_out, C),
    C-contiguous; vectorised along blocks of filters side by side (b0 .. b1-1 as there)."""
    C_out, C, r, _ = dW.shape
    a, ob = G.shape[0], _filter_block(C_out, C)
    nbk, L = C_out // ob, ob * C
    dU3, dWb = dU.reshape((a * a, nbk, L)), dW.reshape((nbk, L, r * r))
    GT = np.ascontiguousarray(G.T)
    h = np.empty((r, a, L), dW.dtype)         # h[l, i] = sum_j G[j, l] dU[i*a + j]
    h2 = h.reshape((r * a, 1, L))
    w = np.empty((r, r, L), dW.dtype)         # w[k, l] = sum_i G[i, k] h[l, i]
    for bk in range(b0, nbk if b1 < 0 else b1):
        for i in range(a):
            transform_rows(GT, dU3, i * a, 1, bk, h, 0, 1, i)
        for l in range(r):
            transform_rows(GT, h2, l * a, 1, 0, w, 0, 1, l)
        for k in range(r):
            for l in range(r):
                for e in range(L):
                    dWb[bk, e, k * r + l] = w[k, l, e]
    return dW
