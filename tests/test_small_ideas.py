"""One way for each small idea (docs/maintaining.md), and each way does what it says.

Proves: sizes go through one int-or-pair parser and one positive-int check that refuse bools,
floats and wrong lengths with the owner's name in the message; "same pixels" means same shape and
same values; the colour modes and the model names each have one table that the CLI offers; and
the rng= rule: a Generator passed in is used as it is (shared), an int seeds a fresh one.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn import models
from minicnn.cli import build_parser
from minicnn.data import COLORS, Augmenter
from minicnn.data.dataset import check_color
from minicnn.data.duplicates import pixel_digest
from minicnn.kernels.shapes import conv_output_size, int_pair, output_size, positive_int


def test_int_pair():
    assert int_pair(3) == (3, 3) and int_pair((2, 5)) == (2, 5) and int_pair(np.int64(1)) == (1, 1)
    assert int_pair([0, 1]) == (0, 1)
    for bad in (True, (1, False), 2.0, (1, 2, 3), (1,), "3", -1):
        with pytest.raises(ValueError, match=r"^Conv2D stride must be an int >= 0 or a pair"):
            int_pair(bad, "stride", "Conv2D")
    with pytest.raises(ValueError, match=r"kernel_size must be an int >= 1"):
        int_pair((3, 0), "kernel_size", minimum=1)


def test_positive_int():
    assert positive_int(4, "n") == 4 and type(positive_int(np.int32(4), "n")) is int
    for bad in (0, -2, True, np.True_, 4.0, "4", None):
        with pytest.raises(ValueError, match=r"^Dense in_features must be a positive int"):
            positive_int(bad, "in_features", "Dense")


def test_output_sizes():
    assert output_size(64, 3, 2, 1) == 32
    assert conv_output_size(64, 48, 7, 7, stride=2, padding=3) == (32, 24)
    assert conv_output_size(5, 5, 3, 3, (1, 2), (0, 1)) == (3, 3)


def test_same_pixels_means_same_shape_and_values():
    a = np.arange(12, dtype=np.uint8).reshape(1, 3, 4)
    assert pixel_digest(a) == pixel_digest(a.copy())
    assert pixel_digest(a) != pixel_digest(a.reshape(1, 4, 3))          # same bytes, other image
    b = a.copy()
    b[0, 0, 0] = 1
    assert pixel_digest(a) != pixel_digest(b)


def test_one_colour_table():
    assert COLORS == {"grayscale": 1, "rgb": 3} and check_color("rgb") == 3
    with pytest.raises(ValueError, match=r"color: expected one of 'grayscale', 'rgb', got 'RGB'"):
        check_color("RGB")
    assert choices("train", "--color") == list(COLORS) == choices("summary", "--color")


def test_one_model_table():
    assert list(models.MODEL_NAMES) == choices("train", "--model") == choices("summary", "--model")
    assert models.display_name("mini_vgg") == "Mini-VGGNet" and models.display_name("other") == "other"


def test_rng_takes_a_generator_as_it_is_and_an_int_as_a_seed():
    gen = np.random.default_rng(5)
    assert Augmenter(rng=gen).rng is gen and mc.Dropout(0.5, rng=gen).rng is gen
    a, b = Augmenter(rng=7).rng.random(3), Augmenter(rng=7).rng.random(3)
    np.testing.assert_array_equal(a, b)


def choices(command, option):
    parser = build_parser()
    sub = next(a for a in parser._actions if hasattr(a, "choices") and isinstance(a.choices, dict))
    action = next(a for a in sub.choices[command]._actions if option in a.option_strings)
    return list(action.choices)
