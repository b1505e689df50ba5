"""ReLU: y = max(x, 0), dx = dout * [x > 0].

Proves: the gradient check passes (inputs kept away from the kink at 0), and the output and the
input gradient match torch.nn.ReLU. That backward leaves dout untouched (in a residual block one
gradient feeds two branches, so a ReLU that wrote into dout would corrupt the shortcut) is part
of the contract every layer passes (``tests/test_contract.py``, which also shows that a ReLU
writing into dout is caught; ``tests/test_residual.py`` shows what it would break).
"""
import numpy as np

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
