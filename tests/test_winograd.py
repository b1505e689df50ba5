"""Winograd's reference (``minicnn.kernels.winograd_ref``) is exact algebra, and the same convolution.

1. The matrices written out in the module are what the Toom-Cook construction gives from the
   interpolation points (0, +-1, infinity; 0, +-1, +-1/2, infinity), and in exact arithmetic the
   1-D algorithm y = AT [(G g) * (BT d)] is the 3-tap correlation, for every tile size.
2. Forward, input gradient and weight gradient equal the im2col reference's in float64 (to
   1e-12 of the scale) for odd sizes, padding 0 to 3, batch 1, one input channel.
3. float32 error: F(2x2) stays near float32 rounding, F(4x4) below 1e-4 of the output's scale
   at a 64-channel layer (the README's error table measures every model shape).
4. What Winograd does not serve (5x5, stride 2, an unknown tile) is a clear ValueError.
"""
from fractions import Fraction

import numpy as np
import pytest

from minicnn.kernels import im2col_ref
from minicnn.kernels import winograd_ref as wr

from helpers import WINOGRAD_SHAPES, conv3x3_data

SHAPES = WINOGRAD_SHAPES


@pytest.mark.parametrize("m", wr.TILES)
def test_matrices_are_the_toom_cook_construction(m):
    exact = wr.toom_cook(m, 3, wr.POINTS[m])
    for written, built in zip(wr.winograd_matrices(m), exact):
        assert np.array_equal(written, np.array(built, dtype=float))


@pytest.mark.parametrize("m, points", [(2, (0, 1, -1)), (4, wr.POINTS[4]), (3, (0, 1, -1, 2))])
def test_one_dimensional_algorithm_is_exact(m, points):
    AT, G, BT = wr.toom_cook(m, 3, points)
    rng = np.random.default_rng(m)
    d = [Fraction(int(v)) for v in rng.integers(-9, 9, m + 2)]
    g = [Fraction(int(v)) for v in rng.integers(-9, 9, 3)]
    Gg = [sum(G[i][k] * g[k] for k in range(3)) for i in range(m + 2)]
    Bd = [sum(BT[i][k] * d[k] for k in range(m + 2)) for i in range(m + 2)]
    y = [sum(AT[u][i] * Gg[i] * Bd[i] for i in range(m + 2)) for u in range(m)]
    assert y == [sum(g[k] * d[u + k] for k in range(3)) for u in range(m)]    # exactly


@pytest.mark.parametrize("m", wr.TILES)
@pytest.mark.parametrize("shape", SHAPES)
def test_reference_equals_im2col_reference(shape, m):
    x, Wt, b, dout = conv3x3_data(shape)
    p = shape[-1]
    y, saved = wr.conv_forward(x, Wt, b, 1, p, tile=m)
    dx, dW, db = wr.conv_backward(dout, saved, Wt, 1, p, tile=m)
    y_r = im2col_ref.conv_forward(x, Wt, b, 1, p)[0]
    dx_r, dW_r, db_r = im2col_ref.conv_backward(dout, (x, True), Wt, 1, p)
    for ours, theirs in ((y, y_r), (dx, dx_r), (dW, dW_r), (db, db_r)):
        assert ours.shape == theirs.shape
        assert np.max(np.abs(ours - theirs)) < 1e-12 * max(1.0, np.max(np.abs(theirs)))
    assert wr.conv_backward(dout, saved, Wt, 1, p, need_dx=False, tile=m)[0] is None


@pytest.mark.parametrize("m, bound", [(2, 2e-6), (4, 1e-4)])
def test_float32_error(m, bound):
    x, Wt, _, _ = conv3x3_data((2, 64, 12, 12, 16, 1), np.float64)
    Wt *= np.sqrt(2 / (64 * 9))                                   # He-initialised weights
    exact = im2col_ref.conv_forward(x, Wt, None, 1, 1)[0]
    y, _ = wr.conv_forward(x.astype(np.float32), Wt.astype(np.float32), None, 1, 1, tile=m)
    assert y.dtype == np.float32
    error = np.max(np.abs(y - exact)) / np.max(np.abs(exact))
    print(f"F({m}x{m}, 3x3) float32 relative error {error:.2e}")
    assert error < bound


def test_what_winograd_does_not_serve():
    x = np.zeros((1, 1, 6, 6))
    with pytest.raises(ValueError, match=r"3x3 stride-1.*\(5, 5\)"):
        wr.conv_forward(x, np.zeros((1, 1, 5, 5)))
    with pytest.raises(ValueError, match=r"stride \(2, 2\)"):
        wr.conv_forward(x, np.zeros((1, 1, 3, 3)), stride=2)
    with pytest.raises(ValueError, match=r"one of \(2, 4\), got 3"):
        wr.conv_forward(x, np.zeros((1, 1, 3, 3)), tile=3)
    with pytest.raises(ValueError, match="distinct"):
        wr.toom_cook(2, 3, (0, 1, 1))
