"""ReLU: y = max(x, 0), dx = dout * [x > 0].

Proves: the gradient check passes (inputs kept away from the kink at 0), and the output and the
input gradient match torch.nn.ReLU; the Numba kernels the layer runs (and the residual block's
add + ReLU) give the NumPy reference's bytes, NaN and -0.0 included; the cache is a 1-byte mask,
none under no_grad. That backward leaves dout untouched (in a residual block one
gradient feeds two branches, so a ReLU that wrote into dout would corrupt the shortcut) is part
of the contract every layer passes (``tests/test_contract.py``, which also shows that a ReLU
writing into dout is caught; ``tests/test_residual.py`` shows what it would break).
"""
import numpy as np
import pytest

from helpers import away_from_kink
from minicnn import ReLU
from minicnn.gradcheck import check_layer


def test_gradient_check(rng):
    errors = check_layer(ReLU(dtype=np.float64), away_from_kink(rng, (4, 3, 5, 5)))
    assert errors["x"] < 1e-7, errors


def test_forward_and_backward_by_hand():
    layer = ReLU()
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]], dtype=np.float32)
    np.testing.assert_array_equal(layer.forward(x, training=True), [[0, 0, 0, 0.5, 2.0]])
    dx = layer.backward(np.array([[1.0, 2.0, 3.0, 4.0, 5.0]], dtype=np.float32))
    np.testing.assert_array_equal(dx, [[0, 0, 0, 4.0, 5.0]])  # gradient 0 at x == 0, like PyTorch


def test_matches_pytorch(torch, rng):
    x = away_from_kink(rng, (3, 4, 6, 6))
    dout = rng.standard_normal(x.shape)
    layer = ReLU(dtype=np.float64)
    y = layer.forward(x, training=True)
    dx = layer.backward(dout)

    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.ReLU()(xt)
    yt.backward(torch.tensor(dout))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=0)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 5, 5), (16, 8, 32, 32)])   # serial, then parallel kernels
def test_fast_kernels_equal_the_numpy_reference_bit_for_bit(rng, dtype, shape):
    """The layers run ``elementwise_fast`` (Numba, one pass, all cores); ``elementwise_ref`` is the
    NumPy to read. Same bytes, NaN, infinities and -0.0 included; views and no-mask calls too."""
    from minicnn.kernels import elementwise_fast as fast, elementwise_ref as ref
    assert (np.prod(shape) >= fast.PARALLEL_MIN_SIZE) == (shape[0] == 16)
    x = rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    x.flat[:7] = [np.nan, -0.0, 0.0, np.inf, -np.inf, 1e-30, -1e-30]
    b.flat[:3] = [1.0, 0.0, -np.inf]
    dout.flat[:4] = [np.nan, np.inf, -3.0, -np.inf]

    def same(got, want):
        assert got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes()

    for args in [(x,), (x[:, :, ::-1, 1:],)]:                  # contiguous, and a strided view
        (y, mask), (y0, mask0) = fast.relu_forward(*args), ref.relu_forward(*args)
        same(y, y0)
        same(mask, mask0)
        d = dout[:, :, :y.shape[2], :y.shape[3]]
        with np.errstate(invalid="ignore"):                    # inf * 0 = NaN, on purpose
            same(fast.relu_backward(d, mask), ref.relu_backward(d, mask0))
    (y, mask), (y0, mask0) = fast.add_relu_forward(x, b), ref.add_relu_forward(x, b)
    same(y, y0)
    same(mask, mask0)
    assert fast.relu_forward(x, keep_mask=False)[1] is None
    same(fast.add_relu_forward(x, b.astype(np.float16))[0], ref.add_relu_forward(x, b.astype(np.float16))[0])


def test_layers_keep_a_one_byte_mask_and_none_under_no_grad():
    from minicnn import ResidualBlock, no_grad
    x = np.linspace(-1, 1, 2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    relu, block = ReLU(), ResidualBlock(ReLU(), activation="relu")
    relu.forward(x, training=True)
    block.forward(x, training=True)
    assert relu.cache.dtype == np.bool_ and block.cache[1].dtype == np.bool_
    with no_grad():
        relu.forward(x)
        block.forward(x)
    assert relu.cache is None and block.cache is None
