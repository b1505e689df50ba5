"""Stratified, reproducible train/validation split that can keep duplicate groups together.

    train, val = train_val_split(ds, val_fraction=0.2, seed=0)
    groups = find_duplicate_groups(ds)                       # minicnn.data.duplicates
    train, val = train_val_split(ds, 0.2, seed=0, groups=groups)  # no copy on both sides

Algorithm (the same on every machine: it uses only NumPy's PCG64 generator
``np.random.default_rng(seed)`` and the dataset's own order, never hashing or file-system order):

1. Each group (a single image when ``groups`` is None) gets the label most of its images carry
   (ties: the smallest class index).
2. For each class k in order: target_k = round(val_fraction * images whose group has label k).
   The class's groups, in increasing group-id order, are shuffled by the generator and walked in
   that order; a group goes to validation if that brings the class's validation count closer to
   target_k. Without groups this picks exactly target_k images of every class.
"""
import os
import warnings

import numpy as np

from minicnn.data.dataset import check_dataset, check_labels
from minicnn.data.duplicates import find_duplicate_groups

#: Duplicates are looked for in a 64x64 grayscale decode of the files, whatever size and colour
#: the data are loaded at: the same files then split the same way at 64x64 and at 150x150, so
#: models of different input sizes are compared, and ensembled, on the same validation images.
GROUP_SIZE, GROUP_COLOR = 64, "grayscale"


def split_indices(labels, val_fraction=0.2, seed=0, groups=None):
    """labels: int (N,) -> (train_idx, val_idx), both sorted int64 arrays that partition 0..N-1.

    labels are class indices >= 0 (whole-number floats such as 1.0 are taken as ints)."""
    labels = check_labels(labels)
    n = len(labels)
    if not 0.0 < float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}")
    if groups is None:
        groups = np.arange(n)
    groups = np.asarray(groups)
    if groups.shape != (n,) or not np.issubdtype(groups.dtype, np.integer):
        raise ValueError(f"groups: expected an int array of shape ({n},), got "
                         f"{groups.dtype} {groups.shape}")
    rng = np.random.default_rng(seed)
    group_ids, inverse = np.unique(groups, return_inverse=True)   # sorted ids; image -> group row
    inverse = inverse.reshape(-1)
    sizes = np.bincount(inverse, minlength=len(group_ids))
    # majority label of each group: counts (G, K), argmax picks the smallest index on ties
    counts = np.zeros((len(group_ids), labels.max(initial=0) + 1), dtype=np.int64)
    np.add.at(counts, (inverse, labels), 1)
    group_label = counts.argmax(axis=1)
    in_val = np.zeros(len(group_ids), dtype=bool)
    for k in range(counts.shape[1]):
        members = np.flatnonzero(group_label == k)               # group rows of class k
        target = int(round(float(val_fraction) * sizes[members].sum()))
        taken = 0
        for g in members[rng.permutation(len(members))]:
            if abs(taken + sizes[g] - target) < abs(taken - target):
                in_val[g] = True
                taken += sizes[g]
    val_mask = in_val[inverse]
    return np.flatnonzero(~val_mask), np.flatnonzero(val_mask)


def train_val_split(ds, val_fraction=0.2, seed=0, groups=None):
    """Dataset -> (train_ds, val_ds), stratified by class; see the module docstring."""
    check_dataset(ds, "train_val_split")
    train_idx, val_idx = split_indices(ds.labels, val_fraction, seed, groups)
    return ds.subset(train_idx), ds.subset(val_idx)


def leak_free_split(ds, val_fraction=0.2, seed=0, mirrors=True):
    """The split that ``minicnn train``, the examples and ``minicnn report`` all use.

    Stratified like ``train_val_split``, with every group of duplicate images
    (``duplicate_groups``: found at 64x64 grayscale, so any input size splits alike; with
    ``mirrors``, mirror-image copies count as duplicates) kept on one side. Returns
    (train_ds, val_ds, info); ``info`` describes the split for a checkpoint's metadata, so the
    same split can be rebuilt later (``recorded_split``).
    """
    check_dataset(ds, "leak_free_split")
    groups = duplicate_groups(ds, mirrors=mirrors)
    train, val = train_val_split(ds, val_fraction, seed=seed, groups=groups)
    return train, val, split_info(val_fraction, seed, train, val, mirrors)


