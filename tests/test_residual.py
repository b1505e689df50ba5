"""ResidualBlock: y = relu(main(x) + shortcut(x)); one gradient flows back into two branches.

Proves: the block passes the numerical gradient check with an identity shortcut and with a
projection shortcut (ResidualBlock.basic with stride 2); the input gradient is the *sum* of both
branches' gradients; a child that writes into its upstream gradient -- the Book-1 ReLU bug that
would silently corrupt the shortcut's gradient -- fails loudly instead; shape errors suggest a
projection; names and the basic() recipe. (The layer contract: ``tests/test_contract.py``.)
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn.gradcheck import check_layer

F64 = np.float64


def _jitter(layer, rng):
    """Move every parameter off its initial value (zero biases, unit gammas) so ties disappear."""
    for p in layer.params.values():
        p += 0.1 * rng.standard_normal(p.shape)
    return layer


def test_identity_shortcut_gradient_check(rng):
    main = mc.Sequential([mc.Conv2D(3, 3, 3, padding=1, dtype=F64, rng=rng), mc.ReLU(dtype=F64),
                          mc.Conv2D(3, 3, 3, padding=1, dtype=F64, rng=rng)])
    block = _jitter(mc.ResidualBlock(main, activation="relu"), rng)
    errors = check_layer(block, rng.standard_normal((2, 3, 5, 5)))
    assert set(errors) == {"x", "main.0.W", "main.0.b", "main.2.W", "main.2.b"}
    assert max(errors.values()) < 1e-6, errors


def test_projection_shortcut_gradient_check(rng):
    block = _jitter(mc.ResidualBlock.basic(2, 4, stride=2, dtype=F64, rng=rng), rng)
    assert "shortcut.0.W" in block.params and "shortcut.1.gamma" in block.params
    errors = check_layer(block, rng.standard_normal((3, 2, 6, 6)))
    assert max(errors.values()) < 1e-6, errors


def test_input_gradient_is_the_sum_of_both_branches(rng):
    main = mc.Sequential([mc.Dense(4, 4, dtype=F64, rng=rng)])
    block = mc.ResidualBlock(main)                            # no activation: dz = dout
    x, dout = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    block.forward(x, training=True)
    dx = block.backward(dout)
    assert np.allclose(dx, dout @ main[0].params["W"].T + dout)   # main branch + identity


class BookOneReLU(mc.ReLU):
    """The bug STYLE.md warns about: backward zeroes the upstream gradient *in place*."""

    def backward(self, dout):
        dout[self.cache <= 0] = 0                            # cache: the forward output y
        return dout


def test_a_child_that_mutates_the_shared_gradient_fails_loudly(rng):
    # Why it matters: the identity branch reuses the very array main's backward receives.
    # If main zeroed entries of it, dx = dmain + dz would silently use the zeroed dz.
    dout = rng.standard_normal((4, 3))
    x = np.array([[1.0, -1.0, 2.0]] * 4)
    layer = BookOneReLU(dtype=F64)
    layer.forward(x, training=True)
    kept = dout.copy()
    layer.backward(dout)
    assert not np.array_equal(dout, kept)                     # on its own it corrupts its input

    block = mc.ResidualBlock(mc.Sequential([BookOneReLU(dtype=F64)]))
    block.forward(x, training=True)
    with pytest.raises(ValueError, match="read-only"):       # inside a block it cannot
        block.backward(kept.copy())
    good = mc.ResidualBlock(mc.Sequential([mc.ReLU(dtype=F64)]))
    good.forward(x, training=True)
    assert np.allclose(good.backward(kept), kept * (x > 0) + kept)


def test_shape_change_without_shortcut_suggests_a_projection():
    block = mc.ResidualBlock(mc.Conv2D(2, 4, 3, padding=1, dtype=F64, rng=0))
    with pytest.raises(ValueError, match="projection shortcut"):
        block.forward(np.zeros((1, 2, 5, 5)))
    with pytest.raises(ValueError, match="projection shortcut"):
        block.output_shape((2, 5, 5))


def test_basic_block_recipe():
    same = mc.ResidualBlock.basic(4, 4, rng=0)
    assert same.shortcut is None and same.activation == "relu" and same.dtype == np.float32
    assert [type(m).__name__ for m in same.main] == ["Conv2D", "BatchNorm2D", "ReLU", "Conv2D", "BatchNorm2D"]
    assert "main.0.b" not in same.params                    # bias=False: BN would cancel it
    assert same.output_shape((4, 8, 8)) == (4, 8, 8)
    down = mc.ResidualBlock.basic(4, 8, stride=2, rng=0)
    assert [type(m).__name__ for m in down.shortcut] == ["Conv2D", "BatchNorm2D"]
    assert down.output_shape((4, 8, 8)) == (8, 4, 4)


