"""Matplotlib plumbing shared by the figure modules.

Figures are built with matplotlib's object API (``matplotlib.figure.Figure``), never pyplot:
nothing here changes the global backend or opens a window, so the functions work headless
(servers, CI) and leave a user's interactive session alone. matplotlib is imported inside the
functions, so ``import minicnn`` never pays for it.
"""
from pathlib import Path

import numpy as np

from minicnn.atomic import atomic_write

DPI = 100


def new_figure(width, height):
    """A Figure of ``width`` x ``height`` inches at ``DPI``, with constrained layout (no overlaps)."""
    from matplotlib.figure import Figure  # matplotlib loads on the first figure, not at import
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def save(fig, path):
    """Write ``fig`` as a PNG to ``path`` (parent folders created) and return the Path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=DPI)
    return path


def display_image(image):
    """An image ready for ``imshow``: (H, W) for one channel, (H, W, 3) for RGB, values in [0, 1].

    image: (C, H, W) or (H, W); uint8 (0..255) is scaled by 1/255, anything else is min-max
    scaled (so a standardised model input displays too).
    """
    img = np.asarray(image)
    if img.ndim == 3:
        img = img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0))  # C,H,W -> H,W,C
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    img = img.astype(np.float32)
    lo, hi = float(img.min()), float(img.max())
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def show_image(ax, image):
    """Draw a scan on ``ax`` (gray colormap for one channel) with the axes hidden."""
    img = display_image(image)
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])
