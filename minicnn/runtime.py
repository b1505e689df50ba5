"""What minicnn set up in this process, and a way to give its memory back. See docs/maintaining.md.

    >>> info = minicnn.runtime_info()
    >>> info["numba_threading_layer"], info["numba_threads"], info["conv_workspace_bytes"]
    ('workqueue', 2, 9437184)
    >>> minicnn.release_workspace()        # frees the convolution's scratch buffers
    9437184
"""
import os

import numba

from minicnn import _malloc, _threading, kernels
from minicnn.data.cache import default_cache_dir
from minicnn.kernels import conv_fast
from minicnn.kernels.workspace import release_workspace, workspace_nbytes
from minicnn.layers.base import LAYER_REGISTRY

#: Environment variables minicnn reads or sets: name -> what it does (docs/maintaining.md).
ENV_VARS = {
    "NUMBA_THREADING_LAYER": "set to 'workqueue' by minicnn unless you set it (minicnn._threading)",
    "OPENBLAS_THREAD_TIMEOUT": "set to 4 by minicnn unless you set it (idle BLAS threads sleep)",
    "NUMBA_NUM_THREADS": "read by Numba: threads of the parallel kernels and the conv workers",
    "OPENBLAS_NUM_THREADS": "read by OpenBLAS: threads of the matrix multiplies",
    "MINICNN_KERNELS": "the kernels every thread starts on: fast (default) or reference",
    "MINICNN_CACHE_DIR": "where decoded image folders are cached (minicnn.data.cache)",
    "XDG_CACHE_HOME": "the cache's parent folder when MINICNN_CACHE_DIR is not set",
    "MINICNN_DEBUG": "the minicnn command shows full tracebacks (like --debug)",
    "MINICNN_MALLOC": "'system': minicnn leaves glibc's malloc settings alone (minicnn._malloc)",
    "MALLOC_MMAP_THRESHOLD_": "read by glibc; if set, minicnn leaves malloc alone",
    "MALLOC_TRIM_THRESHOLD_": "read by glibc; if set, minicnn leaves malloc alone",
    "GLIBC_TUNABLES": "read by glibc; if set, minicnn leaves malloc alone",
}

__all__ = ["runtime_info", "release_workspace", "ENV_VARS"]


def _threading_layer():
    try:
        return numba.threading_layer()
    except ValueError:       # Numba picks its layer when the first parallel kernel runs
        return f"{numba.config.THREADING_LAYER} (requested; no parallel kernel has run yet)"


def _blas_info():
    try:
        from threadpoolctl import threadpool_info  # optional at run time, as in conv_fast
    except ImportError:
        return "threadpoolctl is not installed"
    keys = ("internal_api", "version", "num_threads", "threading_layer", "architecture", "filepath")
    return [{k: lib.get(k) for k in keys} for lib in threadpool_info()
            if lib.get("user_api") == "blas"]


def runtime_info():
    """A dict of the process-wide state minicnn keeps and the settings that applied.

    numba_threading_layer, numba_threads  Numba's parallel kernels
    conv_threads                          the convolution's worker threads (conv_fast.THREADS)
    kernels                               the kernel backend in force here (minicnn.kernels.use)
    blas                                  the BLAS libraries loaded (threadpoolctl), with threads
    environment                           ENV_VARS as this process sees them (None = unset)
    set_by_minicnn                        the variables minicnn set because you had not
    malloc                                glibc malloc settings minicnn made (minicnn._malloc), or why not
    conv_workspace_bytes                  scratch memory the convolutions keep between calls
    cache_dir                             where decoded image folders are cached
    layer_classes                         the names minicnn.load can rebuild (LAYER_REGISTRY)
    """
    return {"numba_threading_layer": _threading_layer(),
            "numba_threads": numba.get_num_threads(),
            "conv_threads": conv_fast.THREADS or numba.get_num_threads(),
            "kernels": kernels.backend(),
            "blas": _blas_info(),
            "environment": {name: os.environ.get(name) for name in ENV_VARS},
            "set_by_minicnn": dict(_threading.APPLIED),
            "malloc": _malloc.APPLIED if isinstance(_malloc.APPLIED, str) else dict(_malloc.APPLIED),
            "conv_workspace_bytes": workspace_nbytes(),
            "cache_dir": os.path.abspath(default_cache_dir()),
            "layer_classes": sorted(LAYER_REGISTRY)}
