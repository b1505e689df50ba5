"""Standardizer: uint8 images -> float32 network input, stored with the model.

Both modes first scale to [0, 1]: ``x = images / 255``. Then

- ``"per_batch"`` (what the report did): every batch is zero-centred and divided by its own
  standard deviation, one scalar each: ``(x - x.mean()) / (x.std() + eps)``. Nothing is fitted.
  A prediction then depends on what else is in the batch (a single image uses its own stats).
  A constant batch (every pixel alike) has no spread to divide by: it becomes all zeros.
- ``"dataset"``: ``fit`` computes a mean and std per channel over the training split only
  (over N, H, W; float64 sums), and ``transform`` applies those same numbers to every batch
  afterwards: validation, test, and one image at prediction time.
  ``(x[:, c] - mean[c]) / (std[c] + eps)``. A channel that is constant over the training
  images has std 0 and is divided by 1 + eps instead (scikit-learn's StandardScaler does the
  same), so it maps to 0 rather than to (x - mean) / eps, 10^7 times the pixel difference.

``to_dict()`` is plain JSON (mode, mean, std, eps), so the checkpoint's metadata carries exactly
the preprocessing the model was trained with; ``Standardizer.from_dict`` restores it.
"""
import numbers

import numpy as np

from minicnn.data.dataset import check_nchw

MODES = ("dataset", "per_batch")


def _check_images(images):
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"expected uint8 images (N, C, H, W), got {images.dtype} {images.shape}")
    check_nchw(images.shape)
    return images


class Standardizer:
    """Standardizer(mode="dataset"|"per_batch", eps=1e-7). See the module docstring."""

    def __init__(self, mode="dataset", eps=1e-7):
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
        real = isinstance(eps, numbers.Real) and not isinstance(eps, (bool, np.bool_))
        if not (real and 0 <= eps < np.inf):                  # `not` also refuses nan
            raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
        self.mode = mode
        self.eps = float(eps)
        self.mean = None   # float64 (C,) after fit, dataset mode only
        self.std = None

    def fit(self, images, chunk=512):
        """images: uint8 (N, C, H, W), the training split. Returns self. No-op for per_batch."""
        images = _check_images(images)
        if self.mode == "per_batch":
            return self
        if len(images) == 0:
            raise ValueError("cannot fit a Standardizer on zero images")
        c = images.shape[1]
        s1, s2 = np.zeros(c), np.zeros(c)
        lo, hi = np.full(c, 255), np.zeros(c, dtype=int)
        for i in range(0, len(images), chunk):               # chunks keep float64 copies small
            lo = np.minimum(lo, images[i:i + chunk].min(axis=(0, 2, 3)))
            hi = np.maximum(hi, images[i:i + chunk].max(axis=(0, 2, 3)))
            x = images[i:i + chunk].astype(np.float64) / 255.0
            s1 += x.sum(axis=(0, 2, 3))
            s2 += (x * x).sum(axis=(0, 2, 3))
        count = images.shape[0] * images.shape[2] * images.shape[3]
        self.mean = s1 / count
        std = np.sqrt(np.maximum(s2 / count - self.mean ** 2, 0.0))
        self.std = np.where(lo == hi, 0.0, std)   # a constant channel: exactly 0, not roundoff
        return self

    @property
    def fitted(self):
        return self.mode == "per_batch" or self.mean is not None

    def transform(self, images):
        """uint8 (N, C, H, W) -> float32 (N, C, H, W), standardised."""
        images = _check_images(images)
        x = images.astype(np.float32) / np.float32(255.0)
        if self.mode == "per_batch":
            if images.size and images.min() == images.max():
                return np.zeros_like(x)                       # constant: nothing to scale
            return (x - x.mean()) / np.float32(x.std() + self.eps)
        if self.mean is None:
            raise ValueError("Standardizer(mode='dataset') must be fit on the training images "
                             "before transform")
        if images.shape[1] != len(self.mean):
            raise ValueError(f"fitted on {len(self.mean)} channel(s), got images with "
                             f"{images.shape[1]}")
        mean = self.mean.astype(np.float32)[None, :, None, None]              # 1,C,1,1
        scale = np.where(self.std > 0, self.std, 1.0)        # constant channel: divide by 1
        std = (scale + self.eps).astype(np.float32)[None, :, None, None]      # 1,C,1,1
        return (x - mean) / std

    __call__ = transform

    def to_dict(self):
        return {"mode": self.mode, "eps": self.eps,
                "mean": None if self.mean is None else [float(v) for v in self.mean],
                "std": None if self.std is None else [float(v) for v in self.std]}

    @classmethod
    def from_dict(cls, d):
        s = cls(d["mode"], d.get("eps", 1e-7))
        if d.get("mean") is not None:
            s.mean = np.asarray(d["mean"], dtype=np.float64)
            s.std = np.asarray(d["std"], dtype=np.float64)
        return s

    def __repr__(self):
        if self.mode == "dataset" and self.mean is not None:
            return (f"Standardizer('dataset', mean={np.round(self.mean, 4).tolist()}, "
                    f"std={np.round(self.std, 4).tolist()})")
        return f"Standardizer({self.mode!r})"
