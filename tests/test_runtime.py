"""``minicnn.runtime_info()`` tells what applied; ``minicnn.release_workspace()`` gives memory back.

Proves: the info names the threading layer, thread counts, the BLAS libraries, the environment
variables minicnn reads or sets (every one that the source reads is listed in ENV_VARS), the conv
workspace size and the cache folder; a convolution leaves its scratch memory in the workspace,
release_workspace frees it, and the next convolution gives the same numbers. On glibc,
``import minicnn`` keeps freed memory for the next allocation (no page faults for an array
allocated again), and leaves malloc alone when asked to.
"""
import json
import os
import pathlib
import platform
import re
import subprocess
import sys

import numpy as np

import minicnn as mc
from minicnn.runtime import ENV_VARS

PACKAGE = pathlib.Path(mc.__file__).parent


def test_runtime_info_reports_what_applied(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path))
    info = mc.runtime_info()
    assert info["numba_threads"] >= 1 and info["conv_threads"] >= 1
    assert info["kernels"] in ("fast", "reference")
    assert info["numba_threading_layer"].split()[0] in ("workqueue", "omp", "tbb")
    assert isinstance(info["blas"], list) and all("num_threads" in lib for lib in info["blas"])
    assert info["cache_dir"] == str(tmp_path)
    assert info["environment"]["MINICNN_CACHE_DIR"] == str(tmp_path)
    assert set(info["set_by_minicnn"]) <= {"NUMBA_THREADING_LAYER", "OPENBLAS_THREAD_TIMEOUT"}
    assert {"Conv2D", "Dense", "Sequential", "ResidualBlock"} <= set(info["layer_classes"])


def test_every_environment_variable_the_code_reads_is_documented():
    pattern = re.compile(r"""environ(?:\.get|\.setdefault)?[\[(]\s*["']([A-Z0-9_]+)["']"""
                         r"""|["']([A-Z0-9_]+)["']\s+(?:not\s+)?in\s+os\.environ""")
    found = {a or b for p in PACKAGE.rglob("*.py")
             for a, b in pattern.findall(p.read_text(encoding="utf-8"))}
    found |= set(mc._threading.DEFAULTS)
    assert "MINICNN_CACHE_DIR" in found and "MINICNN_DEBUG" in found    # the scan works
    assert found <= set(ENV_VARS), f"add to runtime.ENV_VARS and docs: {found - set(ENV_VARS)}"
    docs = (PACKAGE.parent / "docs" / "maintaining.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in docs for name in ENV_VARS)


def test_release_workspace_frees_the_conv_scratch_memory():
    rng = np.random.default_rng(0)
    conv = mc.Conv2D(3, 8, 3, padding=1, rng=rng)
    x = rng.standard_normal((4, 3, 32, 32)).astype(np.float32)
    before = conv.forward(x)
    assert mc.runtime_info()["conv_workspace_bytes"] > 0
    freed = mc.release_workspace()
    assert freed > 0 and mc.runtime_info()["conv_workspace_bytes"] == 0
    np.testing.assert_array_equal(conv.forward(x), before)
    assert mc.runtime_info()["conv_workspace_bytes"] > 0


GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# allocate, fill and free a 64 MB array five times; print the page faults of the last four
# (transparent huge pages off for this process: a fault per 4 KB page, whatever the machine's THP)
_FAULTS = """
import ctypes, json, resource, sys
ctypes.CDLL(None).prctl(41, 1, 0, 0, 0)      # PR_SET_THP_DISABLE
import minicnn, numpy as np
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
np.ones(16 << 20, np.float32)
start = faults()
for _ in range(4):
    np.ones(16 << 20, np.float32)
print(json.dumps({"faults": faults() - start, "malloc": minicnn.runtime_info()["malloc"]}))
"""


def _faults(**env):
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                                            "GLIBC_TUNABLES", "MINICNN_MALLOC")} | env
    out = subprocess.run([sys.executable, "-c", _FAULTS], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_freed_memory_is_reused_without_page_faults_and_can_be_left_alone():
    if not GLIBC:
        assert isinstance(mc.runtime_info()["malloc"], str)   # nothing set: it says why
        return
    kept = _faults()
    assert kept["malloc"] == {"M_MMAP_THRESHOLD": 1 << 30, "M_TRIM_THRESHOLD": (1 << 31) - 1}
    system = _faults(MINICNN_MALLOC="system")
    assert system["malloc"] == "left alone (MINICNN_MALLOC=system)"
    yours = _faults(MALLOC_TRIM_THRESHOLD_="131072")
    assert yours["malloc"] == "left alone (MALLOC_TRIM_THRESHOLD_ set)"
    # 4 x 64 MB freshly mapped = 4 x 16,384 pages of 4 KB when malloc hands the memory back at
    # free; kept, the same 64 MB is reused: next to no faults
    assert kept["faults"] < 100
    assert system["faults"] > 4 * 16_000 and yours["faults"] > 4 * 16_000
