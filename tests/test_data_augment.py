"""Augmentation and batching: augmented training batches, untouched validation batches.

Proves: ``warp_batch`` rotates like np.rot90, flips like x[..., ::-1] and shifts by whole
pixels exactly; ``Augmenter`` returns a new batch of the same shape and never modifies its
input; ``iterate_batches`` covers every sample once per epoch in a new seeded order and never
changes the data; ``training_batches`` is the only path that augments (labels unchanged), and
``eval_batches`` gives exactly the standardised images, in order.
"""
import numpy as np
import pytest

from minicnn.data import (Augmenter, Standardizer, eval_batches, iterate_batches,
                          training_batches)
from minicnn.data.augment import warp_batch


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
