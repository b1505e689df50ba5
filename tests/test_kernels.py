"""The readable kernels run: ``minicnn.kernels.use("reference")`` trains a model with the same answers.

Proves: every kernel family's reference and fast modules have the same functions with the same
signatures; the switch works as a block, as a call and from ``$MINICNN_KERNELS``, refuses an
unknown name, and is per thread (a new thread starts at the default); a model with every kind of
layer (convolutions by Winograd and by im2col, batch norm, max pooling, a residual block, dropout) trained for a few Adam
steps gives the same losses on both backends (float64: to 1e-9; float32: to 1e-4); and
``examples/quickstart.py`` (train, evaluate, save, load) prints the same on both.
(Layer by layer, ``tests/test_contract.py`` runs every check on both backends.)
"""
import inspect
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import minicnn as mc
from helpers import run_command
from minicnn import kernels


def public_functions(module):
    return {name: f for name, f in vars(module).items()
            if inspect.isfunction(f) and not name.startswith("_") and f.__module__ == module.__name__}


@pytest.mark.parametrize("family", sorted(kernels.FAMILIES))
def test_twins_have_the_same_interface(family):
    fast, ref = (public_functions(kernels.FAMILIES[family][b]) for b in ("fast", "reference"))
    shared = set(fast) & set(ref)
    assert len(shared) >= 2, f"{family}: the twins share no forward/backward functions"
    for name in shared:
        assert inspect.signature(fast[name]) == inspect.signature(ref[name]), f"{family}.{name}"


def test_switch_as_block_call_and_per_thread():
    assert kernels.backend() == "fast"
    with kernels.use("reference"):
        assert kernels.backend() == "reference" and kernels.get("conv") is kernels.FAMILIES["conv"]["reference"]
        seen = []
        worker = threading.Thread(target=lambda: seen.append(kernels.backend()))
        worker.start()
        worker.join()
        assert seen == ["fast"]                              # a new thread starts at the default
    assert kernels.backend() == "fast"
    try:
        kernels.use("reference")                             # as a call: from here on
        assert kernels.get("pool") is kernels.FAMILIES["pool"]["reference"]
    finally:
        kernels.use("fast")
    with pytest.raises(ValueError, match="one of fast, reference, got 'numpy'"):
        kernels.use("numpy")


def test_environment_variable_sets_the_default():
    code = "import minicnn; print(minicnn.kernels.backend())"
    env = dict(os.environ, MINICNN_KERNELS="reference")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "reference"


def train_losses(dtype, steps=4):
    """A few Adam steps of a small model with every layer kind; the losses, one per step.
    (No conv bias before batch norm: its true gradient is 0, and Adam would turn the rounding
    noise of that 0, different on each backend, into full-size steps.)"""
    rng = np.random.default_rng(0)
    model = mc.Sequential([
        mc.Conv2D(1, 4, 3, padding=1, bias=False, algorithm="winograd", dtype=dtype, rng=1), mc.BatchNorm2D(4, dtype=dtype), mc.ReLU(dtype=dtype),
        mc.MaxPool2D(2, dtype=dtype), mc.ResidualBlock.basic(4, 8, stride=2, dtype=dtype, rng=2),
        mc.Dropout(0.2, dtype=dtype, rng=3), mc.GlobalAvgPool2D(dtype=dtype), mc.Dense(8, 3, dtype=dtype, rng=4)])
    opt = mc.Adam(model, lr=1e-2)
    x, y = rng.standard_normal((steps, 8, 1, 12, 12)).astype(dtype), rng.integers(0, 3, (steps, 8))
    losses = []
    for xb, yb in zip(x, y):
        loss, dlogits = mc.softmax_cross_entropy(model.forward(xb, training=True), yb)
        model.backward(dlogits)
        opt.step()
        losses.append(loss)
    return np.array(losses), model.forward(x[0])                # and an inference forward


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-9), (np.float32, 1e-4)])
def test_a_model_trains_the_same_on_both_backends(dtype, tol):
    fast, fast_logits = train_losses(dtype)
    with kernels.use("reference"):
        ref, ref_logits = train_losses(dtype)
    assert fast[-1] < fast[0]                                   # it does learn
    np.testing.assert_allclose(ref, fast, rtol=tol)
    np.testing.assert_allclose(ref_logits, fast_logits, rtol=tol, atol=tol * np.abs(fast_logits).max())


def test_quickstart_prints_the_same_on_the_reference_kernels():
    fast = run_command("python examples/quickstart.py")
    assert "epoch 3:" in fast
    assert run_command("python examples/quickstart.py", kernels="reference") == fast
