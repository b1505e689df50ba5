"""One process-wide lock around Numba ``parallel=True`` kernels, so threads can share a model.

Numba's workqueue threading layer (the one ``minicnn._threading`` picks, for its speed on 2 cores)
is not thread-safe: two Python threads inside parallel kernels at once abort the whole process
("Concurrent access has been detected"). Every call of a parallel kernel therefore holds this
lock; each call still uses every core, and everything else (the convolution's own worker threads,
BLAS, the serial kernels) runs concurrently. The cost of an uncontended lock is ~0.1 us per call.
"""
import contextlib
import threading

_PARALLEL_LOCK = threading.RLock()   # re-entrant: a locked region may call another one


def parallel_region(parallel=True):
    """``with parallel_region(): kernel(...)`` holds the lock while a ``parallel=True`` kernel runs.

    ``parallel_region(False)`` is a no-op context, for call sites that pick a serial kernel.
    """
    return _PARALLEL_LOCK if parallel else contextlib.nullcontext()
