"""Every layer and container keeps the one layer contract (``minicnn/layers/base.py``).

The checks live in ``tests/helpers.py`` (``CONTRACT_CHECKS``): a float64 gradient check with a
random upstream gradient for x and every parameter, in training and in inference mode; backward
leaves dout, x and the caches untouched, overwrites the grads in the same arrays and gives the
same answer twice; the dtype rules; the config and save/load round trips; the errors for bad
input, for a dout of the wrong shape and for a backward before any forward. The arithmetic
checks run on both kernel backends (``minicnn.kernels.use("fast")`` and ``("reference")``).

A new layer gets all of it by adding one line to CASES. The last tests prove the checker can
fail: it catches the classic mistakes, each planted in an otherwise correct layer.
"""
import numpy as np
import pytest

import minicnn as mc
from helpers import (CONTRACT_CHECKS, Frozen, away_from_kink, check_backward_is_pure, check_contract,
                     check_errors, check_save_load, distinct_values, perturb)
from minicnn import kernels


def _block(dt):
    return mc.ResidualBlock(mc.Sequential([mc.Conv2D(3, 3, 3, padding=1, dtype=dt, rng=0), mc.ReLU(dtype=dt),
                                           mc.Conv2D(3, 3, 3, padding=1, dtype=dt, rng=1)]), activation="relu")


def _net(dt):  # (a conv bias before batch norm has a true gradient of exactly 0 in training: no bias)
    return mc.Sequential([mc.Conv2D(2, 4, 3, padding=1, bias=False, dtype=dt, rng=0), mc.BatchNorm2D(4, dtype=dt),
                          mc.ReLU(dtype=dt), mc.MaxPool2D(2, dtype=dt),
                          mc.ResidualBlock.basic(4, 6, stride=2, dtype=dt, rng=1), mc.Dropout(0.3, dtype=dt, rng=2),
                          mc.GlobalAvgPool2D(dtype=dt), mc.Dense(6, 3, dtype=dt, rng=3)], input_shape=(2, 8, 8))


NORMAL, KINKLESS, DISTINCT = np.random.Generator.standard_normal, away_from_kink, distinct_values
# (id, make(dtype), input shape, input maker, gradient tolerance, accepts any rank)
CASES = [
    ("Conv2D", lambda dt: mc.Conv2D(2, 3, 3, stride=2, padding=1, dtype=dt, rng=0), (3, 2, 5, 6), NORMAL, 1e-7, False),
    ("Conv2D-nobias", lambda dt: mc.Conv2D(2, 3, (3, 2), bias=False, dtype=dt, rng=0), (2, 2, 4, 5), NORMAL, 1e-7, False),
    ("Conv2D-winograd", lambda dt: mc.Conv2D(2, 3, 3, padding=1, algorithm="winograd", dtype=dt, rng=0),
     (2, 2, 6, 5), NORMAL, 1e-7, False),
    ("BatchNorm2D", lambda dt: mc.BatchNorm2D(3, dtype=dt), (4, 3, 3, 2), NORMAL, 1e-7, False),
    ("ReLU", lambda dt: mc.ReLU(dtype=dt), (3, 2, 4, 4), KINKLESS, 1e-7, True),
    ("Dropout", lambda dt: mc.Dropout(0.4, dtype=dt, rng=0), (3, 5, 2), NORMAL, 1e-7, True),
    ("MaxPool2D", lambda dt: mc.MaxPool2D(3, 2, 1, dtype=dt), (2, 2, 7, 6), DISTINCT, 1e-7, False),
    ("GlobalAvgPool2D", lambda dt: mc.GlobalAvgPool2D(dtype=dt), (3, 4, 3, 5), NORMAL, 1e-7, False),
    ("Flatten", lambda dt: mc.Flatten(dtype=dt), (3, 2, 3, 4), NORMAL, 1e-7, True),
    ("Dense", lambda dt: mc.Dense(7, 5, dtype=dt, rng=0), (4, 7), NORMAL, 1e-7, False),
    ("ResidualBlock", _block, (2, 3, 5, 5), NORMAL, 1e-6, False),
    ("Sequential", _net, (3, 2, 8, 8), NORMAL, 1e-6, False),
]
IDS = [c[0] for c in CASES]


def build(case):
    """(make, x): a maker whose layers have perturbed parameters, and the float64 input."""
    _, make, shape, maker, _, _ = case
    return (lambda dt: perturb(make(dt), np.random.default_rng(5))), maker(np.random.default_rng(6), shape)


@pytest.fixture(params=kernels.BACKENDS)
def backend(request):
    with kernels.use(request.param):
        yield request.param


@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("check", list(CONTRACT_CHECKS))
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_contract(case, check, training, backend):
    make, x = build(case)
    CONTRACT_CHECKS[check](make, x, training=training, tol=case[4])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_save_load(case, tmp_path):
    make, x = build(case)
    check_save_load(make, x, tmp_path)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_errors(case):
    make, x = build(case)
    check_errors(make, x, any_rank=case[5])


@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_backends_agree(case, training):
    """The reference and the fast kernels give the same outputs, dx and grads (float64)."""
    make, x = build(case)
    results = []
    for name in kernels.BACKENDS:
        layer = Frozen(make(np.float64))
        with kernels.use(name):
            y = layer.forward(x, training=training)
            dx = layer.backward(np.random.default_rng(7).standard_normal(y.shape))
        results.append([y, dx] + [g.copy() for g in layer.grads.values()])
    for fast, ref in zip(*results):
        np.testing.assert_allclose(fast, ref, rtol=1e-10, atol=1e-12)


# ---- the checker catches what it should ---------------------------------------------------
class MutatesDout(mc.ReLU):
    """Book 1's ReLU: zeroes the upstream gradient in place."""

    def backward(self, dout):
        dout[self.cache <= 0] = 0
        return dout


class Accumulates(mc.Dense):
    """Adds to the gradients instead of overwriting them (PyTorch's .grad, without zero_grad)."""

    def backward(self, dout):
        x = self.cache
        self.grads["W"] += x.T @ dout
        self.grads["b"] += dout.sum(axis=0)
        return dout @ self.params["W"].T


class Rebinds(mc.Dense):
    """Replaces the gradient arrays: an optimizer holding the old ones would never see them."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.grads = {k: g.copy() for k, g in self.grads.items()}
        return dx


class WrongGradient(mc.Dense):
    """dx = dout @ W instead of dout @ W.T (square W, so the shapes still fit)."""

    def backward(self, dout):
        super().backward(dout)
        return dout @ self.params["W"]


@pytest.mark.parametrize("make, shape, problem", [
    (lambda dt: MutatesDout(dtype=dt), (2, 3), "wrote into dout"),
    (lambda dt: Accumulates(3, 3, dtype=dt, rng=0), (2, 3), "accumulated"),
    (lambda dt: Rebinds(3, 3, dtype=dt, rng=0), (2, 3), "rebound"),
    (lambda dt: WrongGradient(3, 3, dtype=dt, rng=0), (2, 3), r"'x'"),
], ids=["mutates-dout", "accumulates", "rebinds", "wrong-gradient"])
def test_the_checker_catches_broken_layers(make, shape, problem, tmp_path):
    x = away_from_kink(np.random.default_rng(0), shape)
    with pytest.raises(AssertionError, match=problem):
        check_contract(make, x, tmp_path)
    check_backward_is_pure(lambda dt: mc.ReLU(dtype=dt), x, training=True)  # the honest twin passes
