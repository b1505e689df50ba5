"""Mixup (Zhang, Cisse, Dauphin and Lopez-Paz 2018, "mixup: Beyond Empirical Risk Minimization").

Train on blends of two images, with the same blend of their labels:

    lam ~ Beta(alpha, alpha)                 one draw per batch, as the paper's own code does
    x' = lam * x + (1 - lam) * x[perm]       perm: a random pairing of the batch with itself
    y' = lam * y + (1 - lam) * y[perm]       y: one-hot rows

A small alpha (0.1 to 0.4) keeps most blends close to one of the two images; alpha = 1 makes
lam uniform on [0, 1]. The network is asked to change its answer linearly between training
images instead of jumping, which discourages memorising them (the paper: better accuracy and
calibration on CIFAR and ImageNet, and less memorisation of wrong labels).

The loss needs no new code. The cross-entropy -sum_k y_k log p_k is linear in the targets y, so

    CE(p, lam * y + (1 - lam) * y2) = lam * CE(p, y) + (1 - lam) * CE(p, y2)

and the same holds for its gradient (p - y') / N. ``mix_batch`` returns both label vectors and
lam; the training loop weighs two ordinary cross-entropies (``training/loop.py``).

lam is replaced by max(lam, 1 - lam): Beta(alpha, alpha) is symmetric and perm pairs the batch
at random, so the blends have the same distribution, and ``y`` is always the label that weighs
more. Training accuracy is counted against it.
"""
import math
import numbers

import numpy as np


def check_mixup(alpha):
    """``alpha`` as a positive finite float, None as None (no mixup), or a ValueError."""
    if alpha is None:
        return None
    ok = isinstance(alpha, numbers.Real) and not isinstance(alpha, bool)
    if not (ok and math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"mixup must be None or a Beta parameter alpha > 0 (e.g. 0.2), "
                         f"got {alpha!r}")
    return float(alpha)


def mix_batch(x, y, alpha, rng):
    """Blend the batch ``x`` (N, ...) with a shuffled copy of itself.

    Returns (x', y, y2, lam): x' = lam * x + (1 - lam) * x[perm] in x's dtype, y2 = y[perm] the
    labels of the blended-in images, lam in [0.5, 1] (a Python float). Train against
    lam * CE(y) + (1 - lam) * CE(y2).
    """
    alpha = check_mixup(alpha)
    lam = float(rng.beta(alpha, alpha))
    lam = max(lam, 1.0 - lam)
    perm = rng.permutation(len(x))
    mixed = (lam * x + (1.0 - lam) * x[perm]).astype(x.dtype, copy=False)
    return mixed, y, y[perm], lam
