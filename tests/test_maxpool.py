"""MaxPool2D: the max of each window; backward routes dout to the input that won.

Proves: the gradient check passes (distinct input values, so no finite-difference step changes
a winner) for plain 2x2 pooling, odd sizes, and overlapping padded 3x3 stride-2 windows (the
ResNet stem); the Numba fast path equals the NumPy reference, ties included; outputs, winners
and input gradients match torch.nn.MaxPool2d; and the output-size formula is PyTorch's floor.
"""
import numpy as np
import pytest

from helpers import distinct_values
from minicnn import MaxPool2D
from minicnn.gradcheck import check_layer
from minicnn.kernels import pool_fast, pool_ref

# (kernel_size, stride, padding, input shape): plain, odd sizes (floor), ResNet stem, rectangular
CASES = [(2, None, 0, (2, 3, 6, 6)), (2, 2, 0, (2, 2, 7, 9)), (3, 2, 1, (2, 2, 9, 8)),
         ((2, 3), (1, 2), (1, 1), (2, 2, 5, 7))]


@pytest.mark.parametrize("kernel, stride, padding, shape", CASES)
def test_gradient_check(rng, kernel, stride, padding, shape):
    layer = MaxPool2D(kernel, stride, padding, dtype=np.float64)
    errors = check_layer(layer, distinct_values(rng, shape), seed=1)
    assert errors["x"] < 1e-7, errors


def test_forward_and_backward_by_hand():
    layer = MaxPool2D(2)
    x = np.array([[[[1, 2, 5, 0],
                    [3, 4, 1, 1],
                    [0, 0, 2, 2],
                    [9, 0, 2, 2]]]], dtype=np.float32)
    np.testing.assert_array_equal(layer.forward(x, training=True), [[[[4, 5], [9, 2]]]])
    dx = layer.backward(np.array([[[[10, 20], [30, 40]]]], dtype=np.float32))
    np.testing.assert_array_equal(dx, [[[[0, 0, 20, 0],
                                         [0, 10, 0, 0],
                                         [0, 0, 40, 0],    # a tie: the first 2 (row-major) wins
                                         [30, 0, 0, 0]]]])


def test_output_shapes_and_config():
    assert MaxPool2D(2).output_shape((8, 7, 9)) == (8, 3, 4)           # floor: odd sizes lose a row
    assert MaxPool2D(3, 2, 1).output_shape((64, 75, 75)) == (64, 38, 38)
    assert MaxPool2D(3, 2, 1).flops((64, 75, 75)) == 64 * 38 * 38 * 9
    assert MaxPool2D(3, 2, 1).get_config() == {"kernel_size": 3, "stride": 2, "padding": 1,
                                                "dtype": "float32"}
    rect = MaxPool2D((2, 3), padding=(1, 0))
    assert rect.get_config()["stride"] == [2, 3]
    again = MaxPool2D.from_config(rect.get_config())  # lists come back as pairs
    assert (again.kernel_size, again.stride, again.padding) == ((2, 3), (2, 3), (1, 0))
    with pytest.raises(ValueError, match="half the kernel"):
        MaxPool2D(2, padding=2)


@pytest.mark.parametrize("kernel, stride, padding, shape", CASES + [(3, 1, 1, (2, 3, 5, 5))])
@pytest.mark.parametrize("parallel", [False, True])
def test_fast_path_matches_reference(rng, monkeypatch, kernel, stride, padding, shape, parallel):
    monkeypatch.setattr(pool_fast, "PARALLEL_MIN_SIZE", 0 if parallel else 10**12)  # pick the kernel
    dtype = np.float32  # (float64 runs in the gradient checks and the PyTorch comparison)
    x = rng.integers(0, 4, shape).astype(dtype)   # few distinct values: many ties
    layer = MaxPool2D(kernel, stride, padding, dtype=dtype)
    y = layer.forward(x, training=True)
    dout = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dout)
    y_ref, argmax_ref = pool_ref.maxpool_forward(x, layer.kernel_size, layer.stride, layer.padding)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(layer.cache[1], argmax_ref)
    np.testing.assert_allclose(dx, pool_ref.maxpool_backward(dout, argmax_ref, x.shape), rtol=1e-6)


@pytest.mark.parametrize("kernel, stride, padding, shape", CASES)
def test_matches_pytorch(torch, rng, kernel, stride, padding, shape):
    x = rng.integers(0, 6, shape).astype(np.float64)  # ties included: both pick the first maximum
    layer = MaxPool2D(kernel, stride, padding, dtype=np.float64)
    y = layer.forward(x, training=True)
    dout = rng.standard_normal(y.shape)
    dx = layer.backward(dout)

    xt = torch.tensor(x, requires_grad=True)
    yt, winners = torch.nn.functional.max_pool2d(xt, kernel, stride, padding, return_indices=True)
    yt.backward(torch.tensor(dout))
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(layer.cache[1], winners.numpy())
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
