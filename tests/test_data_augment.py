"""Augmentation and batching: augmented training batches, untouched validation batches.

Proves: ``warp_batch`` rotates like np.rot90, flips like x[..., ::-1], shifts by whole
pixels exactly and zooms a ramp by its factor; ``jitter_intensity`` sets each image's contrast
and brightness as documented; ``Augmenter`` returns a new batch of the same shape and never
modifies its input, draws in a fixed order (the zoom and intensity draws only when asked, so
older runs replay), and refuses out-of-range settings; ``iterate_batches`` covers every sample once per epoch in a new seeded order and never
changes the data; ``training_batches`` is the only path that augments (labels unchanged), and
``eval_batches`` gives exactly the standardised images, in order.
"""
import numpy as np
import pytest

from minicnn.data import (Augmenter, Standardizer, eval_batches, iterate_batches,
                          training_batches)
from minicnn.data.augment import jitter_intensity, warp_batch


def batch(n=4, c=2, h=9, w=9, seed=0):
    return np.random.default_rng(seed).normal(size=(n, c, h, w)).astype(np.float32)


def test_warp_matches_numpy_rotations_flips_shifts():
    x = batch()
    zero, no = np.zeros((4, 2)), np.zeros(4, bool)
    np.testing.assert_allclose(warp_batch(x, np.full(4, 90.0), zero, no),
                               np.rot90(x, 1, axes=(2, 3)), atol=1e-5)   # counter-clockwise
    np.testing.assert_array_equal(warp_batch(x, np.zeros(4), zero, np.ones(4, bool)),
                                  x[..., ::-1])
    moved = warp_batch(x, np.zeros(4), np.tile([2.0, -1.0], (4, 1)), no)   # right 2, up 1
    np.testing.assert_array_equal(moved[:, :, :-1, 2:], x[:, :, 1:, :-2])
    np.testing.assert_array_equal(moved[:, :, :, 0], moved[:, :, :, 2])   # border repeats


def test_augmenter_is_random_new_and_leaves_input_alone():
    x = batch(16)
    keep = x.copy()
    aug = Augmenter(rng=0)
    y = aug(x)
    np.testing.assert_array_equal(x, keep)
    assert y.shape == x.shape and y.dtype == x.dtype and not np.allclose(y, x)
    np.testing.assert_array_equal(Augmenter(rng=0)(x), y)                # seeded
    assert not np.array_equal(aug(x), y)                                 # fresh draws
    flips_only = Augmenter(flip=True, max_shift=0, max_rotate=0, rng=1)(x)
    for a, b in zip(flips_only, x):
        assert np.array_equal(a, b) or np.array_equal(a, b[..., ::-1])
    with pytest.raises(ValueError, match="float"):
        aug(np.zeros((1, 1, 4, 4), np.uint8))


def test_zoom_scales_about_the_centre():
    h = w = 9
    ramp = np.tile(np.arange(w, dtype=np.float32) - (w - 1) / 2, (2, 1, h, 1))  # x = j - cx
    zero, no = np.zeros((2, 2)), np.zeros(2, bool)
    out = warp_batch(ramp, np.zeros(2), zero, no, zoom=[2.0, 1.25])
    np.testing.assert_allclose(out[0], ramp[0] / 2, atol=1e-6)      # twice as large: half slope
    np.testing.assert_allclose(out[1], ramp[1] / 1.25, atol=1e-6)
    np.testing.assert_array_equal(warp_batch(ramp, np.zeros(2), zero, no, zoom=[1.0, 1.0]),
                                  warp_batch(ramp, np.zeros(2), zero, no))
    shrunk = warp_batch(ramp, np.zeros(2), zero, no, zoom=[0.5, 0.5])
    assert shrunk[0, 0, 0, 0] == ramp.min() and shrunk[0, 0, 0, -1] == ramp.max()  # clamped


