"""Element-wise layers: ReLU and (inverted) Dropout.

Both multiply the upstream gradient by a mask kept from ``forward``; neither ever writes into
``dout``. At inference Dropout is the identity, and so is its backward.
"""
import numbers

import numpy as np

from minicnn import kernels
from minicnn.layers.base import Layer


def _check_any_rank(layer, x):
    """Element-wise layers accept any shape (N, ...); only the dtype and a batch axis are checked."""
    ndim = x.ndim if isinstance(x, np.ndarray) else 1
    return layer._check_input(x, "N" + "*" * (max(ndim, 1) - 1))


class ReLU(Layer):
    """Rectified linear unit, element-wise.

    Shape:
        x: (N, *) any shape  ->  y: same shape

    Forward:   y = max(x, 0)
    Backward:  dx = dout * [x > 0]     (the bool mask is kept from forward, 1 byte per value, not
                                        x or y at 4; at x == 0 the gradient is 0)
    """

    def __init__(self, dtype=np.float32):
        super().__init__(dtype)

    def forward(self, x, training=False):
        x = _check_any_rank(self, x)
        # y = max(x, 0) and the bool mask x > 0, same shape as x (no mask under no_grad);
        # minicnn.kernels.elementwise_ref is the NumPy to read
        y, mask = kernels.get("elementwise").relu_forward(x, keep_mask=self._recording())
        self.cache = self._keep(mask)
        return y

    def backward(self, dout):
        mask = self.cache
        dout = self._check_dout(dout, mask.shape if mask is not None else ())
        return kernels.get("elementwise").relu_backward(dout, mask)  # dout * mask, a new array

    def flops(self, input_shape):
        return int(np.prod(input_shape))  # one comparison per element


class Dropout(Layer):
    """Inverted dropout: zero each activation with probability ``rate`` while training.

    Shape:
        x: (N, *) any shape  ->  y: same shape

    Training:   m_i ~ Bernoulli(1 - rate),   y = x * m / (1 - rate)
    Inference:  y = x                        (the 1/(1-rate) scaling in training keeps E[y] = x)
    Backward:   dx = dout * m / (1 - rate)   (the same scaled mask as forward; dx = dout after an
                                              inference forward)

    rate: probability of dropping, in [0, 1).
    rng:  np.random.Generator or int seed for the masks (None = fresh entropy).
    """

    def __init__(self, rate=0.5, dtype=np.float32, rng=None):
        super().__init__(dtype)
        if isinstance(rate, bool) or not (isinstance(rate, numbers.Real) and 0.0 <= rate < 1.0):
            raise ValueError(f"Dropout rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.rng = np.random.default_rng(rng)  # a Generator is used as is; an int seeds a new one

    def forward(self, x, training=False):
        x = _check_any_rank(self, x)
        if not training:
            self.cache = self._keep((x.shape, None))                       # the identity
            return x
        keep = self.rng.random(x.shape, dtype=self.dtype) >= self.rate      # bool, same shape as x
        mask = keep * self.dtype.type(1.0 / (1.0 - self.rate))             # 0 or 1/(1-rate)
        self.cache = self._keep((x.shape, mask))
        return x * mask

    def backward(self, dout):
        shape, mask = self.cache if self.cache is not None else ((), None)
        dout = self._check_dout(dout, shape)
        return dout.copy() if mask is None else dout * mask

    def get_config(self):
        return {"rate": self.rate, "dtype": self.dtype.name}
