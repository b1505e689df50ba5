"""Batch normalisation over (N, H, W) per channel, in plain NumPy: the version to read.

The layer (``minicnn.layers.norm.BatchNorm2D``) runs the Numba kernels in ``norm_fast.py``;
``tests/test_batchnorm.py`` holds them to these functions. M = N * H * W values per channel.
"""
import numpy as np


def batchnorm_forward(x, gamma, beta, eps):
    """Training-mode forward. x: (N, C, H, W) -> (y, mean, var) with mean, var: (C,).

    mean = x.mean over (N, H, W);  var = biased variance;  y = gamma * (x - mean) / sqrt(var + eps) + beta
    """
    mean = x.mean(axis=(0, 2, 3))                    # (C,)
    xc = x - mean[:, None, None]                     # (N, C, H, W), centred
    var = (xc * xc).mean(axis=(0, 2, 3))             # (C,), biased (divide by M)
    xhat = xc / np.sqrt(var + eps)[:, None, None]    # (N, C, H, W), zero mean, unit variance
    y = gamma[:, None, None] * xhat + beta[:, None, None]
    return y, mean, var


def batchnorm_backward(dout, x, mean, var, gamma, eps):
    """Backward of ``batchnorm_forward``: returns (dx, dgamma, dbeta).

    dbeta = sum dout;  dgamma = sum dout * xhat  (sums over N, H, W)
    dx    = gamma / (M * std) * (M * dout - dbeta - xhat * dgamma)
    """
    m = x.shape[0] * x.shape[2] * x.shape[3]
    std = np.sqrt(var + eps)                         # (C,)
    xhat = (x - mean[:, None, None]) / std[:, None, None]
    dbeta = dout.sum(axis=(0, 2, 3))                 # (C,)
    dgamma = (dout * xhat).sum(axis=(0, 2, 3))       # (C,)
    dx = (gamma / (m * std))[:, None, None] * (m * dout - dbeta[:, None, None]
                                               - xhat * dgamma[:, None, None])
    return dx, dgamma, dbeta
