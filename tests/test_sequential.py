"""Sequential: backprop through a chain of layers is the chain rule, applied last layer first.

Proves: a whole small conv net passes the numerical gradient check end to end (input gradient
and every dotted parameter "0.W", "5.b", ...); ``model.params`` holds the layers' own arrays
(so optimizers update the layers); the dtype rule; shapes and indexing. (The layer contract,
config round trip and errors included: ``tests/test_contract.py``.)
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn.gradcheck import check_layer

F64 = np.float64


def small_convnet(dtype=F64, seed=0):
    """conv-relu-conv-relu-pool-dense: every kind of step a CNN takes, small enough to check."""
    rng = np.random.default_rng(seed)
    model = mc.Sequential([
        mc.Conv2D(2, 3, 3, padding=1, dtype=dtype, rng=rng),   # (2, 6, 6) -> (3, 6, 6)
        mc.ReLU(dtype=dtype),
        mc.Conv2D(3, 4, 3, stride=2, dtype=dtype, rng=rng),    # -> (4, 2, 2)
        mc.ReLU(dtype=dtype),
        mc.GlobalAvgPool2D(dtype=dtype),                       # -> (4,)
        mc.Dense(4, 3, dtype=dtype, rng=rng),                  # -> (3,)
    ], input_shape=(2, 6, 6))
    for p in model.params.values():  # non-zero biases keep ReLU inputs off the kink at exactly 0
        p += 0.1 * rng.standard_normal(p.shape)
    return model


def test_gradient_check_end_to_end(rng):
    model = small_convnet()
    errors = check_layer(model, rng.standard_normal((3, 2, 6, 6)))
    assert set(errors) == {"x", "0.W", "0.b", "2.W", "2.b", "5.W", "5.b"}
    for name, err in errors.items():
        assert err < 1e-6, (name, err)


def test_params_are_the_layers_own_arrays():
    model = small_convnet()
    assert model.params["0.W"] is model[0].params["W"]
    assert model.grads["5.b"] is model[5].grads["b"]
    model.params["2.W"][...] = 0.0                 # what an optimizer does: write in place
    assert not model[2].params["W"].any()
    assert model.num_params() == sum(p.size for p in model.params.values()) == 57 + 112 + 15


def test_nested_names_and_buffers():
    inner = mc.Sequential([mc.Conv2D(1, 2, 3, dtype=F64, rng=0), mc.BatchNorm2D(2, dtype=F64)])
    model = mc.Sequential([inner, mc.ReLU(dtype=F64)])
    assert list(model.params) == ["0.0.W", "0.0.b", "0.1.gamma", "0.1.beta"]
    assert list(model.buffers) == ["0.1.running_mean", "0.1.running_var"]
    assert model.buffers["0.1.running_var"] is inner[1].buffers["running_var"]


def test_dtype_is_inferred_and_must_agree():
    assert mc.Sequential([mc.ReLU(dtype=F64), mc.Flatten(dtype=F64)]).dtype == F64
    with pytest.raises(ValueError, match="mix dtypes"):
        mc.Sequential([mc.ReLU(dtype=F64), mc.Flatten()])
    with pytest.raises(ValueError, match="do not cast"):
        mc.Sequential([mc.ReLU()], dtype=F64)
    with pytest.raises(ValueError, match="non-empty list"):
        mc.Sequential([])


def test_shapes_and_indexing():
    model = small_convnet()
    assert model.output_shape((2, 6, 6)) == (3,)
    assert model.flops((2, 6, 6)) == sum(m.flops(s) for _, m, s in model.child_input_shapes((2, 6, 6)))
    assert len(model) == 6 and list(model)[2] is model[2]
    assert isinstance(model[1:3], mc.Sequential) and model[1:3][0] is model[1]
    assert "(5): Dense(in_features=4, out_features=3)" in repr(model)


