"""Shared test helpers.

Every test runs with ``MINICNN_CACHE_DIR`` pointing into pytest's temporary folder (the autouse
``_private_cache`` fixture), so no test reads or writes the user's real ``~/.cache/minicnn``;
subprocesses started by tests inherit it.

``torch`` fixture: PyTorch is the second oracle. Without it the parity tests skip cleanly,
except in CI, where MINICNN_REQUIRE_TORCH=1 turns a missing torch into a failure.
"""
import os

import numpy as np
import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINICNN_CACHE_DIR", str(tmp_path_factory.mktemp("minicnn-cache")))
        yield


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
