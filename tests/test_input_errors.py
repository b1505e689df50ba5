"""Bad input fails early, with a message saying what was expected and what came.

Proves, for every layer except Conv2D (see test_conv.py), what is particular to it: a wrong
channel or feature count, a feature map too small for the pooling window, a rank-1 input to
Flatten, bad constructor arguments. What holds for every layer (integer arrays, non-arrays, a
wrong rank, an empty batch, a dout of the wrong shape, backward before forward) is checked by
``tests/test_contract.py``.
"""
import numpy as np
import pytest

from minicnn import BatchNorm2D, Dense, Dropout, Flatten, MaxPool2D, ReLU

f32 = np.float32
BAD_INPUTS = [  # (layer, input, words the message must contain)
    (BatchNorm2D(3), np.zeros((2, 4, 5, 5), f32), r"expects 3 channels.*got 4"),
    (Dense(4, 2), np.zeros((2, 5), f32), r"expects 4 features.*got 5"),
    (MaxPool2D(3), np.zeros((1, 2, 2, 5), f32), r"needs H >= 3 and W >= 3.*got input shape"),
    (Flatten(), np.zeros((6,), f32), r"at least 2 dimensions.*got shape \(6,\)"),
]


@pytest.mark.parametrize("layer, x, message", BAD_INPUTS,
                         ids=[f"{type(l).__name__}-{i}" for i, (l, _, _) in enumerate(BAD_INPUTS)])
@pytest.mark.parametrize("training", [False, True])
def test_bad_forward_input(layer, x, message, training):
    with pytest.raises(ValueError, match=message):
        layer.forward(x, training=training)


def test_batchnorm_needs_two_values_per_channel_in_training():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm2D(2).forward(np.zeros((1, 2, 1, 1), f32), training=True)


def test_output_shape_checks():
    with pytest.raises(ValueError, match=r"\(4,\).*got \(5,\)"):
        Dense(4, 2).output_shape((5,))
    with pytest.raises(ValueError, match=r"\(3, H, W\).*got \(4, 8, 8\)"):
        BatchNorm2D(3).output_shape((4, 8, 8))
    with pytest.raises(ValueError, match=r"needs H >= 3"):
        MaxPool2D(3).output_shape((1, 2, 2))


@pytest.mark.parametrize("make", [lambda: Dense(0, 3), lambda: Dense(2.5, 3), lambda: BatchNorm2D(0),
                                  lambda: BatchNorm2D(3, momentum=1.5), lambda: MaxPool2D(0),
                                  lambda: MaxPool2D(2, stride=0), lambda: MaxPool2D(3, padding=2),
                                  lambda: Dropout(1.0), lambda: ReLU(dtype=np.int32),
                                  lambda: MaxPool2D(True), lambda: Dense(True, 3),
                                  lambda: BatchNorm2D(np.True_), lambda: MaxPool2D((2, 2, 2))])
def test_bad_constructor_arguments(make):
    with pytest.raises(ValueError):
        make()
