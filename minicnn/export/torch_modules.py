"""PyTorch twins of minicnn's layers, and ``build(spec)``: a minicnn layer spec -> ``nn.Module``.

This file imports PyTorch and nothing of minicnn, for two reasons: minicnn imports it only inside
the functions that need PyTorch (``import minicnn`` never loads torch), and
``minicnn export --format torch`` copies it verbatim beside the weights, so an exported model
runs wherever PyTorch does, without minicnn.

    spec = {"class": "Sequential", "config": {"layers": [
        {"class": "Conv2D", "config": {"in_channels": 1, "out_channels": 8, "kernel_size": [3, 3],
                                       "stride": [1, 1], "padding": [1, 1], "bias": True}},
        {"class": "ReLU", "config": {}}, {"class": "GlobalAvgPool2D", "config": {}},
        {"class": "Dense", "config": {"in_features": 8, "out_features": 4}}]}}
    module = build(spec)      # nn.Sequential(Conv2d, ReLU, GlobalAvgPool2d, Linear)

Every minicnn layer maps to a stock ``torch.nn`` module except two, defined here: ``Residual``
(minicnn's ``ResidualBlock``) and ``GlobalAvgPool2d`` (mean over H and W, (N, C, H, W) -> (N, C)).
Child names follow minicnn's ("0", "1", ... and "main", "shortcut"), so a parameter called
``4.main.0.W`` in minicnn is ``4.main.0.weight`` here. ``Dense.W`` is (in, out) and
``nn.Linear.weight`` (out, in): the weights are transposed on the way, nothing else changes.
"""
import torch
from torch import nn


class Residual(nn.Module):
    """y = act(main(x) + shortcut(x)); shortcut None is the identity, act None or "relu"."""

    def __init__(self, main, shortcut=None, activation=None):
        super().__init__()
        self.main = main
        self.shortcut = shortcut
        self.activation = activation

    def forward(self, x):
        z = self.main(x) + (x if self.shortcut is None else self.shortcut(x))  # N,C,H,W
        return torch.relu(z) if self.activation == "relu" else z

    def extra_repr(self):
        return f"activation={self.activation!r}"


class GlobalAvgPool2d(nn.Module):
    """(N, C, H, W) -> (N, C): each channel's mean over its feature map."""

    def forward(self, x):
        return x.mean(dim=(2, 3))


def _pair(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v)


def _layer(cls, c):
    """One minicnn layer (class name, config) -> its torch.nn twin."""
    if cls == "Sequential":
        return nn.Sequential(*[build(s, dtype=None) for s in c["layers"]])
    if cls == "ResidualBlock":
        shortcut = None if c.get("shortcut") is None else build(c["shortcut"], dtype=None)
        return Residual(build(c["main"], dtype=None), shortcut, c.get("activation"))
    if cls == "Conv2D":
        return nn.Conv2d(c["in_channels"], c["out_channels"], _pair(c["kernel_size"]),
                         stride=_pair(c.get("stride", 1)), padding=_pair(c.get("padding", 0)),
                         bias=c.get("bias", True))
    if cls == "BatchNorm2D":
        return nn.BatchNorm2d(c["num_features"], eps=c.get("eps", 1e-5),
                              momentum=c.get("momentum", 0.1))
    if cls == "MaxPool2D":
        k = _pair(c["kernel_size"])
        return nn.MaxPool2d(k, stride=_pair(c.get("stride") or k), padding=_pair(c.get("padding", 0)))
    if cls == "Dense":
        return nn.Linear(c["in_features"], c["out_features"])
    if cls == "Dropout":
        return nn.Dropout(c.get("rate", 0.5))
    simple = {"ReLU": nn.ReLU, "Flatten": nn.Flatten, "GlobalAvgPool2D": GlobalAvgPool2d}
    if cls in simple:
        return simple[cls]()
    raise ValueError(f"no PyTorch twin for the minicnn layer {cls!r} (known: Sequential, "
                     f"ResidualBlock, Conv2D, BatchNorm2D, ReLU, Dropout, MaxPool2D, "
                     f"GlobalAvgPool2D, Flatten, Dense)")


def build(spec, dtype="auto"):
    """A freshly initialised ``nn.Module`` with the architecture of a minicnn layer spec.

    spec:  ``{"class": name, "config": {...}}``, as in a minicnn model file's header.
    dtype: "auto" = the spec's own dtype (float32 unless it says float64); None = leave it.
    """
    if not isinstance(spec, dict) or "class" not in spec:
        raise ValueError(f"a layer spec is a dict with 'class' and 'config', got {spec!r}")
    config = spec.get("config") or {}
    module = _layer(spec["class"], config)
    if dtype == "auto":
        module = module.to(torch.float64 if config.get("dtype") == "float64" else torch.float32)
    return module


def standardize(images, preprocessing):
    """uint8 images (N, C, H, W) -> float32 network input, as minicnn's ``Standardizer`` does.

    preprocessing: the checkpoint's ``preprocessing`` dict (mode "dataset" or "per_batch").
    """
    x = torch.as_tensor(images).to(torch.float32) / 255.0
    eps = preprocessing.get("eps", 1e-7)
    if preprocessing["mode"] == "per_batch":
        return (x - x.mean()) / (x.std(unbiased=False) + eps)
    mean = torch.tensor(preprocessing["mean"], dtype=torch.float64).to(torch.float32)
    std = torch.tensor(preprocessing["std"], dtype=torch.float64)
    std = (torch.where(std > 0, std, 1.0) + eps).to(torch.float32)   # constant channel: 1, as minicnn
    return (x - mean[None, :, None, None]) / std[None, :, None, None]   # 1,C,1,1 broadcasts
