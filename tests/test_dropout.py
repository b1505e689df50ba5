"""Dropout (inverted): training keeps each value with probability 1 - rate and scales it by
1 / (1 - rate); inference is the identity.

Proves: about `rate` of the values are dropped, kept values are scaled so the mean is unchanged,
inference returns x (and its backward dout), backward is dout * mask / (1 - rate) with the
forward's mask, a seed makes masks reproducible, and the scaling convention is PyTorch's. (Masks come from different random
generators, so PyTorch parity can only compare the convention, not the masks.)
"""
import numpy as np
import pytest

from minicnn import Dropout


def test_mask_statistics_and_inverted_scaling(rng):
    layer = Dropout(0.3, rng=0)
    x = np.ones((100, 1000), np.float32)
    y = layer.forward(x, training=True)
    dropped = np.mean(y == 0)
    assert abs(dropped - 0.3) < 0.01                 # 100,000 draws: std of the fraction ~ 0.0015
    np.testing.assert_allclose(y[y != 0], 1 / 0.7, rtol=1e-6)  # kept values scaled by 1/(1-rate)
    assert abs(y.mean() - 1.0) < 0.02                # so the expected activation is unchanged


def test_identity_at_inference(rng):
    x = rng.standard_normal((4, 8)).astype(np.float32)
    np.testing.assert_array_equal(Dropout(0.5, rng=0).forward(x, training=False), x)


def test_backward_is_dout_times_scaled_mask(rng):
    layer = Dropout(0.5, dtype=np.float64, rng=1)
    x = rng.standard_normal((6, 20)) + 5.0            # no zeros in x, so y == 0 exactly where dropped
    y = layer.forward(x, training=True)
    mask = (y != 0)
    dout = rng.standard_normal(x.shape)
    saved = dout.copy()
    dx = layer.backward(dout)
    np.testing.assert_allclose(dx, dout * mask / 0.5, rtol=1e-15)
    np.testing.assert_array_equal(dout, saved)
    np.testing.assert_array_equal(layer.backward(dout), dx)  # same mask until the next forward


def test_seed_reproducible_and_rate_zero():
    x = np.ones((3, 50), np.float32)
    a = Dropout(0.5, rng=7).forward(x, training=True)
    b = Dropout(0.5, rng=7).forward(x, training=True)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(Dropout(0.0).forward(x, training=True), x)


def test_rate_is_validated_and_inference_backward_is_the_identity(rng):
    for bad in (-0.1, 1.0, 1.5, "0.5", True):
        with pytest.raises(ValueError, match="rate"):
            Dropout(bad)
    layer = Dropout(0.5)
    layer.forward(np.ones((2, 3), np.float32), training=False)
    dout = rng.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(dout), dout)
    assert layer.get_config() == {"rate": 0.5, "dtype": "float32"}


def test_same_convention_as_pytorch(torch, rng):
    x = rng.standard_normal((8, 64)) + 5.0
    yt = torch.nn.functional.dropout(torch.tensor(x), p=0.25, training=True).numpy()
    y = Dropout(0.25, dtype=np.float64, rng=0).forward(x, training=True)
    for out in (y, yt):  # both: kept values are x / (1 - p), the rest are 0
        kept = out != 0
        np.testing.assert_allclose(out[kept], x[kept] / 0.75, rtol=1e-12)
    assert torch.nn.functional.dropout(torch.tensor(x), p=0.25, training=False).numpy().tolist() \
        == Dropout(0.25, dtype=np.float64).forward(x, training=False).tolist()
