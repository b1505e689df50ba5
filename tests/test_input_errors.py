"""Bad input fails early, with a message saying what was expected and what came.

Proves, for every layer except Conv2D (see test_conv.py): wrong rank, wrong channel or feature
count, a feature map too small for the pooling window, integer arrays, non-arrays and a dout of
the wrong shape all raise ValueError naming both the expected and the actual value.
"""
import numpy as np
import pytest

from minicnn import BatchNorm2D, Dense, Dropout, Flatten, GlobalAvgPool2D, MaxPool2D, ReLU

f32 = np.float32
BAD_INPUTS = [  # (layer, input, words the message must contain)
    (BatchNorm2D(3), np.zeros((3, 4, 4), f32), r"\(N, C, H, W\).*got shape \(3, 4, 4\)"),
    (BatchNorm2D(3), np.zeros((2, 4, 5, 5), f32), r"expects 3 channels.*got 4"),
    (BatchNorm2D(3), np.zeros((2, 3, 5, 5), np.int64), r"floating-point.*got dtype int64"),
    (BatchNorm2D(3), [[[[1.0]]]], r"NumPy array.*got list"),
    (Dense(4, 2), np.zeros((2, 5), f32), r"expects 4 features.*got 5"),
    (Dense(4, 2), np.zeros((2, 4, 1, 1), f32), r"\(N, F\).*got shape \(2, 4, 1, 1\)"),
    (Dense(4, 2), np.zeros((2, 4), np.int32), r"floating-point.*got dtype int32"),
    (MaxPool2D(3), np.zeros((1, 2, 2, 5), f32), r"needs H >= 3 and W >= 3.*got input shape"),
    (MaxPool2D(2), np.zeros((2, 8, 8), f32), r"\(N, C, H, W\).*got shape \(2, 8, 8\)"),
    (MaxPool2D(2), np.zeros((1, 1, 4, 4), np.uint8), r"floating-point.*got dtype uint8"),
    (GlobalAvgPool2D(), np.zeros((2, 8), f32), r"\(N, C, H, W\).*got shape \(2, 8\)"),
    (GlobalAvgPool2D(), np.zeros((0, 3, 4, 4), f32), r"empty batch"),
    (Flatten(), np.zeros((6,), f32), r"at least 2 dimensions.*got shape \(6,\)"),
    (Flatten(), np.zeros((2, 3), bool), r"floating-point.*got dtype bool"),
    (ReLU(), np.array(1.0, f32), r"got shape \(\)"),
    (ReLU(), np.zeros((2, 3), np.int64), r"floating-point.*got dtype int64"),
    (Dropout(0.5), np.zeros((2, 3), np.int64), r"floating-point.*got dtype int64"),
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


def re_shape(shape):
    """(2, 3) -> the regex \\(2, 3\\)"""
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("layer, x", [
    (BatchNorm2D(2), np.ones((2, 2, 3, 3), f32)), (Dense(3, 2), np.ones((4, 3), f32)),
    (MaxPool2D(2), np.ones((1, 1, 4, 4), f32)), (GlobalAvgPool2D(), np.ones((2, 3, 2, 2), f32)),
    (Flatten(), np.ones((2, 3, 2), f32)), (ReLU(), np.ones((2, 3), f32)),
    (Dropout(0.5), np.ones((2, 3), f32))])
def test_dout_of_the_wrong_shape(layer, x):
    y = layer.forward(x, training=True)
    with pytest.raises(ValueError, match=rf"expects dout of shape {re_shape(y.shape)}.*got"):
        layer.backward(np.ones((y.shape[0] + 1,) + y.shape[1:], f32))


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
