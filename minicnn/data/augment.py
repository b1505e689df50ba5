"""Training-time augmentation: random horizontal flips, shifts, rotations and zooms, and a
random contrast and brightness per image.

    aug = Augmenter(flip=True, max_shift=0.1, max_rotate=10, rng=0)
    xb = aug(xb)          # float32 (N, C, H, W) -> new float32 (N, C, H, W); xb is not modified

Off by default (the report trained without it); only the training loop applies it, to training
batches; validation, test and prediction never see it.

The geometric four are one affine warp per image, done for the whole batch with NumPy
(``warp_batch``). For every output pixel (row i, column j) we find where it comes from in the
input, with (cy, cx) = ((H-1)/2, (W-1)/2) the image centre:

    u, v   = (j - cx - tx) / s,  (i - cy - ty) / s     undo the shift (tx, ty), then the zoom s
    sx     = flip * (cos(a) * u - sin(a) * v) + cx     undo the rotation by a, then the flip
    sy     =         sin(a) * u + cos(a) * v  + cy

and read the input there with bilinear interpolation. Coordinates outside the image are clamped
to the nearest border pixel (MRI borders are background, so nothing new appears). A positive
angle turns the picture counter-clockwise as displayed (rows grow downwards); s > 1 enlarges it.

The intensity pair (``jitter_intensity``) imitates scanners and settings that differ: each image
is stretched about its own mean by a contrast factor c and moved by a brightness offset b,

    x' = mean + c * (x - mean) + b * std                (mean, std: the image's own, all channels)

so b is in units of the image's own spread and a constant image stays constant up to b.
"""
import numbers

import numpy as np

from minicnn.data.dataset import check_nchw


def warp_batch(x, angle_deg, shift, flip, zoom=None):
    """x: float (N, C, H, W); angle_deg (N,); shift (N, 2) as (tx, ty) pixels; flip bool (N,);
    zoom (N,) scale factors (None: all 1).

    Returns a new array of x's dtype: each image flipped left-right (if flip), rotated by
    angle_deg about its centre, scaled by zoom about its centre, then shifted by (tx, ty). See
    the module docstring.
    """
    n, c, h, w = x.shape
    f32 = np.float32
    a = np.deg2rad(np.asarray(angle_deg, dtype=np.float64))
    cos, sin = np.cos(a).astype(f32)[:, None, None], np.sin(a).astype(f32)[:, None, None]  # N,1,1
    shift = np.asarray(shift, dtype=f32)
    f = np.where(np.asarray(flip, dtype=bool), -1, 1).astype(f32)[:, None, None]         # N,1,1
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    u = (np.arange(w, dtype=f32) - cx)[None, None, :] - shift[:, 0, None, None]         # N,1,W
    v = (np.arange(h, dtype=f32) - cy)[None, :, None] - shift[:, 1, None, None]         # N,H,1
    if zoom is not None:
        inv = (1 / np.asarray(zoom, dtype=np.float64)).astype(f32)[:, None, None]        # N,1,1
        u, v = u * inv, v * inv
    sx = np.clip(f * (cos * u - sin * v) + f32(cx), 0, w - 1)                            # N,H,W
    sy = np.clip(sin * u + cos * v + f32(cy), 0, h - 1)
    x0 = sx.astype(np.int64)                                  # floor: coordinates are >= 0
    y0 = sy.astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    wx = (sx - x0).astype(x.dtype).reshape(n, 1, h * w)                                  # N,1,H*W
    wy = (sy - y0).astype(x.dtype).reshape(n, 1, h * w)
    flat = x.reshape(n * c, h * w)                                                       # N*C,H*W
    rows = np.arange(n * c).reshape(n, c, 1)                                             # N,C,1

    def gather(yy, xx):
        return flat[rows, (yy * w + xx).reshape(n, 1, h * w)]                            # N,C,H*W

    top = gather(y0, x0) * (1 - wx) + gather(y0, x1) * wx
    bottom = gather(y1, x0) * (1 - wx) + gather(y1, x1) * wx
    return (top * (1 - wy) + bottom * wy).reshape(n, c, h, w)                            # N,C,H,W


