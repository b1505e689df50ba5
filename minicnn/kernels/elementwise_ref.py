"""ReLU, and the residual block's add + ReLU, in plain NumPy: the version to read.

The layers (``minicnn.layers.activation.ReLU``, ``minicnn.containers.ResidualBlock``) run the
Numba kernels in ``elementwise_fast.py``; ``tests/test_relu.py`` holds them to these functions.
Backward needs only where the input was positive: a bool mask, 1 byte per value, not x or y at 4.
"""
import numpy as np


def relu_forward(x, keep_mask=True):
    """y = max(x, 0) (NaN stays NaN, as np.maximum), and mask = x > 0 if ``keep_mask`` else None."""
    return np.maximum(x, 0), (x > 0 if keep_mask else None)


def add_relu_forward(a, b, keep_mask=True):
    """z = a + b; ``relu_forward(z)``: a residual block's output, its sum's mask."""
    return relu_forward(a + b, keep_mask)


def relu_backward(dout, mask):
    """dx = dout * mask: the gradient passes where the input was positive (0 at x == 0)."""
    return dout * mask
