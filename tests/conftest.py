"""Shared test helpers.

``torch`` fixture: PyTorch is the second oracle. Without it the parity tests skip cleanly,
except in CI, where MINICNN_REQUIRE_TORCH=1 turns a missing torch into a failure.
"""
import os

import numpy as np
import pytest


@pytest.fixture(scope="session")
def torch():
    try:
        import torch as _torch
    except ImportError:
        if os.environ.get("MINICNN_REQUIRE_TORCH") == "1":
            pytest.fail("MINICNN_REQUIRE_TORCH=1 but torch is not importable "
                        "(install it with: pip install torch==2.13.0)")
        pytest.skip("PyTorch not installed (pip install torch==2.13.0 to run parity tests)")
    _torch.set_num_threads(1)
    return _torch


@pytest.fixture
def rng():
    return np.random.default_rng(0)
