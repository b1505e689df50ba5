"""Shape arithmetic and size arguments, shared by the kernels (reference and fast) and the layers.

    int_pair(3) == (3, 3);  int_pair((3, 5)) == (3, 5)
    positive_int(64, "out_channels", "Conv2D") == 64
    conv_output_size(64, 64, 3, 3, stride=1, padding=1) == (64, 64)

One place for these small ideas, so that every layer accepts and refuses the same values and no
module has to import a sibling's helpers (the fast kernels used to borrow them from the
reference kernels).
"""
import numpy as np


def _is_int(v):
    """True for Python and NumPy integers, False for bool (``True`` is not a kernel size)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def int_pair(value, name="value", owner=None, minimum=0):
    """An int or an (h, w) pair of ints, each >= ``minimum``, as a tuple (h, w); else ValueError.

    ``owner`` and ``name`` make the message: "Conv2D stride must be an int >= 1 or a pair ...".
    """
    vals = list(value) if isinstance(value, (tuple, list, np.ndarray)) else [value, value]
    if len(vals) != 2 or not all(_is_int(v) and v >= minimum for v in vals):
        where = f"{owner} {name}" if owner else name
        raise ValueError(f"{where} must be an int >= {minimum} or a pair of them, got {value!r}")
    return int(vals[0]), int(vals[1])


def whole(value, name, low):
    """``value`` as an int >= ``low`` (not a bool, not a float such as 4.0); else a ValueError
    "NAME must be a whole number >= LOW" (a count of epochs, classes, filters, images...)."""
    if not _is_int(value) or value < low:
        raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}")
    return int(value)


def positive_int(value, name="value", owner=None):
    """``value`` as an int if it is an integer >= 1 (not a bool, not a float); else ValueError."""
    if not _is_int(value) or value < 1:
        where = f"{owner} {name}" if owner else name
        raise ValueError(f"{where} must be a positive int, got {value!r}")
    return int(value)


def output_size(size, kernel, stride=1, padding=0):
    """Windows along one axis: (size + 2 * padding - kernel) // stride + 1 (floor, as PyTorch)."""
    return (size + 2 * padding - kernel) // stride + 1


def conv_output_size(H, W, KH, KW, stride=1, padding=0):
    """(OH, OW) with OH = (H + 2*ph - KH) // sh + 1 and OW = (W + 2*pw - KW) // sw + 1."""
    (sh, sw), (ph, pw) = int_pair(stride, "stride"), int_pair(padding, "padding")
    return output_size(H, KH, sh, ph), output_size(W, KW, sw, pw)
