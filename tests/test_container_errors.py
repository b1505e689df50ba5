"""A child's error inside a container says where it happened, and keeps its type.

``Sequential`` puts ``layer <i> (<class>): `` in front of the message of an error raised by its
child i (in forward, backward and output_shape); ``ResidualBlock`` puts ``main (...)`` or
``shortcut (...)``. Nested containers stack the prefixes, outermost first, as Keras names the
layer that failed. The exception type (ValueError, BackwardError, ...) and traceback are kept.
"""
import numpy as np
import pytest

from minicnn import (BackwardError, Conv2D, Dense, Flatten, GlobalAvgPool2D, ReLU, ResidualBlock,
                     Sequential, models)


def test_a_forward_error_names_the_position_and_class():
    model = models.build("cnn5", input_shape=(1, 32, 32), num_classes=4)
    x = np.zeros((1, 1, 64, 64), np.float32)       # twice the size: the flatten is too long
    with pytest.raises(ValueError, match=r"^layer 21 \(Dense\): Dense expects 512 features "
                                         r"on axis 1, got 2048"):
        model.forward(x)


def test_nested_containers_stack_the_prefixes():
    block = ResidualBlock(Sequential([Conv2D(4, 4, 3, padding=1), ReLU()]))
    model = Sequential([Conv2D(1, 4, 3, padding=1), block, GlobalAvgPool2D(), Dense(4, 2)])
    with pytest.raises(ValueError, match=r"^layer 1 \(ResidualBlock\): main \(Sequential\): "
                                         r"layer 0 \(Conv2D\): Conv2D expects 4 channels"):
        block_only = Sequential([Conv2D(1, 3, 1), block])
        block_only.forward(np.zeros((1, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"^layer 0 \(Conv2D\): Conv2D expects 1 channels"):
        model.output_shape((2, 8, 8))


def test_backward_errors_keep_their_type():
    model = Sequential([Flatten(), Dense(4, 3), ReLU(), Dense(3, 2)])
    with pytest.raises(BackwardError, match=r"^layer 3 \(Dense\): Dense.backward called before"):
        model.backward(np.ones((2, 2), np.float32))           # no forward yet: nothing cached
    model.forward(np.ones((2, 4), np.float32), training=True)
    with pytest.raises(ValueError, match=r"^layer 3 \(Dense\): Dense.backward expects dout of "
                                         r"shape \(2, 2\)"):
        model.backward(np.ones((2, 5), np.float32))


def test_errors_without_a_message_pass_through_unchanged():
    class Boom(ReLU):
        def forward(self, x, training=False):
            raise KeyboardInterrupt                  # not an Exception: never touched

    with pytest.raises(KeyboardInterrupt):
        Sequential([Boom()]).forward(np.ones((1, 2), np.float32))