def split_info(val_fraction, seed, train, val, mirrors=True):
    """The ``metadata["split"]`` record of a split made with ``duplicate_groups(ds, mirrors)``."""
    return {"val_fraction": val_fraction, "seed": seed, "duplicates_kept_together": True,
            "mirrors_kept_together": bool(mirrors), "n_train": len(train), "n_val": len(val)}


def no_split(ds, seed=0):
    """(ds, None, info): every image for training, none held out (``minicnn train
    --val-fraction 0``, for a final model once validation has chosen the recipe)."""
    check_dataset(ds, "no_split")
    return ds, None, {"val_fraction": 0.0, "seed": seed, "n_train": len(ds), "n_val": 0}


def held_out(info):
    """True when a recorded split (``metadata["split"]``) held images out for validation: every
    split but ``no_split``'s (records older than it have no "val_fraction" 0 and always did)."""
    return info.get("val_fraction", 0.2) > 0


def recorded_split(ds, info, seed=0):
    """The split a checkpoint's ``metadata["split"]`` (``info``) describes: (train, val, info).

    Splits recorded before mirror copies counted as duplicates (no ``mirrors_kept_together``)
    are rebuilt the way they were made, so an older checkpoint is scored on its own validation
    images, never on images it trained on. ``seed``: used when ``info`` records none. A model
    trained on every image (``val_fraction`` 0) has no validation split: ValueError.
    """
    check_dataset(ds, "recorded_split")
    if not held_out(info):
        raise ValueError(f"this checkpoint was trained on all {info.get('n_train', 'the')} images "
                         f"of its data (--val-fraction 0): it has no validation split; score it "
                         f"on images it did not train on (e.g. the Testing split)")
    return leak_free_split(ds, info.get("val_fraction", 0.2), info.get("seed", seed),
                           mirrors=bool(info.get("mirrors_kept_together", False)))


def duplicate_groups(ds, mirrors=True):
    """``find_duplicate_groups`` of ``ds``'s files as decoded at GROUP_SIZE in GROUP_COLOR.

    A folder's Dataset at another size or colour, or cropped, is looked up in the 64x64 grayscale
    uncropped decode of the same folder (``load_folder``, from its cache after the first time),
    file by file, so cropped and whole pictures split alike. Images
    that are not files of one class-per-folder root (arrays, the bundled data) use their own
    pixels: the bundled data are that 64x64 grayscale decode already.
    """
    if (ds.image_size, ds.color, ds.crop) == (GROUP_SIZE, GROUP_COLOR, False) or not ds.paths:
        return find_duplicate_groups(ds, mirrors=mirrors)
    roots = {os.path.dirname(os.path.dirname(p)) for p in ds.paths}
    if len(roots) != 1 or not all(os.path.isabs(p) and os.path.isfile(p) for p in ds.paths):
        return find_duplicate_groups(ds, mirrors=mirrors)
    from minicnn.data.folders import load_folder   # folders imports nothing of split's
    try:
        with warnings.catch_warnings():   # files it skips: the load of ``ds`` has warned of them
            warnings.simplefilter("ignore", UserWarning)
            ref = load_folder(roots.pop(), GROUP_SIZE, GROUP_COLOR)
    except ValueError:                                 # not a class-per-folder root after all
        return find_duplicate_groups(ds, mirrors=mirrors)
    row = {p: i for i, p in enumerate(ref.paths)}
    if not all(p in row for p in ds.paths):
        return find_duplicate_groups(ds, mirrors=mirrors)  # a file the 64x64 decode skipped
    groups = find_duplicate_groups(ref, mirrors=mirrors)
    return groups[[row[p] for p in ds.paths]]
