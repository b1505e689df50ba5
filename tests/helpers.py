"""Shared test helpers (one module; test files import from here, never from each other).

``need(module)``: import an optional dependency or skip the test cleanly. In CI,
``MINICNN_REQUIRE_OPTIONAL=1`` (set by ``.ci/run``) turns the skip into a failure, so a test that
needs ``onnx``, ``optuna``, ``playwright`` or Chromium can never pass by not running.

``every_layer_models()``: small models holding every layer type, with random state (the export
tests run them through ONNX and PyTorch).
"""
import importlib
import os

import numpy as np
import pytest


def require_or_skip(what, hint):
    """Skip with ``hint``; fail instead when the environment says optional parts must be present."""
    if os.environ.get("MINICNN_REQUIRE_OPTIONAL") == "1":
        pytest.fail(f"MINICNN_REQUIRE_OPTIONAL=1 but {what} is missing ({hint})")
    pytest.skip(f"{what} is missing ({hint})")


def need(module, hint=None):
    """Import ``module`` and return it; skip (or, in CI, fail) when it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError:
        require_or_skip(f"the optional module {module!r}", hint or f"pip install {module}")


def every_layer_models(dtype=None, seed=0):
    """Two small models that between them hold every layer and container of minicnn.

    Per-sample input (2, 13, 11): odd, non-square, so a swapped H/W or pad would show.
    A: Conv2D (non-square kernel, stride and padding), BatchNorm2D, ReLU, MaxPool2D (padded,
       overlapping), ResidualBlock.basic with a projection shortcut, a ResidualBlock with an
       identity shortcut and no activation, Dropout, GlobalAvgPool2D, Flatten of (N, C), Dense.
    B: Conv2D without padding, MaxPool2D with a non-square kernel and stride, Flatten of
       (N, C, H, W), Dense, ReLU, Dropout, Dense.
    Every parameter and running statistic is random (fresh ones are 0 and 1, which would hide
    a swapped mean and variance or a missing bias).
    """
    import minicnn as mc
    dtype = np.float32 if dtype is None else dtype
    rng = np.random.default_rng(seed)
    a = mc.Sequential([
        mc.Conv2D(2, 6, (3, 5), stride=(2, 1), padding=(1, 2), dtype=dtype, rng=rng),   # (6, 7, 11)
        mc.BatchNorm2D(6, eps=1e-3, dtype=dtype), mc.ReLU(dtype=dtype),
        mc.MaxPool2D(3, stride=2, padding=1, dtype=dtype),                              # (6, 4, 6)
        mc.ResidualBlock.basic(6, 8, stride=2, dtype=dtype, rng=rng),                   # (8, 2, 3)
        mc.ResidualBlock(mc.Sequential([mc.Conv2D(8, 8, 3, padding=1, bias=False, dtype=dtype, rng=rng),
                                        mc.BatchNorm2D(8, dtype=dtype)])),
        mc.Dropout(0.3, dtype=dtype), mc.GlobalAvgPool2D(dtype=dtype),                  # (8,)
        mc.Flatten(dtype=dtype), mc.Dense(8, 5, dtype=dtype, rng=rng)], input_shape=(2, 13, 11))
    b = mc.Sequential([
        mc.Conv2D(2, 4, 3, dtype=dtype, rng=rng), mc.ReLU(dtype=dtype),                 # (4, 11, 9)
        mc.MaxPool2D((2, 3), stride=(1, 2), padding=1, dtype=dtype),                    # (4, 12, 5)
        mc.Flatten(dtype=dtype), mc.Dense(240, 16, dtype=dtype, rng=rng), mc.ReLU(dtype=dtype),
        mc.Dropout(0.5, dtype=dtype), mc.Dense(16, 3, dtype=dtype, rng=rng)], input_shape=(2, 13, 11))
    return [randomize_state(a, rng), randomize_state(b, rng)]


def randomize_state(model, rng):
    """Give every bias, BatchNorm gamma/beta and running statistic a random value, in place."""
    for key, value in {**model.params, **model.buffers}.items():
        name = key.rsplit(".", 1)[-1]
        if name in ("gamma", "running_var"):
            value[...] = rng.uniform(0.5, 1.5, value.shape)
        elif name in ("b", "beta", "running_mean"):
            value[...] = rng.normal(0.0, 0.2, value.shape)
    return model
