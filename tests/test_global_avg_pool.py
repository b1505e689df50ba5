"""GlobalAvgPool2D: (N, C, H, W) -> (N, C), the mean of each feature map.

Proves: the gradient check passes, backward spreads dout[n, c] / (H W) over the map, and the
layer matches PyTorch's AdaptiveAvgPool2d(1) followed by flatten (the ResNet head).
"""
import numpy as np

from minicnn import GlobalAvgPool2D
from minicnn.gradcheck import check_layer


def test_gradient_check(rng):
    errors = check_layer(GlobalAvgPool2D(dtype=np.float64), rng.standard_normal((3, 4, 5, 6)))
    assert errors["x"] < 1e-7, errors


def test_backward_by_hand():
    layer = GlobalAvgPool2D()
    layer.forward(np.zeros((1, 2, 2, 2), np.float32), training=True)
    dx = layer.backward(np.array([[4.0, 8.0]], np.float32))
    np.testing.assert_array_equal(dx, [[[[1, 1], [1, 1]], [[2, 2], [2, 2]]]])  # dout / (H W)
    assert layer.output_shape((16, 7, 9)) == (16,)


def test_matches_pytorch(torch, rng):
    x = rng.standard_normal((3, 5, 7, 6))
    dout = rng.standard_normal((3, 5))
    layer = GlobalAvgPool2D(dtype=np.float64)
    y = layer.forward(x, training=True)
    dx = layer.backward(dout)

    xt = torch.tensor(x, requires_grad=True)
    yt = torch.flatten(torch.nn.AdaptiveAvgPool2d(1)(xt), 1)
    yt.backward(torch.tensor(dout))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
