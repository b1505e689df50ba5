"""Fully connected layer (Dense) and the Flatten that usually comes before it."""
import numpy as np

from minicnn.kernels.shapes import positive_int
from minicnn.layers.base import Layer


class Dense(Layer):
    """Affine layer y = x W + b.

    Shape:
        x: (N, in_features)  ->  y: (N, out_features)
        W: (in_features, out_features)   b: (out_features,)

    Forward:   y = x @ W + b
    Backward:  dW = x.T @ dout     db = sum_n dout[n]     dx = dout @ W.T

    Initialisation: W ~ N(0, 2 / in_features) (He / Kaiming normal, fan_in), b = 0.
    (PyTorch's ``nn.Linear`` stores the transpose, weight (out_features, in_features).)
    """

    def __init__(self, in_features, out_features, dtype=np.float32, rng=None):
        super().__init__(dtype)
        self.in_features = positive_int(in_features, "in_features", "Dense")
        self.out_features = positive_int(out_features, "out_features", "Dense")
        std = np.sqrt(2.0 / self.in_features)
        shape, rng = (self.in_features, self.out_features), np.random.default_rng(rng)
        self._add_param("W", lambda: rng.standard_normal(shape) * std, shape)
        self._add_param("b", lambda: np.zeros(self.out_features), (self.out_features,))

    def forward(self, x, training=False):
        x = self._check_input(x, "NF", channels=self.in_features)
        y = x @ self.params["W"]  # (N, out)
        y += self.params["b"]
        self.cache = self._keep(x)  # the same in both modes
        return y

    def backward(self, dout):
        x = self.cache
        dout = self._check_dout(dout, (x.shape[0], self.out_features) if x is not None else ())
        np.matmul(x.T, dout, out=self.grads["W"])  # (in, N) @ (N, out) -> (in, out), in place
        np.sum(dout, axis=0, out=self.grads["b"])  # (out,)
        return dout @ self.params["W"].T           # (N, out) @ (out, in) -> (N, in)

    def output_shape(self, input_shape):
        if tuple(input_shape) != (self.in_features,):
            raise ValueError(f"Dense expects per-sample input shape ({self.in_features},), "
                             f"got {tuple(input_shape)}")
        return (self.out_features,)

    def flops(self, input_shape):
        return 2 * self.in_features * self.out_features + self.out_features  # multiply-adds + bias

    def get_config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "dtype": self.dtype.name}


class Flatten(Layer):
    """Flatten every axis after the batch axis.

    Shape:
        x: (N, d1, d2, ...)  (rank >= 2)  ->  y: (N, d1 * d2 * ...)

    Forward:   y = x.reshape(N, -1)
    Backward:  dx = dout.reshape(x.shape)    (no arithmetic: flattening only relabels elements)
    """

    def __init__(self, dtype=np.float32):
        super().__init__(dtype)

    def forward(self, x, training=False):
        if isinstance(x, np.ndarray) and x.ndim < 2:
            raise ValueError(f"Flatten expects input of shape (N, ...) with at least 2 dimensions, "
                             f"got shape {x.shape}")
        x = self._check_input(x, "N" + "*" * (x.ndim - 1) if isinstance(x, np.ndarray) else "N*")
        self.cache = self._keep(x.shape)
        return x.reshape(x.shape[0], -1)  # (N, d1*d2*...)

    def backward(self, dout):
        shape = self.cache
        dout = self._check_dout(dout, (shape[0], int(np.prod(shape[1:]))) if shape else ())
        return dout.reshape(shape)  # (N, d1, d2, ...)

    def output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)
