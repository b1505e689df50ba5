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
   With ``crop=True``, the picture is first cut to the square around the head
   (``minicnn.data.crop``), and JPEG's draft keeps at least twice ``image_size``.

Hostile files: an image of more than MAX_PIXELS pixels (after JPEG's draft reduction) is
refused from its header, before decoding, so a small decompression bomb costs nothing; 16-bit
and float images are converted band by band (no full-size float64 copy), so one decode needs a
few bytes per input pixel at most; a float image with NaN or infinite pixels is refused (it
would otherwise stretch to an all-black picture). Each is a ValueError naming the file.
"""
import os

import numpy as np
from PIL import Image

from minicnn.data.crop import crop_to_head
from minicnn.data.dataset import check_color
from minicnn.kernels.shapes import positive_int

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".tif", ".tiff")
RESIZE_METHOD = "Pillow BILINEAR (antialiased), JPEG draft downscaling, non-square stretched"

MAX_PIXELS = 1 << 25     #: 33.5 M pixels (e.g. 5792 x 5792); MRI scans are well under 1 M
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I;16S")
_BAND = 256              #: rows converted at a time
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
        a = np.asarray(im)                                # H,W: uint16, int32 or float32
        if im.mode == "F" and not np.isfinite(a).all():
            raise ValueError("the image has NaN or infinite pixel values")
        lo, hi = float(a.min()), float(a.max())
        sixteen = im.mode != "F" and lo >= 0 and hi <= 65535
        out = np.empty(a.shape, dtype=np.uint8)
        for r in range(0, a.shape[0], _BAND):            # a band of rows at a time, in float64
            band = a[r:r + _BAND].astype(np.float64)
            if sixteen:
                band *= 255.0 / 65535.0                   # full 16-bit range -> 0..255
            elif hi > lo:
                band = (band - lo) * (255.0 / (hi - lo))  # stretch min..max -> 0..255
            else:
                band[...] = 0
            out[r:r + _BAND] = np.clip(np.rint(band), 0, 255)
        return Image.fromarray(out, "L")
    if im.mode in _ALPHA_MODES or (im.mode == "P" and "transparency" in im.info):
        rgba = np.asarray(im.convert("RGBA")).astype(np.float32)      # H,W,4
        rgb = rgba[..., :3] * (rgba[..., 3:] / 255.0)                  # over black
        return Image.fromarray(np.rint(rgb).astype(np.uint8), "RGB")
    return im.convert("RGB")


def load_image(path, image_size=64, color="grayscale", name=None, crop=False):
    """Read one image file -> uint8 (C, image_size, image_size), C = 1 (grayscale) or 3 (rgb).

    crop: cut the picture to the square around the head before resizing (``minicnn.data.crop``).

    path: a file path, or a binary file object (``io.BytesIO(data)``; ``name`` names it in errors).
    Raises ValueError naming the file if it cannot be decoded (FileNotFoundError if missing).
    """
    check_color(color)
    image_size = check_image_size(image_size)
    mode = "L" if color == "grayscale" else "RGB"
    if name is None:
        name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else "image"
    with open_image(path, mode, 2 * image_size if crop else image_size, name) as im:
        try:
            im = to_8bit(im)                            # decodes the pixels
            if im.mode != mode:
                im = im.convert(mode)
            if crop:
                im = crop_to_head(im)
            if im.size != (image_size, image_size):
                im = im.resize((image_size, image_size), Image.BILINEAR)
            a = np.asarray(im, dtype=np.uint8)
        except MemoryError:
            raise
        except Exception as e:  # a truncated or corrupt file: Pillow raises many kinds
            raise ValueError(f"{name}: cannot decode this image "
                             f"({type(e).__name__}: {e})") from None
    if a.ndim == 2:
        return a[None].copy()                          # H,W -> 1,H,W
    return np.ascontiguousarray(a.transpose(2, 0, 1))  # H,W,3 -> 3,H,W


def check_image_size(image_size):
    """``image_size`` as an int if it is >= 1 and its square at most MAX_PIXELS; else ValueError."""
    image_size = positive_int(image_size, "image_size")
    if image_size * image_size > MAX_PIXELS:
        raise ValueError(f"image_size {image_size} is too large: minicnn makes images of at most "
                         f"{MAX_PIXELS:,} pixels ({int(MAX_PIXELS ** 0.5)}x{int(MAX_PIXELS ** 0.5)})")
    return image_size


def open_image(file, mode=None, image_size=None, name=None):
    """``Image.open(file)`` refusing, before decoding, images larger than MAX_PIXELS.

    With ``mode`` and ``image_size``, a JPEG is first asked for a reduced decode (``draft``).
    ``file`` is a path or a file object (then ``name`` names it in errors).
    """
    name = name or os.fspath(file)
    if isinstance(file, (str, os.PathLike)) and not os.path.exists(file):
        raise FileNotFoundError(f"image {name} does not exist")
    try:
        im = Image.open(file)
    except Image.DecompressionBombError as e:
        raise ValueError(f"{name}: image too large to decode safely ({e})") from None
    except Exception as e:  # Pillow raises OSError, SyntaxError, struct.error... on bad files
        raise ValueError(f"{name}: cannot decode this image ({type(e).__name__}: {e})") from None
    if im.format == "JPEG" and mode is not None:
        im.draft(mode, (image_size, image_size))   # decode at 1/2, 1/4 or 1/8 if still big enough
    w, h = im.size
    if w * h > MAX_PIXELS:
        im.close()
        raise ValueError(f"{name}: image of {w}x{h} pixels is larger than minicnn decodes "
                         f"({MAX_PIXELS:,} pixels)")
    return im

