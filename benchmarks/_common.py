"""Small helpers shared by the benchmark scripts: timing, GEMM throughput, thread/BLAS report, tables.

    from _common import best_time, gemm_gflops, runtime_info, set_threads, print_table, write_json

Timings are the minimum over repetitions (the least-disturbed run) after a warm-up call.
"""
import json
import os
import platform
import time

import numpy as np


#: the clock best_time reads: wall time, or (``use_cpu_clock()``) this process's CPU time, which
#: on a machine shared with other work counts only the cycles this process got (use 1 thread:
#: with more, idle threads spinning for work would be counted too)
CLOCK = {"name": "wall", "fn": time.perf_counter}


def use_cpu_clock():
    """Time with the process's CPU time (``time.process_time``) from now on."""
    CLOCK.update(name="cpu", fn=time.process_time)


def best_time(fn, reps=5, warmup=1, min_total=0.0):
    """Minimum time of ``fn()`` in seconds over ``reps`` calls (after ``warmup`` calls), by CLOCK.

    With ``min_total`` > 0, keeps repeating until that many seconds were spent in total.
    """
    clock = CLOCK["fn"]
    for _ in range(warmup):
        fn()
    best, spent, n = float("inf"), 0.0, 0
    while n < reps or spent < min_total:
        t = clock()
        fn()
        dt = clock() - t
        best, spent, n = min(best, dt), spent + dt, n + 1
    return best


def paired_best(fns, reps=5, block=3, warmup=1):
    """Minimum time of each of ``fns`` in seconds, by CLOCK, timed in turns: ``block`` calls of
    each in turn, ``reps`` times over. Where the machine's speed drifts (a shared VM), timing one
    function, then the other, compares two different machines; in turns they see the same.
    Blocks, not single calls: PyTorch's OpenMP threads spin-wait after each call, so the call
    that follows one of PyTorch's runs on a busy core (a 64->64 @16 convolution 2x slower;
    ``OMP_WAIT_POLICY=PASSIVE`` removes that and slows PyTorch instead); the later calls of a
    block, and so the minimum, do not see it."""
    clock = CLOCK["fn"]
    for fn in fns:
        for _ in range(warmup):
            fn()
    best = [float("inf")] * len(fns)
    for _ in range(reps):
        for i, fn in enumerate(fns):
            for _ in range(block):
                t = clock()
                fn()
                best[i] = min(best[i], clock() - t)
    return best


def gemm_gflops(M=4096, K=1024, N=256, dtype=np.float32, reps=5):
    """Throughput in GFLOP/s of one (M, K) @ (K, N) matrix multiply through NumPy's BLAS.

    The default shape is conv-like (many output positions, a few hundred channels): the rate a
    convolution that is all GEMM could reach on this machine, right now.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    out = np.empty((M, N), dtype)
    return 2.0 * M * K * N / best_time(lambda: np.dot(a, b, out=out), reps) / 1e9


def set_threads(n):
    """Use ``n`` threads in BLAS (threadpoolctl), Numba and PyTorch (if imported); returns the limiter."""
    from threadpoolctl import threadpool_limits
    limiter = threadpool_limits(limits=n)
    try:
        import numba
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass
    import sys
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    return limiter


def cpu_name():
    """The CPU's model name (/proc/cpuinfo), or platform.processor() elsewhere."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


def load_average():
    """The 1-minute load average (other processes on a shared machine), or None."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def runtime_info():
    """BLAS library/kernel/threads (threadpoolctl), Numba threading, relevant env vars, CPU."""
    from threadpoolctl import threadpool_info
    info = {"python": platform.python_version(), "numpy": np.__version__, "cpu": cpu_name(),
            "cpu_count": os.cpu_count(), "machine": platform.machine(),
            "blas": [{k: p.get(k) for k in ("internal_api", "version", "architecture",
                                             "num_threads", "threading_layer", "filepath")}
                     for p in threadpool_info()],
            "env": {k: v for k, v in os.environ.items()
                    if k.startswith(("OPENBLAS", "OMP_", "MKL_", "NUMBA_"))}}
    try:
        import numba
        info["numba"] = numba.__version__
        info["numba_threads"] = numba.get_num_threads()
        try:
            info["numba_threading_layer"] = numba.threading_layer()
        except ValueError:                     # no parallel kernel has run yet
            info["numba_threading_layer"] = numba.config.THREADING_LAYER
    except ImportError:
        pass
    return info


def describe(info):
    """One line summarising ``runtime_info()`` for the top of a printed report."""
    blas = ", ".join(f"{b['internal_api']} {b['version']} {b['architecture']} x{b['num_threads']}"
                     for b in info["blas"])
    env = " ".join(f"{k}={v}" for k, v in sorted(info["env"].items()))
    return (f"{info.get('cpu')}, {info['cpu_count']} CPUs | BLAS: {blas} | numba {info.get('numba')} "
            f"x{info.get('numba_threads')} ({info.get('numba_threading_layer')}) | {env or 'no env overrides'}")


def print_table(rows, columns, floatfmt="{:.2f}"):
    """Print a list of dicts as an aligned text table; ``columns`` picks and orders the keys."""
    if not rows:
        print("(no rows)")
        return
    def fmt(v):
        if v is None:
            return "-"
        if isinstance(v, float) and 0 < abs(v) < 0.01:
            return f"{v:.1e}"                  # errors and the like
        return floatfmt.format(v) if isinstance(v, float) else str(v)
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths)))


def write_json(path, payload):
    """Write ``payload`` (dicts/lists/numbers/strings) to ``path`` as indented JSON."""
    with open(path, "w") as f:
        json.dump(payload, f, indent=2, default=float)
        f.write("\n")
