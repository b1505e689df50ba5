"""Dense: y = x W + b with W of shape (in_features, out_features).

Proves: the gradient check passes for x, W and b; the He initialisation has the right scale;
outputs and gradients match torch.nn.Linear (which stores W transposed). (The layer contract,
e.g. gradients overwritten in place and dout untouched: ``tests/test_contract.py``.)
"""
import numpy as np

from minicnn import Dense
from minicnn.gradcheck import check_layer


def test_gradient_check(rng):
    layer = Dense(7, 5, dtype=np.float64, rng=0)
    layer.params["b"][:] = rng.standard_normal(5)  # a non-zero bias, so it takes part in the check
    errors = check_layer(layer, rng.standard_normal((4, 7)))
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) < 1e-7, errors


def test_shapes_and_he_init():
    layer = Dense(400, 300, rng=0)
    assert layer.params["W"].shape == (400, 300) and layer.params["W"].dtype == np.float32
    np.testing.assert_array_equal(layer.params["b"], 0)
    # He / Kaiming normal: std = sqrt(2 / fan_in) = sqrt(2 / 400) ~ 0.0707
    assert abs(layer.params["W"].std() - np.sqrt(2 / 400)) < 0.002
    assert layer.output_shape((400,)) == (300,)
    assert layer.flops((400,)) == 2 * 400 * 300 + 300
    assert layer.get_config() == {"in_features": 400, "out_features": 300, "dtype": "float32"}


def test_same_seed_same_weights():
    np.testing.assert_array_equal(Dense(6, 4, rng=3).params["W"], Dense(6, 4, rng=3).params["W"])


def test_matches_pytorch(torch, rng):
    layer = Dense(10, 3, dtype=np.float64, rng=0)
    layer.params["b"][:] = rng.standard_normal(3)
    x = rng.standard_normal((5, 10))
    dout = rng.standard_normal((5, 3))
    y = layer.forward(x, training=True)
    dx = layer.backward(dout)

    lin = torch.nn.Linear(10, 3).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(layer.params["W"].T))  # torch: (out, in)
        lin.bias.copy_(torch.tensor(layer.params["b"]))
    xt = torch.tensor(x, requires_grad=True)
    yt = lin(xt)
    yt.backward(torch.tensor(dout))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["W"], lin.weight.grad.numpy().T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], lin.bias.grad.numpy(), rtol=1e-12, atol=1e-12)
