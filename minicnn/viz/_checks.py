"""Argument checks shared by the figure modules: class indices, display images, probabilities.

Each raises a ValueError that names the argument and says what was expected, before numpy or
matplotlib fails deep inside with an index or shape error that names neither.
"""
import numpy as np

from minicnn.kernels.shapes import whole


def _describe(arr):
    """'7', '1.0' for a scalar; 'float64 array of shape (2, 3)' otherwise (short, for messages)."""
    return repr(arr.item()) if arr.ndim == 0 else f"{arr.dtype} array of shape {arr.shape}"


def class_indices(value, n, k, name, scalar_ok=False):
    """``value`` as an int array: (N,) class indices in [0, k), or one int if ``scalar_ok``.

    Refused: floats (1.0), booleans, negative indices (-1 is not "the last class" here), indices
    >= k, a sequence whose length is not n, and (N, K) one-hot rows (with a hint).
    """
    arr = np.asarray(value)
    one = f"an int in [0, {k})"
    expected = f"{one} or a sequence of {n} such ints (one per image)" if scalar_ok else \
        f"{n} integer class indices in [0, {k}), shape ({n},)"
    if arr.ndim == 2 and arr.shape[0] == n:
        raise ValueError(f"{name} must be {expected}, got shape {arr.shape} (one-hot rows? "
                         f"pass {name}.argmax(axis=1))")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be {expected}, got {_describe(arr)}")
    if arr.ndim > 1 or (arr.ndim == 0 and not scalar_ok) or (arr.ndim == 1 and len(arr) != n):
        raise ValueError(f"{name} must be {expected}, got {_describe(arr)}")
    if arr.size and (arr.min() < 0 or arr.max() >= k):
        bad = arr.min() if arr.min() < 0 else arr.max()
        raise ValueError(f"{name} must lie in [0, {k}) ({k} classes), got {bad}"
                         + (" (negative indices are refused: give the class number)"
                            if bad < 0 else ""))
    return arr.astype(np.intp)


def display_batch(images, n, name="images", size=None, per="image in x"):
    """Check ``images`` is (n, C, H, W), C = 1 or 3 (gray or RGB), and (H, W) = size if given."""
    shape = np.shape(images)
    if len(shape) != 4 or shape[1] not in (1, 3):
        hint = " (channels last? put the channel axis before H and W)" \
            if len(shape) == 4 and shape[3] in (1, 3) else ""
        raise ValueError(f"{name} must be (N, C, H, W) with C = 1 (gray) or 3 (RGB), got shape "
                         f"{shape}{hint}")
    if shape[0] != n:
        raise ValueError(f"{name} holds {shape[0]} scans, expected {n} (one per {per})")
    if size is not None and tuple(shape[2:]) != tuple(size):
        raise ValueError(f"{name} must have the model input's size (H, W) = {tuple(size)} "
                         f"(the heatmap is drawn over it), got {tuple(shape[2:])}")


def probabilities(probs, n, k, name="probs"):
    """Check ``probs`` is (n, k) with rows of probabilities (softmax outputs), not logits."""
    probs = np.asarray(probs)
    if probs.shape != (n, k):
        raise ValueError(f"{name} must have shape ({n}, {k}), a row per image and a column per "
                         f"class, got {probs.shape}")
    if probs.size and (not np.all(np.isfinite(probs)) or probs.min() < 0 or probs.max() > 1):
        raise ValueError(f"{name} must be probabilities (softmax outputs), got values outside "
                         f"[0, 1]: [{probs.min():.3g}, {probs.max():.3g}]")
    sums = probs.sum(axis=1, dtype=np.float64)
    if sums.size and np.abs(sums - 1).max() > 1e-3:
        worst = sums[np.abs(sums - 1).argmax()]
        raise ValueError(f"{name} must be probabilities (softmax outputs), got rows not summing "
                         f"to 1 (one sums to {worst:.4g})")
    return probs

