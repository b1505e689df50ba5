"""Flatten: (N, C, H, W) -> (N, C*H*W), and backward reshapes the gradient back.

Proves: the element order is the same as PyTorch's (so a Dense after Flatten sees the same
features as nn.Linear after nn.Flatten), the gradient check passes, and any rank >= 2 works.
"""
import numpy as np

from minicnn import Flatten
from minicnn.gradcheck import check_layer


def test_gradient_check(rng):
    errors = check_layer(Flatten(dtype=np.float64), rng.standard_normal((3, 2, 4, 5)))
    assert errors["x"] < 1e-7, errors


def test_shapes():
    layer = Flatten()
    assert layer.forward(np.zeros((2, 3, 4, 5), np.float32)).shape == (2, 60)
    assert layer.forward(np.zeros((2, 7), np.float32)).shape == (2, 7)
    assert layer.output_shape((3, 4, 5)) == (60,)


def test_backward_restores_shape(rng):
    layer = Flatten()
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    layer.forward(x, training=True)
    dout = rng.standard_normal((2, 12)).astype(np.float32)
    dx = layer.backward(dout)
    assert dx.shape == (2, 3, 4)
    np.testing.assert_array_equal(dx.reshape(2, 12), dout)


def test_matches_pytorch(torch, rng):
    x = rng.standard_normal((3, 4, 5, 6))
    dout = rng.standard_normal((3, 120))
    layer = Flatten(dtype=np.float64)
    y = layer.forward(x, training=True)
    dx = layer.backward(dout)

    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.Flatten()(xt)
    yt.backward(torch.tensor(dout))
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(dx, xt.grad.numpy())