def jitter_intensity(x, contrast, brightness):
    """x: float (N, C, H, W); contrast, brightness (N,). Returns a new array of x's dtype,
    mean + contrast * (x - mean) + brightness * std per image (see the module docstring)."""
    n = len(x)
    flat = x.reshape(n, -1)
    mean = flat.mean(axis=1, keepdims=True)
    std = flat.std(axis=1, keepdims=True)
    c = np.asarray(contrast, dtype=x.dtype).reshape(n, 1)
    b = np.asarray(brightness, dtype=x.dtype).reshape(n, 1)
    return (mean + c * (flat - mean) + b * std).astype(x.dtype, copy=False).reshape(x.shape)


def check_rng(rng, name="rng"):
    """``rng`` as a Generator: None (fresh entropy), an int seed >= 0, or a Generator (used as
    is, not copied); anything else is a ValueError naming ``name``."""
    seed = isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_))
    if not (rng is None or isinstance(rng, np.random.Generator) or (seed and rng >= 0)):
        raise ValueError(f"{name} must be None, an int seed >= 0 or a numpy Generator "
                         f"(np.random.default_rng(seed)), got {rng!r}")
    return np.random.default_rng(rng)


class Augmenter:
    """Random flip (probability 1/2), shift up to max_shift * size pixels along each axis,
    rotation up to +-max_rotate degrees, zoom by a factor in [1 - max_zoom, 1 + max_zoom],
    contrast factor in [1 - max_contrast, 1 + max_contrast] and brightness offset in
    [-max_brightness, max_brightness] image standard deviations, drawn per image from ``rng``
    (int seed or Generator). Zoom, contrast and brightness are off by default; with them off
    the draws, and so the batches, are the same as before they existed."""

    def __init__(self, flip=True, max_shift=0.1, max_rotate=10, rng=None, max_zoom=0.0,
                 max_contrast=0.0, max_brightness=0.0):
        checks = (("max_shift", max_shift, 0, 0.5, False), ("max_rotate", max_rotate, 0, 180, True),
                  ("max_zoom", max_zoom, 0, 0.5, False), ("max_contrast", max_contrast, 0, 1, False),
                  ("max_brightness", max_brightness, 0, 1, True))
        for name, value, lo, hi, closed in checks:        # `not` also refuses nan and inf
            real = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
            if not (real and (lo <= value <= hi if closed else lo <= value < hi)):
                kind = "" if real else f" (a {type(value).__name__}, not a number)"
                raise ValueError(f"{name} must lie in [{lo}, {hi}{']' if closed else ')'}, "
                                 f"got {value!r}{kind}")
        self.flip, self.max_shift, self.max_rotate = bool(flip), float(max_shift), float(max_rotate)
        self.max_zoom, self.max_contrast = float(max_zoom), float(max_contrast)
        self.max_brightness = float(max_brightness)
        self.rng = check_rng(rng, "Augmenter rng")

    def __call__(self, x):
        x = np.asarray(x)
        if x.ndim != 4 or not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"expected a float batch (N, C, H, W), got {x.dtype} {x.shape}")
        check_nchw(x.shape, "Augmenter")
        n, _, h, w = x.shape
        flip = self.rng.random(n) < 0.5 if self.flip else np.zeros(n, bool)
        angle = self.rng.uniform(-self.max_rotate, self.max_rotate, n)
        shift = self.rng.uniform(-self.max_shift, self.max_shift, (n, 2)) * np.array([w, h])
        zoom = (self.rng.uniform(1 - self.max_zoom, 1 + self.max_zoom, n) if self.max_zoom
                else None)                         # drawn only when asked: old runs replay
        out = warp_batch(x, angle, shift, flip, zoom)
        if self.max_contrast or self.max_brightness:
            contrast = self.rng.uniform(1 - self.max_contrast, 1 + self.max_contrast, n)
            brightness = self.rng.uniform(-self.max_brightness, self.max_brightness, n)
            out = jitter_intensity(out, contrast, brightness)
        return out

    def get_config(self):
        return {"flip": self.flip, "max_shift": self.max_shift, "max_rotate": self.max_rotate,
                "max_zoom": self.max_zoom, "max_contrast": self.max_contrast,
                "max_brightness": self.max_brightness}

    def __repr__(self):
        return (f"Augmenter(flip={self.flip}, max_shift={self.max_shift}, "
                f"max_rotate={self.max_rotate})")
