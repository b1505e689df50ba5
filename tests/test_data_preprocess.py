"""Standardizer: statistics from the training split only, applied unchanged everywhere else.

Proves: "dataset" mode learns per-channel mean/std of images/255 from the images it is fit on
(and nothing else), transforms validation/test/single images with those same numbers, and
round-trips through a JSON-friendly dict; "per_batch" mode (the report's) zero-centres each
batch and divides it by its own std.
"""
import json

import numpy as np
import pytest

from minicnn.data import Standardizer


def images(n, shift, seed, channels=1):
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(shift, 20, (n, channels, 6, 6)), 0, 255).astype(np.uint8)


def test_dataset_mode_uses_training_stats_only():
    train, val = images(40, 80, 0, 3), images(10, 200, 1, 3)       # very different brightness
    s = Standardizer("dataset").fit(train)
    x = train / 255.0
    np.testing.assert_allclose(s.mean, x.mean(axis=(0, 2, 3)), rtol=1e-9)
    np.testing.assert_allclose(s.std, x.std(axis=(0, 2, 3)), rtol=1e-6)
    out_train = s.transform(train)
    assert out_train.dtype == np.float32 and out_train.shape == train.shape
    np.testing.assert_allclose(out_train.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out_train.std(axis=(0, 2, 3)), 1, atol=1e-4)
    out_val = s.transform(val)                                        # not re-centred on val
    assert out_val.mean() > 3
    expect = (val[:1] / 255.0 - s.mean[None, :, None, None]) / (s.std[None, :, None, None] + s.eps)
    np.testing.assert_allclose(s.transform(val[:1]), expect, rtol=1e-5)   # one image: same numbers


def test_round_trip_through_json():
    s = Standardizer("dataset").fit(images(20, 100, 2))
    d = json.loads(json.dumps(s.to_dict()))
    t = Standardizer.from_dict(d)
    batch = images(5, 120, 3)
    np.testing.assert_array_equal(t.transform(batch), s.transform(batch))
    assert Standardizer.from_dict(Standardizer("per_batch").to_dict()).mode == "per_batch"


def test_per_batch_mode():
    s = Standardizer("per_batch")
    a, b = images(8, 60, 4), images(8, 180, 5)
    for batch in (a, b):
        out = s.transform(batch)
        assert abs(float(out.mean())) < 1e-5 and abs(float(out.std()) - 1) < 1e-4
    assert s.fit(a) is s and s.to_dict()["mean"] is None               # nothing to learn


def test_errors():
    with pytest.raises(ValueError, match="fit"):
        Standardizer("dataset").transform(images(2, 10, 0))
    with pytest.raises(ValueError, match="uint8"):
        Standardizer("per_batch").transform(np.zeros((2, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match="mode"):
        Standardizer("global")
