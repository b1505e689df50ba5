"""Softmax and the fused softmax cross-entropy loss.

Shapes: logits (N, K) -- one row of K class scores per sample; labels either (N,) integer
class indices or (N, K) float target distributions (one-hot, or soft labels summing to 1).

Why fused? Computing ``softmax`` and then ``-log(p)`` separately overflows for large logits
and needs a fudge like ``log(p + 1e-7)`` for p that underflowed to 0. Working with
log-probabilities directly, through the log-sum-exp trick, needs neither:

    log softmax(z)_k = z_k - logsumexp(z),   logsumexp(z) = m + log(sum_j exp(z_j - m)),  m = max_j z_j

Every exp() then has an argument <= 0, so nothing overflows, and the largest term is exp(0) = 1,
so the sum never underflows to 0 and the log is always finite.
"""
import numbers

import numpy as np


def log_softmax(logits):
    """Row-wise log-softmax of ``logits`` (N, K), computed with the log-sum-exp trick."""
    z = np.asarray(logits)
    shifted = z - z.max(axis=1, keepdims=True)                       # N,K  every entry <= 0
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # N,K


def softmax(logits):
    """Row-wise softmax of ``logits`` (N, K): probabilities that sum to 1 along axis 1."""
    z = np.asarray(logits)
    e = np.exp(z - z.max(axis=1, keepdims=True))  # N,K  stable: the max entry becomes exp(0) = 1
    return e / e.sum(axis=1, keepdims=True)


def check_labels(labels, n_classes=None, name="labels"):
    """``labels`` as int64 (N,) class indices, or a ValueError naming ``name``.

    One rule for the loss, ``Dataset`` and the splits: integers, or floats that are whole
    numbers (1.0 is class 1, 0.7 is refused); never bools or class names; each in
    [0, n_classes) (n_classes None: each >= 0).
    """
    y = np.asarray(labels)
    names = [v for v in y.flat if isinstance(v, (str, bytes))] if y.dtype.kind in "USO" else []
    if names:
        raise ValueError(f"{name} must be class indices (ints 0..K-1), not names such as "
                         f"{str(names[0])!r}: map each name to its index, e.g. "
                         f"[classes.index(c) for c in names]")
    if y.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be integer class indices, got dtype {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"{name}: expected one class index per image, shape (N,), got "
                         f"shape {y.shape}")
    if y.dtype.kind == "f":
        bad = ~(np.isfinite(y) & (y == np.round(y)))
        if bad.any():
            raise ValueError(f"{name} must be whole numbers (class indices), got {y[bad][0]}")
    if n_classes is None and y.size and y.min() < 0:
        raise ValueError(f"{name} must be >= 0, got [{y.min():g}, {y.max():g}]")
    if n_classes is not None and y.size and (y.min() < 0 or y.max() >= n_classes):
        bad = y[(y < 0) | (y >= n_classes)][0]
        raise ValueError(f"{name}: label {bad:g} is out of range for {n_classes} classes "
                         f"(valid: 0..{n_classes - 1})")
    return y.astype(np.int64)


def _targets(labels, n, k, dtype):
    """Validate ``labels`` and return them as an (N, K) target distribution of ``dtype``."""
    y = np.asarray(labels)
    if y.ndim == 1:
        if y.shape[0] != n:
            raise ValueError(f"labels has {y.shape[0]} entries but logits has {n} rows")
        y = check_labels(y, k, "class-index labels")
        onehot = np.zeros((n, k), dtype=dtype)
        onehot[np.arange(n), y] = 1
        return onehot
    if y.ndim == 2:
        if y.shape != (n, k):
            raise ValueError(f"one-hot/soft labels must have the logits' shape {(n, k)}, got {y.shape}")
        if not np.issubdtype(y.dtype, np.number) or y.dtype == bool:
            raise ValueError(f"one-hot/soft labels must be numeric, got dtype {y.dtype}")
        if np.any(y < 0) or not np.allclose(y.sum(axis=1), 1.0, atol=1e-5):
            raise ValueError("one-hot/soft labels must be non-negative and each row must sum to 1")
        return y.astype(dtype)
    raise ValueError(f"labels must be (N,) class indices or (N, K) one-hot/soft targets, got shape {y.shape}")


def smooth_labels(y, label_smoothing):
    """Label smoothing (Szegedy et al. 2016, "Rethinking the Inception Architecture"): mix the
    target rows ``y`` (N, K) with the uniform distribution,

        y' = (1 - eps) * y + eps / K

    so a one-hot row [0, 1, 0, 0] with eps = 0.1 becomes [0.025, 0.925, 0.025, 0.025]. The
    loss then stops rewarding ever larger logits for the labelled class: its minimum is at
    p = y', not at p = onehot, which keeps the model from growing over-confident (the same
    rule as Keras's ``label_smoothing`` and PyTorch's ``cross_entropy(label_smoothing=)``)."""
    eps = check_label_smoothing(label_smoothing)
    return y if eps == 0.0 else (1.0 - eps) * y + eps / y.shape[1]


def check_label_smoothing(label_smoothing):
    """``label_smoothing`` as a float in [0, 1), or a ValueError naming the bad value."""
    ok = isinstance(label_smoothing, numbers.Real) and not isinstance(label_smoothing, bool)
    if not (ok and 0.0 <= label_smoothing < 1.0):    # also refuses nan
        raise ValueError(f"label_smoothing must be a number in [0, 1), got {label_smoothing!r}")
    return float(label_smoothing)


def softmax_cross_entropy(logits, labels, label_smoothing=0.0):
    """Mean cross-entropy of softmax(logits) against ``labels``, and its gradient.

    logits: (N, K) float.  labels: (N,) ints in [0, K) or (N, K) rows of a distribution.
    label_smoothing: eps in [0, 1); the targets become (1 - eps) * y + eps / K (``smooth_labels``).
    Returns (loss, dlogits): loss a Python float, dlogits (N, K) in the logits' dtype.

        p = softmax(z)                       (per row)
        L = -(1/N) sum_n sum_k y_nk log p_nk

    Gradient, for one row (drop n): log p_k = z_k - logsumexp(z), and d logsumexp(z)/dz_j = p_j, so
        dL_row/dz_j = -sum_k y_k (delta_kj - p_j) = -y_j + p_j sum_k y_k = p_j - y_j
    (using sum_k y_k = 1). Averaging over the batch divides by N:

        dlogits = (softmax(z) - onehot(y)) / N

    The derivation only used that each row of y sums to 1, so smoothed targets y' change
    nothing but y: dlogits = (softmax(z) - y') / N.
    """
    z = np.asarray(logits)
    if z.ndim != 2 or not np.issubdtype(z.dtype, np.floating):
        raise ValueError(f"logits must be a float array of shape (N, K), got "
                         f"{'shape ' + str(z.shape) if z.ndim != 2 else 'dtype ' + str(z.dtype)}")
    n, k = z.shape
    if n == 0:
        raise ValueError("softmax_cross_entropy got an empty batch (logits shape (0, K))")
    y = smooth_labels(_targets(labels, n, k, z.dtype), label_smoothing)
    logp = log_softmax(z)                                 # N,K
    loss = -float(np.sum(y * logp, dtype=np.float64)) / n
    dlogits = (np.exp(logp) - y) / n                     # N,K  softmax(z) = exp(log_softmax(z))
    return loss, dlogits.astype(z.dtype, copy=False)
