"""Conv2D is right: its backward is the true gradient, and it computes what PyTorch computes.

1. Gradient check (float64, random upstream gradient, batch of several samples): dx, dW and db
   from ``backward`` match centred finite differences, for stride 1 and 2, padding, a 7x7
   stride-2 pad-3 stem, a 1x1 stride-2 projection, non-square kernels/strides/inputs, and a
   kernel as large as the padded input.
2. PyTorch parity: same weights and input -> same output and gradients as ``torch.nn.Conv2d``,
   in float64 (to 1e-10) and float32 (to 1e-4 relative).
3. What is Conv2D's own: a first layer may skip dx; bad channel counts, a kernel larger than the
   padded input and bad constructor arguments are refused. (The layer contract -- dout and cache
   untouched, grads overwritten in place, dtypes, config and file round trips, generic bad input,
   on both kernel backends -- is checked for every layer by ``tests/test_contract.py``.)
"""
import numpy as np
import pytest

from minicnn import Conv2D
from minicnn.gradcheck import check_layer
from helpers import assert_conv_matches_torch

# (N, C_in, H, W, C_out, kernel_size, stride, padding)
CONFIGS = [
    (3, 2, 5, 5, 3, 3, 1, 1),            # the common case: 3x3, "same" padding
    (2, 2, 7, 6, 3, 3, 2, 1),            # stride 2 + padding, non-square input
    (2, 1, 9, 9, 2, 7, 2, 3),            # the ResNet stem: 7x7 stride 2 pad 3, one input channel
    (2, 3, 5, 6, 4, 1, 2, 0),            # 1x1 stride-2 projection shortcut
    (2, 2, 6, 7, 3, (3, 2), (1, 2), (1, 0)),  # non-square kernel, stride and padding
    (2, 2, 4, 4, 3, 4, 1, 0),            # kernel == input size: a 1x1 output
]
GRAD_TOL = 1e-7   # conv is linear in x and W: finite differences are nearly exact in float64


def make_conv(cfg, dtype=np.float64, seed=0):
    N, C, H, W, C_out, k, s, p = cfg
    layer = Conv2D(C, C_out, k, stride=s, padding=p, dtype=dtype, rng=seed)
    layer.params["b"][...] = np.random.default_rng(seed + 1).standard_normal(C_out)  # not all zero
    x = np.random.default_rng(seed + 2).standard_normal((N, C, H, W)).astype(dtype)
    return layer, x


@pytest.mark.parametrize("cfg", CONFIGS)
def test_gradient_check(cfg):
    layer, x = make_conv(cfg)
    errors = check_layer(layer, x, seed=3)
    print(cfg, errors)
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) < GRAD_TOL, errors


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
@pytest.mark.parametrize("cfg", CONFIGS)
def test_matches_pytorch(torch, cfg, dtype, tol):
    assert_conv_matches_torch(torch, *make_conv(cfg, dtype), tol)


def test_shapes_flops_config():
    layer = Conv2D(3, 8, (3, 5), stride=(2, 1), padding=(1, 2))
    assert layer.params["W"].shape == (8, 3, 3, 5) and layer.params["b"].shape == (8,)
    # OH = (10 + 2 - 3)//2 + 1 = 5,  OW = (7 + 4 - 5)//1 + 1 = 7
    assert layer.output_shape((3, 10, 7)) == (8, 5, 7)
    assert layer.forward(np.zeros((2, 3, 10, 7), np.float32)).shape == (2, 8, 5, 7)
    assert layer.flops((3, 10, 7)) == (2 * 3 * 3 * 5 + 1) * 8 * 5 * 7
    assert Conv2D(3, 8, 3, bias=False).flops((3, 4, 4)) == 2 * 27 * 8 * 2 * 2
    config = layer.get_config()
    assert config == {"in_channels": 3, "out_channels": 8, "kernel_size": [3, 5], "stride": [2, 1],
                      "padding": [1, 2], "bias": True, "dtype": "float32",
                      "algorithm": "auto"}


def test_he_initialisation_and_seed():
    layer = Conv2D(64, 128, 3, rng=0)
    assert abs(layer.params["W"].std() / np.sqrt(2 / (64 * 9)) - 1) < 0.02
    assert np.all(layer.params["b"] == 0)
    assert np.array_equal(layer.params["W"], Conv2D(64, 128, 3, rng=0).params["W"])
    assert not np.array_equal(layer.params["W"], Conv2D(64, 128, 3, rng=1).params["W"])


def test_no_bias():
    layer = Conv2D(2, 3, 3, bias=False, dtype=np.float64, rng=0)
    assert set(layer.params) == set(layer.grads) == {"W"}
    errors = check_layer(layer, np.random.default_rng(1).standard_normal((2, 2, 4, 5)))
    assert max(errors.values()) < GRAD_TOL


def test_skip_input_grad_for_first_layer():
    layer, x = make_conv(CONFIGS[2])
    layer.forward(x, training=True)
    dout = np.random.default_rng(6).standard_normal((2, 2, 5, 5))
    dx = layer.backward(dout)
    dW = layer.grads["W"].copy()
    layer.needs_input_grad = False
    assert layer.backward(dout) is None
    assert np.allclose(layer.grads["W"], dW)


@pytest.mark.parametrize("x, match", [
    (np.zeros((2, 3, 5, 5)), r"expects 2 channels.*got 3"),              # wrong channel count
    (np.zeros((2, 2, 1, 5)), r"expected padded size.*>= \(4, 4\), got \(3, 7\)"),  # too small
])
def test_bad_input(x, match):
    layer = Conv2D(2, 3, 4, padding=1)
    with pytest.raises(ValueError, match=match):
        layer.forward(x)


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=0), dict(kernel_size=(3,)), dict(kernel_size=2.5), dict(stride=0),
    dict(padding=-1), dict(padding=(1, -1)), dict(in_channels=0), dict(out_channels=(4, 4)),
    dict(dtype=np.int32),
])
def test_bad_constructor_arguments(kwargs):
    args = dict(in_channels=2, out_channels=4, kernel_size=3) | kwargs
    with pytest.raises(ValueError):
        Conv2D(**args)
