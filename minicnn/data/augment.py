"""Training-time augmentation: random horizontal flips, small shifts and small rotations.

    aug = Augmenter(flip=True, max_shift=0.1, max_rotate=10, rng=0)
    xb = aug(xb)          # float32 (N, C, H, W) -> new float32 (N, C, H, W); xb is not modified

Off by default (the report trained without it); only the training loop applies it, to training
batches; validation, test and prediction never see it.

All three are one affine warp per image, done for the whole batch with NumPy (``warp_batch``).
For every output pixel (row i, column j) we find where it comes from in the input, with
(cy, cx) = ((H-1)/2, (W-1)/2) the image centre:

    u, v   = j - cx - tx,  i - cy - ty                 undo the shift (tx, ty) in pixels
    sx     = flip * (cos(a) * u - sin(a) * v) + cx     undo the rotation by a, then the flip
    sy     =         sin(a) * u + cos(a) * v  + cy

and read the input there with bilinear interpolation. Coordinates outside the image are clamped
to the nearest border pixel (MRI borders are background, so nothing new appears). A positive
angle turns the picture counter-clockwise as displayed (rows grow downwards).
"""
import numpy as np


def warp_batch(x, angle_deg, shift, flip):
    """x: float (N, C, H, W); angle_deg (N,); shift (N, 2) as (tx, ty) pixels; flip bool (N,).

    Returns a new array of x's dtype: each image flipped left-right (if flip), rotated by
    angle_deg about its centre, then shifted by (tx, ty). See the module docstring.
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


class Augmenter:
    """Random flip (probability 1/2), shift up to max_shift * size pixels along each axis, and
    rotation up to +-max_rotate degrees, drawn per image from ``rng`` (int seed or Generator)."""

    def __init__(self, flip=True, max_shift=0.1, max_rotate=10, rng=None):
        if not 0 <= max_shift < 0.5:
            raise ValueError(f"max_shift must lie in [0, 0.5), got {max_shift}")
        if not 0 <= max_rotate <= 180:
            raise ValueError(f"max_rotate must lie in [0, 180] degrees, got {max_rotate}")
        self.flip, self.max_shift, self.max_rotate = bool(flip), float(max_shift), float(max_rotate)
        self.rng = np.random.default_rng(rng)

    def __call__(self, x):
        x = np.asarray(x)
        if x.ndim != 4 or not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"expected a float batch (N, C, H, W), got {x.dtype} {x.shape}")
        n, _, h, w = x.shape
        flip = self.rng.random(n) < 0.5 if self.flip else np.zeros(n, bool)
        angle = self.rng.uniform(-self.max_rotate, self.max_rotate, n)
        shift = self.rng.uniform(-self.max_shift, self.max_shift, (n, 2)) * np.array([w, h])
        return warp_batch(x, angle, shift, flip)

    def get_config(self):
        return {"flip": self.flip, "max_shift": self.max_shift, "max_rotate": self.max_rotate}

    def __repr__(self):
        return (f"Augmenter(flip={self.flip}, max_shift={self.max_shift}, "
                f"max_rotate={self.max_rotate})")
