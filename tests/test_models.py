"""The model zoo: each builder gives the architecture the brief fixes, at any input size.

What this proves:
- the output shape is (N, num_classes) at 64x64 and at another (non-square, RGB) size;
- the parameter count equals the one computed by hand from the layer list, so no layer is
  missing, doubled or sized wrongly (this is what the PyTorch mirrors are checked against);
- too-small inputs and unknown names fail with a clear ValueError;
- the same seed gives the same weights.

Parameter counts by hand:  conv k x k, c_in -> c_out:  c_out*c_in*k*k (+ c_out bias)
                           batch norm over c channels:  2c (gamma, beta; running stats are buffers)
                           dense n_in -> n_out:         n_in*n_out + n_out
"""
import numpy as np
import pytest

from minicnn import models


def conv(c_in, c_out, k, bias=True):
    return c_out * c_in * k * k + (c_out if bias else 0)


def bn(c):
    return 2 * c


def dense(n_in, n_out):
    return n_in * n_out + n_out


def cnn5_params(c, h, w, k):
    widths = [c, 64, 128, 256, 512, 512]
    convs = sum(conv(a, b, 3) + bn(b) for a, b in zip(widths, widths[1:]))
    return convs + dense(512 * (h // 32) * (w // 32), 512) + dense(512, k)


def mini_vgg_params(c, h, w, k):
    total, c_in = 0, c
    for c_out in (64, 128, 256):
        total += conv(c_in, c_out, 3) + bn(c_out) + conv(c_out, c_out, 3) + bn(c_out)
        c_in = c_out
    return total + dense(256 * (h // 8) * (w // 8), 512) + dense(512, 512) + dense(512, k)


def mini_resnet_params(c, h, w, k):
    block = 2 * (conv(64, 64, 3, bias=False) + bn(64))      # ResidualBlock.basic: no conv bias
    return conv(c, 64, 7) + bn(64) + 2 * block + dense(64, k)


FORMULAS = {"cnn5": cnn5_params, "mini_vgg": mini_vgg_params, "mini_resnet": mini_resnet_params}
SHAPES = [((1, 64, 64), 4), ((3, 40, 72), 3)]   # the bundled size, and RGB non-square, 3 classes


@pytest.mark.parametrize("name", models.MODEL_NAMES)
@pytest.mark.parametrize("input_shape,num_classes", SHAPES)
def test_output_shape_and_parameter_count(name, input_shape, num_classes):
    model = models.build(name, input_shape=input_shape, num_classes=num_classes, seed=0)
    assert model.num_params() == FORMULAS[name](*input_shape, num_classes)
    assert tuple(model.output_shape(input_shape)) == (num_classes,)
    x = np.random.default_rng(0).standard_normal((2, *input_shape)).astype(np.float32)
    y = model.forward(x, training=False)
    assert y.shape == (2, num_classes) and y.dtype == np.float32
    assert np.isfinite(y).all()


def test_known_parameter_counts_at_64():
    """The numbers docs/training.md quotes, as plain integers a reader can check."""
    counts = {name: models.build(name).num_params() for name in models.MODEL_NAMES}
    assert counts == {"cnn5": 4_963_716, "mini_vgg": 9_799_876, "mini_resnet": 151_556}


@pytest.mark.parametrize("name,too_small,smallest", [("cnn5", 31, 32), ("mini_vgg", 7, 8)])
def test_too_small_input_is_a_clear_error(name, too_small, smallest):
    with pytest.raises(ValueError, match=f"too small.*at least {smallest}"):
        models.build(name, input_shape=(1, too_small, 64))
    models.build(name, input_shape=(1, smallest, smallest))       # the smallest size works


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown model 'resnet50'"):
        models.build("resnet50")
    with pytest.raises(ValueError, match="input_shape"):
        models.build("mini_resnet", input_shape=(64, 64))
    with pytest.raises(ValueError, match="num_classes"):
        models.build("mini_resnet", num_classes=1)


def test_seed_fixes_the_weights_and_summary_needs_no_argument():
    a, b, c = (models.build("mini_resnet", seed=s) for s in (0, 0, 1))
    for key, value in a.params.items():
        np.testing.assert_array_equal(value, b.params[key])
    assert any(not np.array_equal(v, c.params[k]) for k, v in a.params.items())
    assert a.metadata["model_name"] == "mini_resnet"
    assert a.metadata["architecture"]["input_shape"] == [1, 64, 64]
    table = a.summary(print_fn=None)          # the model knows its input shape
    assert "GlobalAvgPool2D" in table and f"Total params: {a.num_params():,}" in table


def test_float64_models():
    model = models.build("mini_resnet", input_shape=(1, 16, 16), dtype=np.float64)
    assert all(p.dtype == np.float64 for p in model.params.values())
