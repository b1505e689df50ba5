"""Mistakes a user makes with ``minicnn.data``, each refused with a message that says what to do.

Proves: labels that are not whole-number class indices in range (fractions, -1, names) are
refused by ``Dataset`` and ``split_indices``, while whole floats (1.0) split exactly like ints;
``train_val_split`` and friends refuse an (images, labels) pair and say how to make a Dataset;
``Augmenter``, ``Standardizer`` and ``Dataset`` refuse channels-last (N, H, W, C) images;
``Augmenter`` refuses settings and seeds of the wrong type, naming the argument;
``Standardizer`` maps a constant channel or batch to 0 instead of dividing by eps, leaves real
data's numbers unchanged, and refuses a negative or non-finite ``eps``.
"""
import numpy as np
import pytest

from minicnn.data import (Augmenter, Dataset, Standardizer, leak_free_split, no_split,
                          recorded_split, split_indices, train_val_split)

IMGS = np.random.default_rng(0).integers(0, 256, (12, 1, 8, 8), dtype=np.uint8)
LABS = np.arange(12) % 3
CLASSES = ["a", "b", "c"]


@pytest.mark.parametrize("labels, match", [
    (LABS + 0.7, "whole numbers.*0.7"), (LABS + 0.5, "whole numbers"),
    (LABS - 1, "label -1 is out of range for 3 classes"), (LABS == 1, "dtype bool"),
    (np.array(CLASSES * 4), "not names such as 'a'")])
def test_dataset_refuses_labels_that_are_not_class_indices(labels, match):
    with pytest.raises(ValueError, match="labels.*" + match):
        Dataset(IMGS, labels, CLASSES)


def test_whole_float_labels_are_class_indices():
    assert Dataset(IMGS, LABS * 1.0, CLASSES).labels.dtype == np.int64
    for got, want in zip(split_indices(LABS * 1.0, 0.3, seed=4), split_indices(LABS, 0.3, seed=4)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("labels, match", [
    ([-1, -1, 0, 0, 1, 1, 2, 2, -1, 0], r"be >= 0, got \[-1, 2\]"),
    ([0.5, 1.5] * 5, "be whole numbers"), ([np.nan, 1.0] * 5, "be whole numbers"),
    (np.array(["a", "b"] * 5), r"be class indices \(ints 0..K-1\), not names"),
    (np.array(["a", "b"] * 5, dtype=object), "be class indices .* not names")])
def test_split_indices_refuses_bad_labels(labels, match):
    with pytest.raises(ValueError, match="labels must " + match):
        split_indices(labels, 0.3)


@pytest.mark.parametrize("split", [train_val_split, leak_free_split, no_split])
def test_splits_take_a_dataset_and_say_how_to_make_one(split):
    with pytest.raises(TypeError, match=f"{split.__name__} takes a Dataset, got tuple: wrap "
                                        r"arrays as Dataset\(images, labels, classes\)"):
        split((IMGS, LABS))
    with pytest.raises(TypeError, match="recorded_split takes a Dataset"):
        recorded_split((IMGS, LABS), {"val_fraction": 0.2, "seed": 0})


def test_channels_last_images_are_refused():
    nhwc = np.zeros((2, 8, 8, 1), np.float32)
    with pytest.raises(ValueError, match=r"Augmenter: expected \(N, C, H, W\).*channels-last"):
        Augmenter(rng=0)(nhwc)
    with pytest.raises(ValueError, match=r"channels-last.*transpose\(0, 3, 1, 2\)"):
        Standardizer().fit(IMGS.transpose(0, 2, 3, 1))
    with pytest.raises(ValueError, match="channels-last"):
        Standardizer("per_batch").transform(IMGS.transpose(0, 2, 3, 1))
    with pytest.raises(ValueError, match="channels-last"):
        Dataset(IMGS.transpose(0, 2, 3, 1), LABS, CLASSES)
    assert Augmenter(rng=0)(np.zeros((2, 2, 9, 9), np.float32)).shape == (2, 2, 9, 9)  # 2 is fine


@pytest.mark.parametrize("kwargs, match", [
    (dict(max_rotate="10"), r"max_rotate must lie in .*got '10' \(a str, not a number\)"),
    (dict(max_shift=True), r"max_shift must lie in .*got True \(a bool"),
    (dict(max_zoom=float("inf")), "max_zoom must lie in"),
    (dict(rng="seed"), "Augmenter rng must be None, an int seed >= 0 or a numpy Generator"),
    (dict(rng=-1), "Augmenter rng must be"), (dict(rng=1.5), "Augmenter rng must be")])
def test_augmenter_refuses_arguments_of_the_wrong_type(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Augmenter(**kwargs)
    assert Augmenter(max_rotate=np.float32(5), rng=np.int64(3)).max_rotate == 5.0


def test_standardizer_maps_constant_data_to_zero():
    for value in (0, 19, 128, 255):     # 19: its std and batch mean carry roundoff
        flat = np.full((4, 1, 8, 8), value, np.uint8)
        s = Standardizer().fit(flat)
        assert s.std.tolist() == [0.0]
        assert np.abs(s.transform(flat)).max() < 1e-6
        np.testing.assert_allclose(s.transform(IMGS), (IMGS / 255 - value / 255) / (1 + 1e-7),
                                   atol=1e-6)                           # divided by 1, not eps
        s = Standardizer.from_dict(s.to_dict())
        assert np.abs(s.transform(IMGS)).max() <= 1.0
        assert not Standardizer("per_batch").transform(flat).any()    # a constant batch: zeros


def test_standardizer_leaves_real_data_unchanged():
    rgb = np.random.default_rng(1).integers(0, 256, (5, 3, 6, 6), dtype=np.uint8)
    rgb[:, 1] = 7                                                      # one constant channel
    s = Standardizer().fit(rgb)
    x = rgb / 255.0
    np.testing.assert_array_equal(s.std[[0, 2]], np.sqrt(np.maximum(
        (x * x).mean(axis=(0, 2, 3)) - s.mean ** 2, 0))[[0, 2]])       # the old formula, bit for bit
    saved = {"mode": "dataset", "eps": 1e-7, "mean": [0.18], "std": [0.21]}   # a checkpoint's
    want = ((IMGS / np.float32(255) - np.float32(0.18)) / np.float32(0.21 + 1e-7)).astype(np.float32)
    np.testing.assert_array_equal(Standardizer.from_dict(saved).transform(IMGS), want)


@pytest.mark.parametrize("eps", [-1e-7, float("nan"), float("inf"), "1e-7", True])
def test_standardizer_refuses_bad_eps(eps):
    with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
        Standardizer(eps=eps)
