"""Thread settings for the 2-core laptop case, applied before NumPy/Numba load (import this first).

minicnn alternates Numba loops (im2col, transposes) with OpenBLAS matrix multiplies, and both
want every core. By default each keeps its worker threads spinning after it finishes, so the
other one runs on a busy CPU. Measured on 2 cores: conv forward+backward 2.4x faster with
    NUMBA_THREADING_LAYER=workqueue   Numba's own simple pool (no OpenMP spin-waiting)
    OPENBLAS_THREAD_TIMEOUT=4         OpenBLAS threads sleep after 2**4 idle cycles, not ~2**28
They are only defaults (``os.environ.setdefault``): a value you set yourself wins. The OpenBLAS
one acts only if this module runs before NumPy is first imported in the process.

A script that imports NumPy and Numba before minicnn would otherwise get Numba's OpenMP layer
(Numba reads the variable at import, and cached kernels never make it look again): BatchNorm's
parallel kernels then took ~15 ms instead of ~0.7 ms per step on a busy 2-core machine. So if
Numba is already loaded, its ``config.THREADING_LAYER`` is set too, which counts as long as no
parallel kernel has run yet.

Threads: the workqueue layer is not thread-safe (two Python threads inside Numba ``parallel=True``
kernels at once abort the whole process). So every call of a parallel kernel goes through
``minicnn.kernels.parallel.parallel_region()``, one process-wide lock: concurrent ``predict``/``forward`` calls from many
threads are safe and run their parallel kernels one at a time (each still uses every core), while
everything else (the convolution's own worker threads, BLAS, serial kernels) runs concurrently.
See docs/robustness.md for what is and is not thread-safe.
"""
import os
import sys

DEFAULTS = {"NUMBA_THREADING_LAYER": "workqueue", "OPENBLAS_THREAD_TIMEOUT": "4"}

_user_layer = "NUMBA_THREADING_LAYER" in os.environ
#: the DEFAULTS this process took (a variable the user had set is not in it); runtime_info shows it
APPLIED = {_name: _value for _name, _value in DEFAULTS.items() if _name not in os.environ}
for _name, _value in DEFAULTS.items():
    os.environ.setdefault(_name, _value)

if "numba" in sys.modules and not _user_layer:
    sys.modules["numba"].config.THREADING_LAYER = DEFAULTS["NUMBA_THREADING_LAYER"]
