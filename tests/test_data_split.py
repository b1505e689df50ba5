"""The train/validation split: stratified, reproducible, and duplicates never straddle it.

Proves: every class keeps round(0.2 * n_k) images in validation; the same seed gives the same
split (and another seed a different one); train and validation partition the data; with
``groups`` every group lands on one side; ``find_duplicate_groups`` groups pixel-identical and
near-identical images so the split can use it.
"""
import numpy as np
import pytest

from minicnn.data import Dataset, find_duplicate_groups, split_indices, train_val_split


def toy(counts=(50, 31, 7), seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(counts)), counts)
    images = rng.integers(0, 256, (len(labels), 1, 8, 8), dtype=np.uint8)
    return Dataset(images, labels, [f"c{k}" for k in range(len(counts))],
                   [f"img{i:03d}.png" for i in range(len(labels))])


def test_stratified_and_partition():
    ds = toy()
    train, val = train_val_split(ds, 0.2, seed=0)
    assert val.class_counts().tolist() == [10, 6, 1]                  # round(0.2 * n_k)
    assert train.class_counts().tolist() == [40, 25, 6]
    assert sorted(train.paths + val.paths) == sorted(ds.paths)        # a partition


def test_reproducible():
    labels = toy().labels
    a = split_indices(labels, 0.2, seed=7)
    b = split_indices(labels, 0.2, seed=7)
    c = split_indices(labels, 0.2, seed=8)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_follows_the_documented_algorithm():
    """Without groups: per class, shuffle its images with the shared default_rng(seed) and take
    the first round(f * n_k). Anyone can recompute this from NumPy alone, on any machine."""
    labels = np.array([1, 0, 1, 0, 0, 1, 0, 1, 0, 1])
    rng = np.random.default_rng(5)
    expect = []
    for k in (0, 1):
        members = np.flatnonzero(labels == k)
        expect += members[rng.permutation(len(members))][:2].tolist()   # round(0.4 * 5) = 2
    assert split_indices(labels, 0.4, seed=5)[1].tolist() == sorted(expect)


def test_groups_stay_together():
    ds = toy((60, 60))
    groups = np.arange(len(ds)) // 3                                  # 40 groups of three
    train_idx, val_idx = split_indices(ds.labels, 0.25, seed=1, groups=groups)
    assert not set(groups[train_idx]) & set(groups[val_idx])
    assert np.bincount(ds.labels[val_idx]).tolist() == [15, 15]       # 5 groups per class


def test_bad_arguments():
    with pytest.raises(ValueError, match="val_fraction"):
        split_indices(np.zeros(4, int), 1.0)
    with pytest.raises(ValueError, match="groups"):
        split_indices(np.zeros(4, int), 0.5, groups=np.zeros(3, int))


def test_duplicate_groups_feed_the_split():
    ds = toy((20, 20))
    ds.images[5] = ds.images[2]                                       # exact copy
    ds.images[30] = np.clip(ds.images[25].astype(int) + 3, 0, 255)    # brighter: near copy
    groups = find_duplicate_groups(ds)
    assert groups[5] == groups[2] and groups[30] == groups[25]
    assert len(np.unique(groups)) == len(ds) - 2
    train_idx, val_idx = split_indices(ds.labels, 0.2, seed=3, groups=groups)
    for a, b in ((2, 5), (25, 30)):
        assert (a in val_idx) == (b in val_idx)
