"""Pooling layers: MaxPool2D and GlobalAvgPool2D."""
import numpy as np

from minicnn.layers.base import Layer


class MaxPool2D(Layer):
    pass


class GlobalAvgPool2D(Layer):
    """Average each channel over its whole feature map.

    Shape:
        x: (N, C, H, W)  ->  y: (N, C)

    Forward:   y[n, c] = (1 / (H W)) * sum_{h, w} x[n, c, h, w]
    Backward:  dx[n, c, h, w] = dout[n, c] / (H W)     (every position shares the gradient equally)
    """

    def __init__(self, dtype=np.float32):
        super().__init__(dtype)

    def forward(self, x, training=False):
        x = self._check_input(x, "NCHW")
        self.cache = x.shape if training else None
        return x.mean(axis=(2, 3), dtype=self.dtype)  # (N, C)

    def backward(self, dout):
        shape = self.cache
        dout = self._check_dout(dout, shape[:2] if shape else ())
        n, c, h, w = shape
        dx = np.empty(shape, dtype=self.dtype)
        dx[...] = (dout / (h * w))[:, :, None, None]  # (N, C, 1, 1) broadcast to (N, C, H, W)
        return dx

    def output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"GlobalAvgPool2D expects per-sample input shape (C, H, W), "
                             f"got {tuple(input_shape)}")
        return (input_shape[0],)

    def flops(self, input_shape):
        return int(np.prod(input_shape))  # one add per element (the divide per channel is negligible)