def test_jitter_intensity_sets_contrast_and_brightness():
    x = batch(3)
    out = jitter_intensity(x, [1.0, 1.5, 0.8], [0.0, 0.0, 0.5])
    assert out.dtype == x.dtype and out.shape == x.shape
    np.testing.assert_allclose(out[0], x[0], atol=1e-6)
    np.testing.assert_allclose(out[1].mean(), x[1].mean(), atol=1e-5)
    np.testing.assert_allclose(out[1].std(), 1.5 * x[1].std(), rtol=1e-5)
    np.testing.assert_allclose(out[2].mean(), x[2].mean() + 0.5 * x[2].std(), atol=1e-5)
    np.testing.assert_allclose(out[2] - out[2].mean(), 0.8 * (x[2] - x[2].mean()), atol=1e-5)
    flat = np.full((1, 1, 4, 4), 3.0, np.float32)
    np.testing.assert_array_equal(jitter_intensity(flat, [2.0], [0.7]), flat)  # std 0: unmoved


def test_augmenter_draw_order_and_new_settings():
    x = batch(8)
    rng = np.random.default_rng(5)                  # the draws, spelled out in their order
    flip = rng.random(8) < 0.5
    angle = rng.uniform(-10, 10, 8)
    shift = rng.uniform(-0.1, 0.1, (8, 2)) * np.array([9, 9])
    np.testing.assert_array_equal(Augmenter(rng=5)(x), warp_batch(x, angle, shift, flip))
    zoom = rng.uniform(0.8, 1.2, 8)
    contrast, brightness = rng.uniform(0.7, 1.3, 8), rng.uniform(-0.2, 0.2, 8)
    full = Augmenter(max_zoom=0.2, max_contrast=0.3, max_brightness=0.2, rng=5)
    np.testing.assert_allclose(full(x), jitter_intensity(
        warp_batch(x, angle, shift, flip, zoom), contrast, brightness), atol=1e-6)
    assert full.get_config() == {"flip": True, "max_shift": 0.1, "max_rotate": 10.0,
                                 "max_zoom": 0.2, "max_contrast": 0.3, "max_brightness": 0.2}


@pytest.mark.parametrize("bad", [dict(max_zoom=0.5), dict(max_zoom=-0.1), dict(max_contrast=1.0),
                                 dict(max_brightness=1.5), dict(max_contrast=float("nan")),
                                 dict(max_shift=0.5), dict(max_rotate=181)])
def test_augmenter_refuses_out_of_range_settings(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        Augmenter(**bad)


def test_iterate_batches_epochs():
    x, y = np.arange(10)[:, None] * 1.0, np.arange(10)
    rng = np.random.default_rng(0)
    epochs = [[yb.tolist() for _, yb in iterate_batches(x, y, 4, rng=rng)] for _ in range(2)]
    for ep in epochs:
        assert [len(b) for b in ep] == [4, 4, 2]
        assert sorted(sum(ep, [])) == list(range(10))
    assert epochs[0] != epochs[1]                                        # reshuffled
    for xb, yb in iterate_batches(x, y, 3, shuffle=False):
        np.testing.assert_array_equal(xb[:, 0], yb)                      # data untouched
    assert [len(yb) for _, yb in iterate_batches(x, y, 4, drop_last=True, rng=1)] == [4, 4]


def test_only_the_training_path_augments():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 1, 8, 8), dtype=np.uint8)
    labels = np.arange(12)
    std = Standardizer("dataset").fit(images)
    out = list(eval_batches(images, labels, 5, std))
    np.testing.assert_array_equal(np.concatenate([xb for xb, _ in out]), std.transform(images))
    assert np.concatenate([yb for _, yb in out]).tolist() == labels.tolist()

    plain = list(training_batches(images, labels, 4, std, rng=3))
    augmented = list(training_batches(images, labels, 4, std, Augmenter(rng=0), rng=3))
    for (xp, yp), (xa, ya) in zip(plain, augmented):
        np.testing.assert_array_equal(ya, yp)                            # labels follow
        np.testing.assert_array_equal(xp, std.transform(images[yp]))     # no aug unless asked
        assert not np.allclose(xa, xp)
