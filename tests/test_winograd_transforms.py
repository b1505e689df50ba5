"""The Numba transforms of the Winograd fast path are the matrices of ``winograd_tables``.

``winograd_rows.transform_rows`` has the tables of both tile sizes written out (BT, AT, A = AT^T,
G and G^T of F(4x4) and F(2x2); ``transform_rows_t`` BT4^T and BT2^T) and a generic path for any
other matrix; all must compute Y = B X on rows of tiles, whichever rows of X and Y they
address, in float32 (staying float32) and float64. ``tile_transform`` / ``untile_transform`` are
checked against the reference's tiling by the whole-convolution tests in test_winograd_fast.py;
here the one-tile case is checked against B d B^T written with NumPy, ``tile_transform_t`` (the
input gradient's scatter) as ``tile_transform``'s adjoint, and the filter transforms
(``winograd_filters``) against the reference and as each other's adjoint.
"""
import numpy as np
import pytest

from minicnn.kernels import winograd_filters as wf, winograd_ref as ref, winograd_rows as wr, winograd_transforms as wt
from minicnn.kernels.winograd_tables import AT2, AT4, BT2, BT4, G2, G4

MATRICES = {"BT4": BT4, "AT4": AT4, "A4": AT4.T, "BT2": BT2, "AT2": AT2, "A2": AT2.T, "G4": G4, "G2": G2,
            "G4T": G4.T, "G2T": G2.T, "other": np.arange(15.0).reshape(5, 3) - 7}


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", MATRICES)
def test_transform_rows_is_the_matrix(name, dtype, transposed):
    """transform_rows applies B; transform_rows_t (the input gradient's half-transform) B^T."""
    B = MATRICES[name].astype(dtype)
    M = B.T if transposed else B                                     # what should be applied
    a, t = M.shape
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2 * t + 3, 3, 37)).astype(dtype)       # rows, columns, tiles
    Y = np.full((2 * a + 2, 2, 37), np.nan, dtype)
    if transposed:
        wr.transform_rows_t(B, np.ascontiguousarray(B.T), X, 1, 2, 2, Y, 2, 1, 1)
    else:
        wr.transform_rows(B, X, 1, 2, 2, Y, 2, 1, 1)               # rows 1, 3, 5, ... of column 2
    want = M.astype(np.float64) @ X[1:1 + 2 * t:2, 2].astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    assert Y.dtype == dtype
    assert np.max(np.abs(Y[2:2 + a, 1] - want)) <= tol * np.max(np.abs(want))
    assert np.isnan(Y[:2]).all() and np.isnan(Y[2 + a:]).all() and np.isnan(Y[:, 0]).all()


