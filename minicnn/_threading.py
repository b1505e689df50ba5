"""Thread settings for the 2-core laptop case, applied before NumPy/Numba load (import this first).

minicnn alternates Numba loops (im2col, transposes) with OpenBLAS matrix multiplies, and both
want every core. By default each keeps its worker threads spinning after it finishes, so the
other one runs on a busy CPU. Measured on 2 cores: conv forward+backward 2.4x faster with
    NUMBA_THREADING_LAYER=workqueue   Numba's own simple pool (no OpenMP spin-waiting)
    OPENBLAS_THREAD_TIMEOUT=4         OpenBLAS threads sleep after 2**4 idle cycles, not ~2**28
They are only defaults (``os.environ.setdefault``): a value you set yourself wins. They act only
if this module runs before NumPy and Numba are first imported in the process.
"""
import os

DEFAULTS = {"NUMBA_THREADING_LAYER": "workqueue", "OPENBLAS_THREAD_TIMEOUT": "4"}

for _name, _value in DEFAULTS.items():
    os.environ.setdefault(_name, _value)
