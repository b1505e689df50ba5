"""minicnn.data: image folders in, clean batches out. See docs/data.md.

    ds = load_bundled()                                 # 5,708 brain MRI, 64x64 grayscale, offline
    ds = load_folder("brain-tumor-mri/Training", image_size=150)   # or your own folder
    train, val = train_val_split(ds, 0.2, seed=0, groups=find_duplicate_groups(ds))
    std = Standardizer("dataset").fit(train.images)
    for xb, yb in training_batches(train.images, train.labels, 32, std, rng=0): ...
"""
from minicnn.data.audit import AuditReport, audit, leaked_test_mask
from minicnn.data.augment import Augmenter
from minicnn.data.batches import eval_batches, iterate_batches, training_batches
from minicnn.data.bundled import bundled_info, load_bundled
from minicnn.data.dataset import COLORS, Dataset, align_classes
from minicnn.data.decode import load_image
from minicnn.data.duplicates import NEAR_THRESHOLD, find_duplicate_groups
from minicnn.data.folders import data_dir, load_data, load_folder, load_kaggle, trained_on
from minicnn.data.preprocess import Standardizer
from minicnn.data.split import (held_out, leak_free_split, no_split, recorded_split,
                                split_indices, train_val_split)

__all__ = ["COLORS", "Dataset", "align_classes", "data_dir", "load_data", "load_folder", "load_kaggle", "trained_on", "load_bundled", "bundled_info", "load_image",
           "train_val_split", "leak_free_split", "held_out", "no_split", "recorded_split", "split_indices", "Standardizer", "Augmenter", "iterate_batches",
           "training_batches", "eval_batches", "find_duplicate_groups", "NEAR_THRESHOLD", "audit",
           "AuditReport", "leaked_test_mask"]