@pytest.mark.parametrize("m, BT, AT", [(4, BT4, AT4), (2, BT2, AT2)])
def test_one_tile_in_and_out(m, BT, AT):
    """A single tile at offset (0, 0): V = BT d B, and the output transform AT M A (+ bias)."""
    rng = np.random.default_rng(1)
    a = m + 2
    x = rng.standard_normal((1, 2, a, a))
    V = wt.tile_transform(x, 0, 1, 0, 1, 1, m, 0, 0, BT, np.empty((a * a, 2, 1)))
    for c in range(2):
        assert np.allclose(V[:, c, 0].reshape(a, a), BT @ x[0, c] @ BT.T, atol=1e-12)
    M = rng.standard_normal((a * a, 3, 1))
    bias = rng.standard_normal(3)
    y = wt.untile_transform(M, 0, 1, 0, 1, 1, AT, bias, np.empty((1, 3, m, m)))
    for o in range(3):
        assert np.allclose(y[0, o], AT @ M[:, o, 0].reshape(a, a) @ AT.T + bias[o], atol=1e-12)


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("C_out, C", [(5, 7), (96, 64), (1, 1)])          # (96, 64): two blocks
def test_filter_transforms_are_the_reference_and_its_adjoint(m, C_out, C):
    """U = G W G^T as the reference computes it (one block of filters or several), and
    filter_transform_t is its adjoint: <U(W), dU> = <W, U^T(dU)>."""
    rng = np.random.default_rng(2)
    W = rng.standard_normal((C_out, C, 3, 3))
    G = {2: G2, 4: G4}[m]
    a = m + 2
    U = wf.filter_transform(W, G, np.empty((a * a, C_out, C)))
    want = ref.filter_transform(W, m)                                   # C_out, C, a, a
    assert np.allclose(U, want.reshape(C_out, C, a * a).transpose(2, 0, 1), atol=1e-12)
    dU = rng.standard_normal(U.shape)
    dW = wf.filter_transform_t(np.ascontiguousarray(dU), G, np.empty(W.shape))
    assert np.isclose(np.sum(U * dU), np.sum(W * dW), rtol=1e-12)
    nb = wf.filter_blocks(C_out, C)                     # in two parts, as two threads do them
    U2, dW2 = np.full(U.shape, np.nan), np.full(W.shape, np.nan)
    for b0, b1 in ((0, nb // 2), (nb // 2, nb)):
        wf.filter_transform(W, G, U2, b0, b1)
        wf.filter_transform_t(np.ascontiguousarray(dU), G, dW2, b0, b1)
    assert np.array_equal(U2, U) and np.array_equal(dW2, dW)


@pytest.mark.parametrize("m, BT", [(4, BT4), (2, BT2)])
@pytest.mark.parametrize("H, W, ph, pw",
                         [(9, 11, 1, 1), (6, 6, 0, 0), (5, 13, 2, 3), (16, 16, 1, 1), (3, 4, 1, 2)])
@pytest.mark.parametrize("bands", [False, True])
def test_tile_transform_t_is_the_adjoint(m, BT, H, W, ph, pw, bands):
    """<tile_transform(x), dV> = <x, tile_transform_t(dV)>, for the tiles of a 3x3 'same'-or-
    other convolution's output (edge tiles cropped, padding dropped), whole or in tile-row bands."""
    rng = np.random.default_rng(4)
    N, C, a = 3, 2, m + 2
    x = rng.standard_normal((N, C, H, W))
    OH, OW = H + 2 * ph - 2, W + 2 * pw - 2
    TH, TW = -(-OH // m), -(-OW // m)
    chunks = ([(n, 1, r, r + 1) for n in range(N) for r in range(TH)] if bands else [(0, N, 0, TH)])
    lhs, dx = 0.0, np.zeros_like(x)
    for n0, nb, ty0, ty1 in chunks:
        P = nb * (ty1 - ty0) * TW
        V = wt.tile_transform(x, n0, nb, ty0, ty1, TW, m, ph, pw, BT, np.empty((a * a, C, P)))
        dV = rng.standard_normal(V.shape)
        lhs += np.sum(V * dV)
        wt.tile_transform_t(dV, n0, nb, ty0, ty1, TW, m, ph, pw, BT, dx)
    assert np.isclose(lhs, np.sum(x * dx), rtol=1e-12)


@pytest.mark.parametrize("m, BT", [(4, BT4), (2, BT2)])
@pytest.mark.parametrize("H, W, ph, pw", [(12, 13, -1, -2), (9, 16, 0, -1), (7, 10, -2, 2), (8, 10, -1, -1), (13, 10, 1, -1)])
def test_tile_transform_negative_padding_crops(m, BT, H, W, ph, pw):
    """Negative padding crops: the tiles of x with padding -p are those of x without its first p
    rows (or columns), with padding 0; a positive padding on the other axis still pads with zeros."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, H, W))
    a = m + 2
    OH, OW = H + 2 * ph - 2, W + 2 * pw - 2
    TH, TW = -(-OH // m), -(-OW // m)
    cut = x[:, :, max(0, -ph):, max(0, -pw):]
    V = wt.tile_transform(x, 0, 2, 0, TH, TW, m, ph, pw, BT, np.empty((a * a, 3, 2 * TH * TW)))
    want = wt.tile_transform(np.ascontiguousarray(cut), 0, 2, 0, TH, TW, m, max(0, ph), max(0, pw), BT,
                             np.empty((a * a, 3, 2 * TH * TW)))
    assert np.array_equal(V, want)
