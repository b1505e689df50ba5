"""Convolution by im2col, in plain NumPy: the reference a student reads (and the tests' oracle).

A convolution slides a (C, KH, KW) filter over the padded input. im2col ("image to columns")
copies every window the filter sees into one row of a matrix, so that the whole convolution
becomes ONE matrix multiply:

    x    (N, C, H, W)                       input
    col  (N*OH*OW, C*KH*KW)                 row (n, oh, ow) = the window under output pixel (oh, ow)
    Wm   (C*KH*KW, C_out)                   the filters, one per column
    out  = col @ Wm + b   (N*OH*OW, C_out)  -> reshaped to (N, C_out, OH, OW)

    OH = (H + 2*padding - KH) // stride + 1      (and OW likewise with W, KW)

Backward is three lines once you see the forward is a matrix multiply:

    db   = sum of dout over N, OH, OW
    dW   = col.T @ dout_m                   (one GEMM)
    dcol = dout_m @ Wm.T;  dx = col2im(dcol) (one GEMM, then add each window back where it came from)

col2im is im2col run backwards: windows overlap, so each input pixel *adds up* the gradients of
every window that contains it. This follows "Deep Learning from Scratch" (Saito, book 1): a loop
over the KH*KW kernel offsets, each a strided slice of the whole batch. It is clear, correct and
slowish; ``conv_fast.py`` computes the same numbers with Numba kernels.

``stride`` and ``padding`` are (sh, sw) and (ph, pw) pairs or single ints.
"""
import numpy as np

from minicnn.kernels.shapes import conv_output_size, int_pair as pair


def im2col(x, KH, KW, stride=1, padding=0):
    """Unfold every (C, KH, KW) window of ``x`` into a row.

    x: (N, C, H, W)  ->  col: (N*OH*OW, C*KH*KW), rows ordered (n, oh, ow), columns (c, kh, kw).
    """
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, W, KH, KW, stride, padding)
    img = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)])         # N, C, H+2ph, W+2pw
    col = np.zeros((N, C, KH, KW, OH, OW), dtype=x.dtype)
    for kh in range(KH):
        kh_end = kh + sh * OH
        for kw in range(KW):
            kw_end = kw + sw * OW
            # the pixels that kernel offset (kh, kw) sees, for every output position at once
            col[:, :, kh, kw, :, :] = img[:, :, kh:kh_end:sh, kw:kw_end:sw]    # N, C, OH, OW
    col = col.transpose(0, 4, 5, 1, 2, 3)                         # N, OH, OW, C, KH, KW
    return col.reshape(N * OH * OW, C * KH * KW)                  # N*OH*OW, C*KH*KW


def col2im(col, x_shape, KH, KW, stride=1, padding=0):
    """Fold rows back into an image, ADDING where windows overlap (the adjoint of ``im2col``).

    col: (N*OH*OW, C*KH*KW)  ->  x: x_shape = (N, C, H, W)
    """
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    N, C, H, W = x_shape
    OH, OW = conv_output_size(H, W, KH, KW, stride, padding)
    col = col.reshape(N, OH, OW, C, KH, KW).transpose(0, 3, 4, 5, 1, 2)  # N, C, KH, KW, OH, OW
    img = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=col.dtype)      # N, C, H+2ph, W+2pw
    for kh in range(KH):
        kh_end = kh + sh * OH
        for kw in range(KW):
            kw_end = kw + sw * OW
            img[:, :, kh:kh_end:sh, kw:kw_end:sw] += col[:, :, kh, kw, :, :]
    return img[:, :, ph:ph + H, pw:pw + W]                       # N, C, H, W (padding dropped)


def conv_forward(x, W, b=None, stride=1, padding=0, ws=None):
    """out = conv(x, W) + b by im2col and one matrix multiply; returns (out, saved).

    x: (N, C, H, W), W: (C_out, C, KH, KW), b: (C_out,) or None  ->  out: (N, C_out, OH, OW)
    ``saved`` is what ``conv_backward`` needs: x and whether there was a bias. (The signature is
    ``conv_fast.conv_forward``'s, so a layer can run either; ``ws``, its scratch space, is unused.)
    """
    N = x.shape[0]
    C_out, _, KH, KW = W.shape
    OH, OW = conv_output_size(x.shape[2], x.shape[3], KH, KW, stride, padding)
    col = im2col(x, KH, KW, stride, padding)                      # N*OH*OW, C*KH*KW
    Wm = W.reshape(C_out, -1).T                                   # C*KH*KW, C_out
    out = col @ Wm                                                # N*OH*OW, C_out
    if b is not None:
        out += b
    out = out.reshape(N, OH, OW, C_out).transpose(0, 3, 1, 2)     # N, C_out, OH, OW
    return np.ascontiguousarray(out), (x, b is not None)


def conv_backward(dout, saved, W, stride=1, padding=0, need_dx=True, ws=None):
    """Gradients of L with respect to x, W and b, given dout = dL/dout and ``saved`` from forward.

    dout: (N, C_out, OH, OW), saved: (x (N, C, H, W), has_bias), W: (C_out, C, KH, KW)
    returns dx (N, C, H, W) (None if not need_dx), dW (C_out, C, KH, KW), db (C_out,) (None
    without a bias)
    """
    x, has_bias = saved
    C_out, _, KH, KW = W.shape
    col = im2col(x, KH, KW, stride, padding)                      # N*OH*OW, C*KH*KW
    dout_m = dout.transpose(0, 2, 3, 1).reshape(-1, C_out)        # N*OH*OW, C_out
    db = dout_m.sum(axis=0) if has_bias else None                 # C_out
    dW = (dout_m.T @ col).reshape(W.shape)                        # C_out, C*KH*KW -> W.shape
    if not need_dx:
        return None, dW, db
    dcol = dout_m @ W.reshape(C_out, -1)                          # N*OH*OW, C*KH*KW
    dx = col2im(dcol, x.shape, KH, KW, stride, padding)           # N, C, H, W
    return dx, dW, db
