"""Crop a scan to the head: the square around the bright part of the picture.

The Kaggle scans frame the head very differently (it fills under half of some pictures and all
of others, and how much it fills differs between classes, because the classes came from
different sources), so a network can learn the framing instead of the anatomy. ``crop_box``
finds the head and ``load_image(..., crop=True)`` cuts the picture to it before resizing, as the
"crop the brain contour" step of many Kaggle notebooks for this dataset does (there with OpenCV
contours; here with row and column profiles, in NumPy):

1. Shrink a grayscale copy to at most ``PROFILE_SIZE`` pixels a side (cheap, and it blurs JPEG
   noise away).
2. A pixel is bright if it exceeds ``THRESHOLD`` of the picture's 99th percentile (at least
   ``MIN_LEVEL`` grey levels); a row or column belongs to the head if at least ``MIN_FILL`` of
   its pixels are bright, so a stray letter or ruler mark in a corner does not count.
3. The box spans the first to the last such row and column, is grown to a square about its
   centre (the anatomy keeps its proportions) and kept inside the picture.

A picture with no such rows or columns (all dark, or all one level) is left whole.
"""
import numpy as np
from PIL import Image

PROFILE_SIZE = 128     #: the profiles are taken on a copy at most this many pixels a side
THRESHOLD = 0.15       #: bright: above this fraction of the 99th percentile
MIN_LEVEL = 16         #: ... and above this grey level (JPEG noise on black stays below)
MIN_FILL = 0.04        #: a row/column is head if this fraction of its pixels are bright


def _span(fill):
    """First and last index (inclusive) where ``fill`` >= MIN_FILL, or None."""
    idx = np.flatnonzero(fill >= MIN_FILL)
    return (idx[0], idx[-1]) if idx.size else None


def crop_box(im):
    """(left, top, right, bottom) of the head's square in Pillow image ``im``, or None."""
    w, h = im.size
    small = im.convert("L")
    small.thumbnail((PROFILE_SIZE, PROFILE_SIZE), Image.BILINEAR)
    a = np.asarray(small, dtype=np.float32)
    level = max(MIN_LEVEL, THRESHOLD * float(np.percentile(a, 99)))
    bright = a > level
    rows, cols = _span(bright.mean(axis=1)), _span(bright.mean(axis=0))
    if rows is None or cols is None:
        return None
    sy, sx = h / a.shape[0], w / a.shape[1]            # back to full-size pixels
    top, bottom = rows[0] * sy, (rows[1] + 1) * sy
    left, right = cols[0] * sx, (cols[1] + 1) * sx
    side = min(max(bottom - top, right - left), w, h)  # grow to a square that fits
    cx, cy = (left + right) / 2, (top + bottom) / 2
    x0 = min(max(cx - side / 2, 0), w - side)
    y0 = min(max(cy - side / 2, 0), h - side)
    box = tuple(int(round(v)) for v in (x0, y0, x0 + side, y0 + side))
    return box if box[2] > box[0] and box[3] > box[1] else None


def crop_to_head(im):
    """``im`` cut to ``crop_box(im)`` (unchanged when there is no box)."""
    box = crop_box(im)
    return im if box is None or box == (0, 0) + im.size else im.crop(box)
