"""Keep freed memory for the next training step instead of handing it back to the OS (glibc).

A training step allocates the same large arrays every step: activations, their gradients, the
convolutions' scratch. glibc's malloc serves a large allocation (from 128 KB; the threshold
rises up to 32 MB as such blocks are freed) with a fresh ``mmap`` and unmaps it at ``free``, and
it trims the heap's free top back to the OS. The next step's array is then new memory again,
which the kernel maps and zeroes page by page on first touch: a "minor page fault" per 4 KB.
Measured on 2 cores (benchmarks/README.md, "Fourth round"): CNN5 at 150x150 took 17,000 faults
and 250 ms of system time per 1.09 s training step; with the settings below, no faults and
0.84 s. Mini-ResNet at 150x150: 268 -> 217 ms.

So ``import minicnn`` sets, through glibc's ``mallopt``:

    M_MMAP_THRESHOLD = 1 GiB      allocations below it come from the heap, reused once freed
    M_TRIM_THRESHOLD = 2 GiB - 1  the heap's free top goes back to the OS only above this

the same as ``MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=2147483647`` in the
environment. The cost: the process keeps its high-water mark of memory (the peak a training
step needs anyway) instead of shrinking between steps; peak memory itself does not grow.

They are only defaults, as in ``_threading``: if you set ``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_`` or ``GLIBC_TUNABLES`` yourself, or ``MINICNN_MALLOC=system``, malloc
is left alone. Where the C library is not glibc (macOS, Windows, musl) nothing happens.
``minicnn.runtime_info()["malloc"]`` shows what applied.
"""
import ctypes
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3          # glibc's malloc.h
SETTINGS = {"M_MMAP_THRESHOLD": 1 << 30, "M_TRIM_THRESHOLD": (1 << 31) - 1}
USER_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")

def _apply():
    if os.environ.get("MINICNN_MALLOC", "").lower() == "system":
        return "left alone (MINICNN_MALLOC=system)"
    user = [name for name in USER_VARS if name in os.environ]
    if user:
        return f"left alone ({', '.join(user)} set)"
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "left alone (not glibc)"
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return "left alone (no mallopt)"
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    codes = {"M_MMAP_THRESHOLD": M_MMAP_THRESHOLD, "M_TRIM_THRESHOLD": M_TRIM_THRESHOLD}
    done = {name: value for name, value in SETTINGS.items() if mallopt(codes[name], value) == 1}
    return done or "left alone (mallopt refused)"


#: what this process took: the SETTINGS, or why not (a string)
APPLIED = _apply()
