"""What the thread-safety lock around Numba's parallel kernels costs (docs/robustness.md).

    python benchmarks/bench_parallel_lock.py            # ~20 s

minicnn runs every ``parallel=True`` kernel (BatchNorm forward/backward, max-pool backward and
large max-pool forwards) under one process-wide lock, ``minicnn.kernels.parallel``, because the
workqueue threading layer aborts the process when two threads enter it at once. This times the
compiled kernels called inside the lock, as the layers call them, against the same kernels called
bare, interleaved in one run, and prints the median of each and their ratio. One thread: the
lock is uncontended (with several threads it serialises the kernels, which is its purpose).
"""
import time

import minicnn  # noqa: F401  (sets the workqueue threading layer before NumPy and Numba load)
import numpy as np

from minicnn.kernels import norm_fast, pool_fast
from minicnn.kernels.parallel import parallel_region

REPS, CALLS = 7, 200


def cases():
    """name -> a call of a compiled parallel kernel (the same work as inside the layers)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 16, 32 * 32)).astype(np.float32)      # (N, C, H*W)
    y = np.empty_like(x)
    g, b = np.ones(16, np.float32), np.zeros(16, np.float32)
    m, v = np.empty(16), np.empty(16)
    xp = rng.standard_normal((32 * 16, 32 * 32)).astype(np.float32)   # (P, H*W)
    kernel = pool_fast._forward_kernel(2, 2, 2, 2, True)
    yp, arg = np.empty((32 * 16, 16, 16), np.float32), np.empty((32 * 16, 16, 16), np.int32)
    return {"batchnorm forward": lambda: norm_fast._forward_parallel(x, g, b, 1e-5, y, m, v),
            "maxpool forward": lambda: kernel(xp, 32, 32, 0, 0, yp, arg)}


def locked(f):
    def call():
        with parallel_region():
            f()
    return call


def main():
    for name, bare in cases().items():
        with_lock = locked(bare)
        with_lock(), bare()                                 # compile / warm up
        times = {"locked": [], "bare": []}
        for _ in range(REPS):
            for kind, f in (("locked", with_lock), ("bare", bare)):
                t0 = time.perf_counter()
                for _ in range(CALLS):
                    f()
                times[kind].append((time.perf_counter() - t0) / CALLS)
        lk, br = np.median(times["locked"]), np.median(times["bare"])
        print(f"{name:<18} with lock {lk * 1e6:8.1f} us   bare {br * 1e6:8.1f} us   "
              f"ratio {lk / br:.3f}")


if __name__ == "__main__":
    main()
