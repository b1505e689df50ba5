"""Max pooling in plain NumPy: the version to read. ``pool_fast.py`` is the one the layer runs.

Both return, besides the output, the *argmax*: for every output the flat index h * W + w of the
input position that won, inside its (H, W) plane (PyTorch's ``return_indices`` convention).
Backward is then a scatter: each dout value goes to the position that won.
"""
import numpy as np

from minicnn.kernels.shapes import output_size as pool_output_size


def maxpool_forward(x, kernel, stride, padding):
    """x: (N, C, H, W); kernel, stride, padding: (int, int) pairs -> (y, argmax), both (N, C, OH, OW).

    y[n, c, i, j] = max of x[n, c] over the window with top-left corner (i*SH - PH, j*SW - PW);
    padded positions count as -inf, so they never win. A window holding a NaN gives NaN (PyTorch's
    rule, so a NaN is never hidden), with argmax at the window's last NaN.
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, h, w = x.shape
    oh, ow = pool_output_size(h, kh, sh, ph), pool_output_size(w, kw, sw, pw)
    xp = np.full((n, c, h + 2 * ph, w + 2 * pw), -np.inf, dtype=x.dtype)  # padded copy
    xp[:, :, ph:ph + h, pw:pw + w] = x
    top = np.arange(oh) * sh - ph    # (OH,) first input row of each window
    left = np.arange(ow) * sw - pw   # (OW,) first input column of each window
    y = np.full((n, c, oh, ow), -np.inf, dtype=x.dtype)
    argmax = np.zeros((n, c, oh, ow), dtype=np.int64)
    for i in range(kh):          # visit the window offsets in row-major order; with a strict ">"
        for j in range(kw):      # the first maximum wins ties, as in PyTorch
            cand = xp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]  # (N, C, OH, OW)
            better = (cand > y) | np.isnan(cand)   # a NaN wins and stays (the last NaN, as torch)
            y = np.where(better, cand, y)
            flat = (top[:, None] + i) * w + (left[None, :] + j)   # (OH, OW) index into the plane
            argmax = np.where(better, flat, argmax)
    return y, argmax


def maxpool_backward(dout, argmax, input_shape):
    """dx (input_shape) with dx[n, c].flat[argmax[n, c, i, j]] += dout[n, c, i, j].

    When windows overlap (stride < kernel) one input can win several windows; bincount adds
    up all the dout values that land on the same input.
    """
    n, c, h, w = input_shape
    plane = np.arange(n * c).reshape(n, c, 1, 1) * (h * w)   # offset of each (n, c) plane
    dx = np.bincount((plane + argmax).ravel(), weights=dout.ravel(), minlength=n * c * h * w)
    return dx.reshape(input_shape).astype(dout.dtype)
