"""Feature maps: what each conv layer (or residual block) outputs for one image.

One band per conv unit (see ``walk.conv_units``), showing the first ``max_channels`` channels
as small images, each scaled to its own min..max (viridis: dark = low, yellow = high).
"""
import math

import numpy as np

from minicnn.kernels.shapes import whole
from minicnn.viz._checks import display_batch
from minicnn.viz._plot import new_figure, save, show_image
from minicnn.viz.walk import conv_units, forward_trace, unit_label


def one_image(x, name="x"):
    """``x`` as one image (C, H, W): a batch of one (1, C, H, W) is unwrapped, more are refused."""
    x = np.asarray(x)
    if x.ndim == 4 and len(x) == 1:
        return x[0]                                         # C,H,W
    if x.ndim == 4:
        raise ValueError(f"feature maps show one image: give {name} as (C, H, W) or a batch of "
                         f"one (1, C, H, W), got a batch of {len(x)} {x.shape} (e.g. {name}[0])")
    if x.ndim != 3:
        raise ValueError(f"{name} must be one image (C, H, W), got shape {x.shape}")
    return x


def feature_maps(model, x):
    """[(title, activation (C, h, w))] after each conv unit, for one model input x (C, H, W)
    (or a batch of one, (1, C, H, W))."""
    trace = forward_trace(model, one_image(x))
    layers = [(name, layer) for name, layer, _ in trace]
    out = []
    for first, last in conv_units(layers):
        act = trace[last][2][0]                             # C,h,w (the batch's one image)
        names = f"layer {layers[first][0]}" if first == last else \
            f"layers {layers[first][0]}-{layers[last][0]}"
        out.append((f"{names}: {unit_label(layers, first, last)}", act))
    if not out:
        raise ValueError("the model has no Conv2D or ResidualBlock: no feature maps to show")
    return out


def plot_feature_maps(model, x, path, image=None, max_channels=16, columns=8,
                      title="Feature maps"):
    """One band per conv unit, titled with the layers and the activation shape. Returns the Path.

    x:     the model input for one image, (C, H, W) or (1, C, H, W), preprocessed as in training.
    image: the same scan for display (uint8 (C, H, W), C = 1 or 3); default: x itself.
    max_channels, columns: ints >= 1, the channels shown per band and the tiles per row.
    """
    x = one_image(x)
    image = x if image is None else one_image(image, "image")
    display_batch(image[None], 1, "image" if image is not x else "x (shown when image is None)")
    max_channels = whole(max_channels, "max_channels", 1)
    columns = min(whole(columns, "columns", 1), max_channels)
    maps = feature_maps(model, x)
    rows = [math.ceil(min(a.shape[0], max_channels) / columns) for _, a in maps]
    tile = 10.0 / columns
    heights = [2.2] + [r * tile + 0.45 for r in rows]
    fig = new_figure(10, sum(heights) + 0.4)
    fig.suptitle(title, fontsize=13)
    bands = fig.subfigures(len(heights), 1, height_ratios=heights)
    ax = bands[0].subplots()
    show_image(ax, image)
    c, h, w = x.shape
    ax.set_title(f"input: {c}×{h}×{w}", fontsize=10)
    for band, (label, act), nrows in zip(bands[1:], maps, rows):
        shown = min(act.shape[0], max_channels)
        band.suptitle(f"{label} → {act.shape[0]}×{act.shape[1]}×{act.shape[2]}"
                      f"   (channels 0–{shown - 1} of {act.shape[0]})", fontsize=10)
        axes = np.atleast_1d(band.subplots(nrows, columns)).ravel()
        for k, ax in enumerate(axes):
            ax.set_xticks([])
            ax.set_yticks([])
            if k >= shown:
                ax.set_axis_off()
                continue
            ax.imshow(act[k], cmap="viridis")               # imshow scales each map to its range
            ax.text(0.03, 0.97, str(k), transform=ax.transAxes, ha="left", va="top",
                    fontsize=7, color="white")
    return save(fig, path)

