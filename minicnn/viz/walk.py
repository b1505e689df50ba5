"""Walk a model layer by layer, to look inside it (feature maps, Grad-CAM).

``flat_layers`` lists the units a model runs in order: the children of a Sequential, with nested
Sequentials opened up (names dotted, "3.1"); a ResidualBlock is one unit (its inside is not a
chain). ``conv_units`` groups them into what a reader calls "a conv layer": a Conv2D with the
BatchNorm2D/ReLU right after it, or a residual block.
"""
import numpy as np

from minicnn.containers import ResidualBlock, Sequential
from minicnn.layers import BatchNorm2D, Conv2D, ReLU, no_grad


def flat_layers(model, prefix=""):
    """[(name, layer)] in execution order; a model that is not a Sequential is one unit."""
    if not isinstance(model, Sequential):
        return [(prefix or type(model).__name__, model)]
    out = []
    for name, child in model.children():
        out += flat_layers(child, f"{prefix}{name}.") if isinstance(child, Sequential) \
            else [(prefix + name, child)]
    return out


def as_batch(x):
    """One image (C, H, W) -> (1, C, H, W); a batch passes through."""
    x = np.asarray(x)
    if x.ndim == 3:
        return x[None]                                      # 1,C,H,W
    if x.ndim != 4:
        raise ValueError(f"expected an image (C, H, W) or a batch (N, C, H, W), got shape {x.shape}")
    return x


def forward_trace(model, x):
    """Inference-mode forward, unit by unit: [(name, layer, output)] for input ``x``."""
    a = as_batch(x)
    trace = []
    with no_grad():                                         # no backward follows: keep no caches
        for name, layer in flat_layers(model):
            a = layer.forward(a, training=False)
            trace.append((name, layer, a))
    return trace


def conv_units(layers):
    """[(first, last)] index pairs into ``layers`` (from flat_layers), one per conv unit.

    A unit is a Conv2D followed by any BatchNorm2D / ReLU layers, or one ResidualBlock; its
    output (after ``last``) is what the feature-map figure shows and Grad-CAM differentiates.
    """
    units, i = [], 0
    while i < len(layers):
        layer = layers[i][1]
        if isinstance(layer, ResidualBlock):
            units.append((i, i))
        elif isinstance(layer, Conv2D):
            j = i
            while j + 1 < len(layers) and isinstance(layers[j + 1][1], (BatchNorm2D, ReLU)):
                j += 1
            units.append((i, j))
            i = j
        i += 1
    return units


def unit_label(layers, first, last):
    """'Conv2D-BatchNorm2D-ReLU' for a unit, or 'ResidualBlock'."""
    return "-".join(type(layer).__name__ for _, layer in layers[first:last + 1])
