"""Shared test helpers (one module; test files import from here, never from each other).

``need(module)``: import an optional dependency or skip the test cleanly. In CI,
``MINICNN_REQUIRE_OPTIONAL=1`` (set by ``.ci/run``) turns the skip into a failure, so a test that
needs ``onnx``, ``optuna``, ``playwright`` or Chromium can never pass by not running.
"""
import importlib
import os

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
