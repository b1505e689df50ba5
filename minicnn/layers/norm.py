"""Batch normalisation for convolutional features (per channel, over N, H and W)."""
import numpy as np

from minicnn import kernels
from minicnn.kernels.shapes import positive_int
from minicnn.layers.base import Layer


class BatchNorm2D(Layer):
    """Normalise each channel with the statistics of the batch, then scale and shift.

    Shape:
        x: (N, C, H, W)  ->  y: (N, C, H, W)      gamma, beta, running_mean, running_var: (C,)

    Training (statistics over the M = N*H*W values of each channel c):
        mean = (1/M) sum x            var = (1/M) sum (x - mean)^2        (biased)
        xhat = (x - mean) / std       std = sqrt(var + eps)
        y    = gamma * xhat + beta
        running = (1 - momentum) * running + momentum * batch_stat        (PyTorch convention;
            running_var takes the unbiased variance var * M / (M - 1))
    Inference:  y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta
                a fixed affine map per channel, y = scale * x + shift, so its backward is
                dx = dout * scale,  dgamma = sum dout * (x - running_mean) / s,  dbeta = sum dout

    Backward after a training forward, per channel, with dxhat = dout * gamma:
        dbeta  = sum dout            dgamma = sum dout * xhat
        dx = 1 / (M * std) * (M * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat))
           = gamma / (M * std) * (M * dout - dbeta - xhat * dgamma)
    Why: x moves y directly (the M * dxhat term) and through the mean (every value shifts
    with it: - sum(dxhat)) and through the variance (moving one value rescales all the xhat:
    - xhat * sum(dxhat * xhat)). Each path's share is 1/M, hence the common factor.

    Training-mode arithmetic runs in the fused Numba kernels of ``minicnn.kernels.norm_fast``, or
    under ``minicnn.kernels.use("reference")`` in ``minicnn.kernels.norm_ref``, the same formulas
    in plain NumPy.
    """

    def __init__(self, num_features, momentum=0.1, eps=1e-5, dtype=np.float32):
        super().__init__(dtype)
        self.num_features = positive_int(num_features, "num_features", "BatchNorm2D")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNorm2D momentum must be in [0, 1], got {momentum!r}")
        if not eps > 0:
            raise ValueError(f"BatchNorm2D eps must be > 0, got {eps!r}")
        self.momentum, self.eps = float(momentum), float(eps)
        c = (self.num_features,)
        self._add_param("gamma", lambda: np.ones(c), c)
        self._add_param("beta", lambda: np.zeros(c), c)
        self._add_buffer("running_mean", lambda: np.zeros(c), c)
        self._add_buffer("running_var", lambda: np.ones(c), c)

    def forward(self, x, training=False):
        x = self._check_input(x, "NCHW", channels=self.num_features)
        n, c, h, w = x.shape
        gamma, beta = self.params["gamma"], self.params["beta"]
        if not training:  # y = x * scale + shift, per channel
            mean = self.buffers["running_mean"].copy()                               # (C,)
            inv_std = 1.0 / np.sqrt(self.buffers["running_var"].astype(np.float64) + self.eps)
            scale = (gamma * inv_std).astype(self.dtype)                              # (C,)
            shift = (beta - mean * scale).astype(self.dtype)                          # (C,)
            y = np.multiply(x, scale[:, None, None])  # (C, 1, 1) broadcasts over (N, C, H, W)
            y += shift[:, None, None]
            self.cache = self._keep(("inference", x, mean, inv_std))
            return y
        m = n * h * w
        if m < 2:
            raise ValueError(f"BatchNorm2D needs more than 1 value per channel in training, "
                             f"got input shape {x.shape}")
        y, mean, var = kernels.get("norm").batchnorm_forward(x, gamma, beta, self.eps)  # mean, var (C,)
        mom = self.momentum
        self.buffers["running_mean"][:] = (1 - mom) * self.buffers["running_mean"] + mom * mean
        self.buffers["running_var"][:] = (1 - mom) * self.buffers["running_var"] + mom * var * m / (m - 1)
        self.cache = self._keep(("training", x, mean, var))
        return y

    def backward(self, dout):
        mode, x, mean, v = self.cache if self.cache is not None else (None, None, None, None)
        dout = self._check_dout(dout, x.shape if x is not None else ())
        if mode == "inference":  # y = scale * x + shift, scale = gamma * v, v = 1 / s
            xhat = (x - mean[:, None, None]) * v.astype(self.dtype)[:, None, None]
            self.grads["gamma"][:] = (dout * xhat).sum(axis=(0, 2, 3))
            self.grads["beta"][:] = dout.sum(axis=(0, 2, 3))
            return dout * (self.params["gamma"] * v).astype(self.dtype)[:, None, None]
        dx, dgamma, dbeta = kernels.get("norm").batchnorm_backward(
            dout, x, mean, v, self.params["gamma"], self.eps)  # v = var
        self.grads["gamma"][:] = dgamma
        self.grads["beta"][:] = dbeta
        return dx

    def output_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[0] != self.num_features:
            raise ValueError(f"BatchNorm2D expects per-sample input shape ({self.num_features}, H, W), "
                             f"got {tuple(input_shape)}")
        return tuple(input_shape)

    def flops(self, input_shape):
        return 2 * int(np.prod(input_shape))  # inference: one multiply-add per element

    def get_config(self):
        return {"num_features": self.num_features, "momentum": self.momentum, "eps": self.eps,
                "dtype": self.dtype.name}
