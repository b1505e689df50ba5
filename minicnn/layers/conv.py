"""2-D convolution (Conv2D): im2col + one matrix multiply, forward and backward."""
import numpy as np

from minicnn import kernels
from minicnn.kernels import winograd_rule
from minicnn.kernels.shapes import conv_output_size, int_pair, positive_int
from minicnn.layers.base import Layer


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in every deep-learning library) with a bias.

    Shape:
        x: (N, C_in, H, W)  ->  y: (N, C_out, OH, OW)
        OH = (H + 2*padding[0] - KH) // stride[0] + 1     OW = (W + 2*padding[1] - KW) // stride[1] + 1
        W: (C_out, C_in, KH, KW)   b: (C_out,)

    Forward:   y[n, o, i, j] = b[o] + sum_{c, p, q} W[o, c, p, q] * xpad[n, c, i*sh + p, j*sw + q]
               computed as  col = im2col(x)  (C_in*KH*KW, N*OH*OW);  y = W.reshape(C_out, -1) @ col + b
    Backward:  db = sum_{n, i, j} dout[n, :, i, j]
               dW = dout_m @ col.T                         (dout_m: dout as (C_out, N*OH*OW))
               dx = col2im(W.reshape(C_out, -1).T @ dout_m)   (each window's gradient added back)

    Initialisation: W ~ N(0, 2 / (C_in*KH*KW)) (He / Kaiming normal, fan_in), b = 0.

    The arithmetic runs in ``minicnn.kernels.conv_fast`` (Numba), or in ``minicnn.kernels.im2col_ref``,
    the same algorithm in a page of plain NumPy, under ``minicnn.kernels.use("reference")``.
    Set ``needs_input_grad = False`` on a first layer to skip computing dx (backward returns None).

    ``algorithm``: "im2col" (above), "winograd" (3x3 stride-1 only: Winograd F(4x4, 3x3), or
    F(2x2, 3x3) for outputs of 4x4 or less, ``minicnn.kernels.winograd_fast``, read
    ``winograd_ref``), or "auto": per input shape, by the measured rule in
    ``winograd_rule.auto_tile`` (benchmarks/README.md).
    """

    ALGORITHMS = ("auto", "im2col", "winograd")

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 dtype=np.float32, rng=None, algorithm="auto"):
        super().__init__(dtype)
        self.in_channels = positive_int(in_channels, "in_channels", "Conv2D")
        self.out_channels = positive_int(out_channels, "out_channels", "Conv2D")
        self.kernel_size = int_pair(kernel_size, "kernel_size", "Conv2D", minimum=1)
        self.stride = int_pair(stride, "stride", "Conv2D", minimum=1)
        self.padding = int_pair(padding, "padding", "Conv2D", minimum=0)
        self.use_bias = bool(bias)
        self.needs_input_grad = True
        if algorithm not in self.ALGORITHMS:
            raise ValueError(f"Conv2D algorithm must be one of {self.ALGORITHMS}, got {algorithm!r}")
        if algorithm == "winograd" and (self.kernel_size != (3, 3) or self.stride != (1, 1)):
            raise ValueError(f"Conv2D algorithm='winograd' needs kernel_size 3 and stride 1, got "
                             f"kernel_size {self.kernel_size} stride {self.stride}")
        self.algorithm = algorithm
        self._spent = (None, None)   # (kernel, its kept arrays) of a dropped cache (drop_cache)
        KH, KW = self.kernel_size
        fan_in = self.in_channels * KH * KW
        rng = np.random.default_rng(rng)
        shape = (self.out_channels, self.in_channels, KH, KW)
        self._add_param("W", lambda: rng.standard_normal(shape) * np.sqrt(2.0 / fan_in), shape)
        if self.use_bias:
            self._add_param("b", lambda: np.zeros(self.out_channels), (self.out_channels,))

    # ---- shapes -------------------------------------------------------------------------
    def output_shape(self, input_shape):
        C, H, W = self._check_shape(tuple(input_shape))
        return (self.out_channels,) + conv_output_size(H, W, *self.kernel_size, self.stride, self.padding)

    def flops(self, input_shape):
        _, OH, OW = self.output_shape(input_shape)
        KH, KW = self.kernel_size
        per_output = 2 * self.in_channels * KH * KW + (1 if self.use_bias else 0)
        return int(per_output * self.out_channels * OH * OW)

    def get_config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding), "bias": self.use_bias, "dtype": self.dtype.name,
                "algorithm": self.algorithm}

    def _check_shape(self, chw):
        """Validate a per-sample (C, H, W) shape: channels match, the kernel fits the padded input."""
        if len(chw) != 3:
            raise ValueError(f"Conv2D expects per-sample shape (C, H, W), got {chw}")
        C, H, W = chw
        if C != self.in_channels:
            raise ValueError(f"Conv2D expects {self.in_channels} channels on axis 1, got {C}")
        (KH, KW), (ph, pw) = self.kernel_size, self.padding
        if H + 2 * ph < KH or W + 2 * pw < KW:
            raise ValueError(f"Conv2D kernel {KH}x{KW} does not fit the input: expected padded size "
                             f"(H + 2*padding, W + 2*padding) >= ({KH}, {KW}), got "
                             f"({H + 2 * ph}, {W + 2 * pw}) for input {H}x{W}, padding {self.padding}")
        return C, H, W

    # ---- forward / backward -------------------------------------------------------------
    def _kernel(self, x_shape):
        """(module, extra kwargs) that computes this layer for inputs of x_shape: the selected
        backend's (``minicnn.kernels.use``) kernel of the algorithm's family."""
        out = self.output_shape(x_shape[1:])[1:]
        if self.algorithm == "winograd" or (self.algorithm == "auto" and winograd_rule.auto_tile(
                self.kernel_size, self.stride, self.in_channels, self.out_channels, *out)):
            return kernels.get("winograd"), {"tile": winograd_rule.tile_for(*out)}
        return kernels.get("conv"), {}

    def forward(self, x, training=False):
        x = self._check_input(x, "NCHW", channels=self.in_channels)
        self._check_shape(x.shape[1:])
        kernel, kw = self._kernel(x.shape)
        # Winograd may keep its transformed input for backward, if backward can come (no no_grad),
        # in the arrays it kept last step (that step's backward is done: this forward replaces it)
        extra = {}
        if "tile" in kw:
            then, last = (self.cache[2], self.cache[0]) if self.cache is not None else self._spent
            extra = {"for_backward": self._recording(),
                     "recycle": last if then is kernel else None}
            self.cache, self._spent = None, (None, None)
        y, saved = kernel.conv_forward(x, self.params["W"], self.params.get("b"), self.stride,
                                       self.padding, **kw, **extra)
        self.cache = self._keep((saved, y.shape, kernel, kw))  # the same in both modes
        return y

    def drop_cache(self):
        """``Layer.drop_cache``, except that the arrays Winograd kept stay for the next forward
        to write over (``recycle``: a fresh array costs a page fault per 4 KB); x goes."""
        if self.cache is not None and "tile" in self.cache[3]:
            (_, has_bias, kept), _, kernel, _ = self.cache
            self._spent = (kernel, (None, has_bias, kept))        # forward's recycle= takes it
        self.cache = None

    def backward(self, dout):
        saved, y_shape, kernel, kw = self.cache if self.cache is not None else (None,) * 4
        dout = self._check_dout(dout, y_shape)
        dx, dW, db = kernel.conv_backward(dout, saved, self.params["W"], self.stride, self.padding,
                                          need_dx=self.needs_input_grad, **kw)
        self.grads["W"][...] = dW
        if self.use_bias:
            self.grads["b"][...] = db
        return dx


def set_conv_algorithm(model, algorithm):
    """Set ``algorithm`` on every Conv2D in ``model`` (a layer or a container); returns model.

    "winograd" goes only to the 3x3 stride-1 convolutions (a 7x7 stem keeps its own). The
    examples' and benchmarks' ``--algorithm`` options use this to compare whole models.
    """
    if algorithm not in Conv2D.ALGORITHMS:
        raise ValueError(f"algorithm must be one of {Conv2D.ALGORITHMS}, got {algorithm!r}")
    if isinstance(model, Conv2D) and (algorithm != "winograd"
                                      or (model.kernel_size, model.stride) == ((3, 3), (1, 1))):
        model.algorithm = algorithm
    for _, child in model.children():
        set_conv_algorithm(child, algorithm)
    return model
