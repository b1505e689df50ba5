"""Decode one image file into the uint8 (C, H, W) array the network sees.

Every loader (``load_folder``, the bundle builder, ``predict`` through ``load_image``) goes through
``load_image``, so a picture is converted identically at training and at prediction time:

1. JPEG only: ask the decoder for a reduced image (Pillow ``draft``: libjpeg scales by 1/2, 1/4 or
   1/8 inside the DCT, never below ``image_size``) and, for grayscale, for the luma channel.
2. Convert to 8 bits: 16-bit images (Pillow modes ``I;16*``, and ``I`` with values in 0..65535)
   are scaled by 255/65535; 32-bit integer and float images have no fixed range and are stretched
   from their own min..max to 0..255; an alpha channel is composited over black (MRI background);
   palette, CMYK, bilevel and other modes go through Pillow's ``convert``.
3. Colour: ``"grayscale"`` uses Pillow's ITU-R 601 luma ``L = 0.299 R + 0.587 G + 0.114 B``;
   ``"rgb"`` repeats a gray image on three channels.
4. Resize to ``image_size x image_size`` with Pillow ``BILINEAR`` (antialiased: when shrinking,
   Pillow widens the triangle filter to cover every source pixel). Non-square images are
   stretched, as Keras' ``image_dataset_from_directory`` does. EXIF orientation is ignored.
"""
import os

import numpy as np
from PIL import Image

from minicnn.data.dataset import check_color
from minicnn.kernels.shapes import positive_int

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".tif", ".tiff")
RESIZE_METHOD = "Pillow BILINEAR (antialiased), JPEG draft downscaling, non-square stretched"

_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I;16S")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def is_image_file(name):
    """True for names with an image extension that are not hidden (e.g. macOS '._x.jpg')."""
    base = os.path.basename(name)
    return not base.startswith(".") and os.path.splitext(base)[1].lower() in IMAGE_EXTENSIONS


def to_8bit(im):
    """Any Pillow image -> an 8-bit 'L' or 'RGB' image (see the module docstring, step 2)."""
    if im.mode in ("L", "RGB"):
        return im
    if im.mode in _SIXTEEN_BIT or im.mode in ("I", "F"):
        a = np.asarray(im).astype(np.float64)
        if im.mode != "F" and a.min() >= 0 and a.max() <= 65535:
            a = a * (255.0 / 65535.0)                    # full 16-bit range -> 0..255
        else:
            lo, hi = a.min(), a.max()
            a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
        return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")
    if im.mode in _ALPHA_MODES or (im.mode == "P" and "transparency" in im.info):
        rgba = np.asarray(im.convert("RGBA")).astype(np.float32)      # H,W,4
        rgb = rgba[..., :3] * (rgba[..., 3:] / 255.0)                  # over black
        return Image.fromarray(np.rint(rgb).astype(np.uint8), "RGB")
    return im.convert("RGB")


def load_image(path, image_size=64, color="grayscale"):
    """Read one image file -> uint8 (C, image_size, image_size), C = 1 (grayscale) or 3 (rgb).

    Raises OSError (or ValueError) if the file cannot be decoded.
    """
    check_color(color)
    image_size = positive_int(image_size, "image_size")
    mode = "L" if color == "grayscale" else "RGB"
    with Image.open(path) as im:
        if im.format == "JPEG":
            im.draft(mode, (image_size, image_size))   # decode at 1/2, 1/4 or 1/8 if still big enough
        im = to_8bit(im)
        if im.mode != mode:
            im = im.convert(mode)
        if im.size != (image_size, image_size):
            im = im.resize((image_size, image_size), Image.BILINEAR)
        a = np.asarray(im, dtype=np.uint8)
    if a.ndim == 2:
        return a[None].copy()                          # H,W -> 1,H,W
    return np.ascontiguousarray(a.transpose(2, 0, 1))  # H,W,3 -> 3,H,W

