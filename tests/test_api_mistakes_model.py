"""Mistakes a student makes building and checking a model are refused, with the fix in the message.

Proves: a layer object used twice in one model (the same Dense twice, one block in two places, the
same branch as main and shortcut) is refused when the container is built -- it would keep only its
last forward's input, so backward would be wrong, and ``params`` would list its arrays twice;
``check_layer`` refuses a float32 layer and a forward that changes from call to call (Dropout
while training), and ``numerical_gradient`` an integer array, instead of printing misleading
errors; ``models.build`` names a channels-last ``input_shape`` and a non-integer ``num_classes``
or knob; ``Sequential(Dense(...), ReLU())``, PyTorch's way, shows the list form.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn import gradcheck, models

F64 = np.float64


# ---- 1. one layer object, one place ---------------------------------------------------------
def test_a_layer_used_twice_in_a_sequential_is_refused(rng):
    d = mc.Dense(3, 3, dtype=F64, rng=rng)
    with pytest.raises(ValueError, match=r"layer Dense\(in_features=3, out_features=3\) appears "
                                         r"twice in this Sequential \(at 0 and 2\).*create one "
                                         r"layer per use"):
        mc.Sequential([d, mc.ReLU(dtype=F64), d])
    relu = mc.ReLU(dtype=F64)                    # stateless-looking, but it keeps its mask
    with pytest.raises(ValueError, match=r"ReLU\(\) appears twice .*\(at 1 and 3\)"):
        mc.Sequential([d, relu, mc.Dense(3, 3, dtype=F64), relu])
    model = mc.Sequential([d, mc.ReLU(dtype=F64), mc.Dense(3, 3, dtype=F64, rng=rng)])
    errors = gradcheck.check_layer(model, rng.standard_normal((4, 3)) + 0.5)  # one per use: right
    assert set(errors) == {"x", "0.W", "0.b", "2.W", "2.b"} and max(errors.values()) < 1e-6, errors


def test_a_sub_model_or_branch_in_two_places_is_refused():
    block = mc.ResidualBlock.basic(2, 2, rng=0)
    with pytest.raises(ValueError, match=r"layer ResidualBlock appears twice in this Sequential "
                                         r"\(at 0 and 2\)"):
        mc.Sequential([block, mc.ReLU(), block])
    conv = block.main[0]                                    # a layer inside it, used again outside
    with pytest.raises(ValueError, match=r"appears twice .*\(at 0\.main\.0 and 1\.0\)"):
        mc.Sequential([block, mc.Sequential([conv])])
    dense = mc.Dense(3, 3)
    with pytest.raises(ValueError, match=r"twice in this ResidualBlock \(at main and shortcut\)"):
        mc.ResidualBlock(dense, dense)
    with pytest.raises(ValueError, match=r"twice in this ResidualBlock \(at main\.0 and "
                                         r"shortcut\.0\)"):
        mc.ResidualBlock(mc.Sequential([dense, mc.ReLU()]), mc.Sequential([dense]))


# ---- 2. gradient checks that would mislead --------------------------------------------------
def test_check_layer_refuses_a_float32_layer(rng):
    x = rng.standard_normal((2, 4))
    with pytest.raises(ValueError, match=r"needs a float64 layer; Dense computes in float32.*"
                                         r"dtype=np\.float64"):
        gradcheck.check_layer(mc.Dense(4, 3), x)
    with pytest.raises(ValueError, match=r"ReLU computes in float32"):   # no params: its output
        gradcheck.check_layer(mc.ReLU(), x + 0.5)
    errors = gradcheck.check_layer(mc.Dense(4, 3, dtype=F64), x.astype(np.float32))  # x is copied
    assert max(errors.values()) < 1e-6, errors


def test_numerical_gradient_refuses_an_integer_array():
    x = np.array([1, 2, 3])
    with pytest.raises(ValueError, match=r"x must be a float NumPy array .*got dtype int64.*"
                                         r"astype\(np\.float64\)"):
        gradcheck.numerical_gradient(lambda: float(np.sum(x ** 2)), x)
    x = x.astype(F64)
    assert np.allclose(gradcheck.numerical_gradient(lambda: float(np.sum(x ** 2)), x), 2 * x)


def test_check_layer_refuses_a_forward_that_draws_a_new_mask(rng):
    x = rng.standard_normal((4, 6))
    with pytest.raises(ValueError, match=r"Dropout\.forward\(x, training=True\) gave two different "
                                         r"outputs.*training=False, or with a fixed mask"):
        gradcheck.check_layer(mc.Dropout(0.5, dtype=F64, rng=0), x)
    model = mc.Sequential([mc.Dense(6, 6, dtype=F64, rng=rng), mc.Dropout(0.5, dtype=F64, rng=0)])
    with pytest.raises(ValueError, match=r"Sequential\.forward.*gave two different outputs"):
        gradcheck.check_layer(model, x)
    errors = gradcheck.check_layer(mc.Dropout(0.5, dtype=F64, rng=0), x, training=False)
    assert max(errors.values()) < 1e-8, errors


# ---- 3. models.build -----------------------------------------------------------------------
@pytest.mark.parametrize("name, shape, fix", [("cnn5", (64, 64, 1), r"\(1, 64, 64\)"),
                                              ("mini_resnet", (32, 32, 1), r"\(1, 32, 32\)"),
                                              ("mini_vgg", (48, 40, 3), r"\(3, 48, 40\)")])
def test_a_channels_last_input_shape_is_named(name, shape, fix):
    with pytest.raises(ValueError, match=rf"{name}: input_shape is \(channels, height, width\), "
                                         rf"e\.g\. {fix}; .* looks like \(height, width, "
                                         rf"channels\)"):
        models.build(name, input_shape=shape)


@pytest.mark.parametrize("args, match", [
    (dict(num_classes=3.7), r"num_classes must be a whole number >= 2, got 3\.7"),
    (dict(num_classes=1), r"num_classes must be a whole number >= 2, got 1"),
    (dict(kernel_size=3.9), r"kernel_size must be a whole number >= 1, got 3\.9"),
    (dict(stride=1.5), r"stride must be a whole number >= 1, got 1\.5"),
    (dict(dense=10.5), r"dense must be a whole number >= 0, got 10\.5"),
    (dict(filters=8.5), r"filters must be a whole number >= 1, got 8\.5"),
])
def test_num_classes_and_knobs_must_be_whole_numbers(args, match):
    with pytest.raises(ValueError, match=rf"mini_resnet: {match}"):
        models.build("mini_resnet", input_shape=(1, 16, 16), **args)
    model = models.build("mini_resnet", input_shape=(1, 16, 16), num_classes=np.int64(3),
                         kernel_size=5, filters=[8], dense=4)     # whole numbers, numpy's too
    assert model.output_shape((1, 16, 16)) == (3,)


# ---- 4. Sequential takes a list -------------------------------------------------------------
def test_layers_one_by_one_get_the_list_form():
    with pytest.raises(TypeError, match=r"Sequential takes a list of layers, not the layers one "
                                        r"by one: Sequential\(\[Dense\(in_features=4, "
                                        r"out_features=2\), ReLU\(\)\]\)"):
        mc.Sequential(mc.Dense(4, 2), mc.ReLU())
    with pytest.raises(TypeError, match=r"Sequential\(\[Flatten\(\), Dense\(.*\), ReLU\(\), "
                                        r"Dense\(.*\), ReLU\(\)\]\)"):     # more than 3 too
        mc.Sequential(mc.Flatten(), mc.Dense(4, 2), mc.ReLU(), mc.Dense(2, 2), mc.ReLU())
    assert len(mc.Sequential([mc.Dense(4, 2), mc.ReLU()], (4,))) == 2
