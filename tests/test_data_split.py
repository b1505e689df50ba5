"""The train/validation split: stratified, reproducible, and duplicates never straddle it.

Proves: every class keeps round(0.2 * n_k) images in validation; the same seed gives the same
split (and another seed a different one); train and validation partition the data; with
``groups`` every group lands on one side; ``find_duplicate_groups`` groups pixel-identical and
near-identical images, and mirror-image copies, so the split can use it; ``recorded_split``
rebuilds a checkpoint's split by the rule it was made with.
"""
import numpy as np
import pytest

from minicnn.data import (Dataset, find_duplicate_groups, leak_free_split, recorded_split,
                          split_indices, train_val_split)


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


def with_mirrors(pairs=12):
    """toy data where image 6i+1 is the (slightly brighter) mirror image of image 6i."""
    ds = toy((40, 40), seed=4)
    pairs = [(6 * i, 6 * i + 1) for i in range(pairs)]                # in both classes
    for a, b in pairs:
        ds.images[b] = np.clip(ds.images[a, :, :, ::-1].astype(int) + 2, 0, 255)
    return ds, pairs


def test_mirror_copies_are_duplicates():
    ds, pairs = with_mirrors()
    groups = find_duplicate_groups(ds)
    plain = find_duplicate_groups(ds, mirrors=False)
    for a, b in pairs:
        assert groups[a] == groups[b] and plain[a] != plain[b]
    assert len(np.unique(groups)) == len(ds) - len(pairs)             # nothing else joined
    train, val, info = leak_free_split(ds, 0.25, seed=2)
    assert info["mirrors_kept_together"] is True
    for a, b in pairs:
        assert (ds.paths[a] in val.paths) == (ds.paths[b] in val.paths)
    symmetric = toy((4,), seed=1)
    symmetric.images[:] = np.maximum(symmetric.images, symmetric.images[..., ::-1])
    assert len(np.unique(find_duplicate_groups(symmetric))) == 4      # not its own mirror pair


def test_recorded_split_rebuilds_a_split_by_its_own_rule():
    ds, _ = with_mirrors()
    differs = False
    for seed in range(4):
        _, new_val, info = leak_free_split(ds, 0.25, seed=seed)
        _, old_val, old_info = leak_free_split(ds, 0.25, seed=seed, mirrors=False)
        assert recorded_split(ds, info)[1].paths == new_val.paths
        legacy = {k: v for k, v in old_info.items() if k != "mirrors_kept_together"}
        assert recorded_split(ds, legacy)[1].paths == old_val.paths   # made before mirrors
        differs |= new_val.paths != old_val.paths
    assert differs, "the fixture's mirror pairs no longer change any split"


def _scans_with_near_copies(folder, n=20, seed=0):
    """Smooth random 'scans' in two classes, each with a near copy (faint noise, std 0.2-0.6).

    The copies straddle the pHash threshold differently at different decode sizes, which is
    what made a 150x150 and a 64x64 load of one folder split differently before duplicates
    were looked for at one fixed size.
    """
    from PIL import Image
    rng = np.random.default_rng(seed)
    for k, name in enumerate(("a", "b")):
        (folder / name).mkdir(parents=True)
        for i in range(n):
            base = rng.normal(0, 1, (9, 9)).cumsum(0).cumsum(1)
            img = np.asarray(Image.fromarray(base.astype(np.float32)).resize((96, 96),
                                                                             Image.BILINEAR))
            img = (img - img.min()) / (np.ptp(img) + 1e-9) * 200 + 20 * k
            Image.fromarray(img.astype(np.uint8)).save(folder / name / f"s{i}.png")
            noisy = img + rng.normal(0, 0.2 + 0.1 * (i % 5), img.shape)
            Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(
                folder / name / f"s{i}_copy.png")
    return folder


def test_every_input_size_splits_a_folder_alike(tmp_path, monkeypatch):
    from minicnn.data import load_folder
    from minicnn.data.duplicates import find_duplicate_groups
    from minicnn.data.split import duplicate_groups
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path / "cache"))
    root = _scans_with_near_copies(tmp_path / "scans")
    ref = load_folder(root, 64)
    _, ref_val, _ = leak_free_split(ref, 0.25, seed=1)
    differs = False
    for size, color in [(24, "grayscale"), (40, "rgb"), (90, "grayscale")]:
        ds = load_folder(root, size, color)
        np.testing.assert_array_equal(duplicate_groups(ds), find_duplicate_groups(ref))
        _, val, _ = leak_free_split(ds, 0.25, seed=1)
        assert val.paths == ref_val.paths
        differs |= not np.array_equal(find_duplicate_groups(ds), find_duplicate_groups(ref))
    assert differs, "the fixture no longer has copies whose grouping depends on the size"


def test_the_sweep_splits_a_folder_as_leak_free_split(tmp_path, monkeypatch):
    """A sweep trial at any image size validates on the images ``minicnn train`` would."""
    from minicnn.data import load_folder
    from minicnn.sweep.trial import Data
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path / "cache"))
    root = _scans_with_near_copies(tmp_path / "scans")
    spec = {"source": str(root), "color": "grayscale", "limit": None, "val_fraction": 0.25}
    for size in (24, 64, 90):
        _, val, _ = Data(spec, seed=1).split(size, repeat=0)
        _, expected, _ = leak_free_split(load_folder(root, size), 0.25, seed=1)
        assert val.paths == expected.paths
