"""The Winograd tables and tile arithmetic, shared by ``winograd_ref.py`` and ``winograd_fast.py``.

AT, G, BT of F(2x2, 3x3) and F(4x4, 3x3) written out: ``winograd_ref.py`` explains them and its
``toom_cook`` derives them from the interpolation points (a test checks that these are its
output). The fast kernel uses the same tables without importing the reference.
"""
import numpy as np

from minicnn.kernels.shapes import int_pair

TILES = (2, 4)                  #: output tile sizes m with matrices written out below


#: F(2x2, 3x3): points 0, 1, -1, infinity (Lavin & Gray's matrices)
AT2 = np.array([[1, 1, 1, 0],
                [0, 1, -1, 1]], dtype=float)
G2 = np.array([[1, 0, 0],
               [1 / 2, 1 / 2, 1 / 2],
               [1 / 2, -1 / 2, 1 / 2],
               [0, 0, 1]], dtype=float)
BT2 = np.array([[1, 0, -1, 0],
                [0, 1, 1, 0],
                [0, -1, 1, 0],
                [0, -1, 0, 1]], dtype=float)

#: F(4x4, 3x3): points 0, 1, -1, 1/2, -1/2, infinity
AT4 = np.array([[1, 1, 1, 1, 1, 0],
                [0, 1, -1, 1 / 2, -1 / 2, 0],
                [0, 1, 1, 1 / 4, 1 / 4, 0],
                [0, 1, -1, 1 / 8, -1 / 8, 1]], dtype=float)
G4 = np.array([[1, 0, 0],
               [1 / 6, 1 / 6, 1 / 6],
               [1 / 6, -1 / 6, 1 / 6],
               [4 / 3, 2 / 3, 1 / 3],
               [4 / 3, -2 / 3, 1 / 3],
               [0, 0, 1 / 4]], dtype=float)
BT4 = np.array([[1, 0, -5, 0, 4, 0],
                [0, -1, -1, 4, 4, 0],
                [0, 1, -1, -4, 4, 0],
                [0, 1, 2, -1, -2, 0],
                [0, -1, 2, 1, -2, 0],
                [0, 1, 0, -5, 0, 4]], dtype=float)

_MATRICES = {2: (AT2, G2, BT2), 4: (AT4, G4, BT4)}


def winograd_matrices(m):
    """(AT (m, m+2), G (m+2, 3), BT (m+2, m+2)) as float64 for the tile sizes in TILES."""
    if m not in _MATRICES:
        raise ValueError(f"Winograd output tile must be one of {TILES}, got {m!r}")
    return _MATRICES[m]


def check_conv(W, stride):
    """ValueError unless W is a 3x3 kernel and the stride is 1 (what Winograd F(m x m, 3x3) serves)."""
    if tuple(W.shape[2:]) != (3, 3) or int_pair(stride) != (1, 1):
        raise ValueError(f"Winograd serves 3x3 stride-1 convolutions, got kernel "
                         f"{tuple(W.shape[2:])} stride {int_pair(stride)}; use the im2col algorithm")


def tile_grid(OH, OW, m):
    """(TH, TW): tiles of m x m outputs covering an OH x OW output."""
    return -(-OH // m), -(-OW // m)
