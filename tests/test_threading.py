"""minicnn._threading: Numba's threading layer defaults to workqueue whatever the import order.

Proves: a script that imports NumPy and Numba *before* minicnn still gets the workqueue layer
(with Numba's OpenMP layer the BatchNorm kernels spin and ran ~5x slower on 2 cores), and a
layer the user chose with NUMBA_THREADING_LAYER is left alone. Each case runs in a fresh
interpreter, since the setting is decided once per process.
"""
import os
import subprocess
import sys

import pytest

SCRIPT = "import numpy, numba; import minicnn; print(numba.config.THREADING_LAYER)"


@pytest.mark.parametrize("user_value, expected", [(None, "workqueue"), ("omp", "omp")])
def test_threading_layer_when_numba_is_imported_first(user_value, expected):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    if user_value is not None:
        env["NUMBA_THREADING_LAYER"] = user_value
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == expected
