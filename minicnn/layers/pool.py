"""Pooling layers: MaxPool2D and GlobalAvgPool2D."""
import numpy as np

from minicnn import kernels
from minicnn.kernels.shapes import int_pair, output_size
from minicnn.layers.base import Layer


def _unpair(pair):
    """(3, 3) -> 3 and (2, 3) -> [2, 3]: the JSON-friendly form for get_config."""
    return pair[0] if pair[0] == pair[1] else list(pair)


class MaxPool2D(Layer):
    """Max over each KH x KW window, moved by ``stride``; padded positions count as -inf.

    Shape:
        x: (N, C, H, W)  ->  y: (N, C, OH, OW)
        OH = (H + 2 * padding - KH) // stride + 1      (floor, like PyTorch; same for OW)

    Forward:   y[n, c, i, j] = max over the window of x[n, c]; the winner's position is kept
    Backward:  dx[winner] += dout[n, c, i, j]   (every other input gets 0; += because windows
               overlap when stride < kernel, e.g. the ResNet stem's 3x3 stride 2 pooling)

    kernel_size, stride, padding: int or (h, w) pair; stride None means stride = kernel_size;
    padding <= kernel_size // 2 (as PyTorch requires). Ties go to the first maximum in
    row-major order, as in PyTorch. Runs ``minicnn.kernels.pool_fast`` (Numba), or the NumPy
    version to read, ``minicnn.kernels.pool_ref``, under ``minicnn.kernels.use("reference")``.
    """

    def __init__(self, kernel_size, stride=None, padding=0, dtype=np.float32):
        super().__init__(dtype)
        self.kernel_size = int_pair(kernel_size, "kernel_size", "MaxPool2D", minimum=1)
        self.stride = (self.kernel_size if stride is None
                       else int_pair(stride, "stride", "MaxPool2D", minimum=1))
        self.padding = int_pair(padding, "padding", "MaxPool2D", minimum=0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"MaxPool2D padding must be at most half the kernel size, got "
                             f"padding={padding!r} for kernel_size={kernel_size!r}")

    def _out_hw(self, h, w, got):
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise ValueError(f"MaxPool2D with kernel_size={_unpair(self.kernel_size)}, padding="
                             f"{_unpair(self.padding)} needs H >= {kh - 2 * ph} and W >= {kw - 2 * pw}, "
                             f"got input shape {got}")
        return (output_size(h, kh, self.stride[0], ph), output_size(w, kw, self.stride[1], pw))

    def forward(self, x, training=False):
        x = self._check_input(x, "NCHW")
        self._out_hw(x.shape[2], x.shape[3], x.shape)  # the window must fit
        y, argmax = kernels.get("pool").maxpool_forward(x, self.kernel_size, self.stride, self.padding)
        self.cache = self._keep((x.shape, argmax))
        return y

    def backward(self, dout):
        x_shape, argmax = self.cache if self.cache is not None else ((), None)
        dout = self._check_dout(dout, argmax.shape if argmax is not None else ())
        return kernels.get("pool").maxpool_backward(dout, argmax, x_shape)

    def output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"MaxPool2D expects per-sample input shape (C, H, W), got {tuple(input_shape)}")
        c, h, w = input_shape
        return (c, *self._out_hw(h, w, tuple(input_shape)))

    def flops(self, input_shape):
        c, oh, ow = self.output_shape(input_shape)
        return c * oh * ow * self.kernel_size[0] * self.kernel_size[1]  # one comparison per element

    def get_config(self):
        return {"kernel_size": _unpair(self.kernel_size), "stride": _unpair(self.stride),
                "padding": _unpair(self.padding), "dtype": self.dtype.name}


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
        self.cache = self._keep(x.shape)
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
