"""The figure functions refuse a wrong argument with a ValueError that names it.

Each case below used to fail deep inside numpy or matplotlib (IndexError, "Invalid shape for
image data", a broadcasting error) or, worse, to draw a wrong figure: class_index=-1 meant the last
class, logits passed as probabilities were shown as "(3.20)", a second batch of scans was drawn
beside the wrong heatmaps. Every test also checks that the right call still works.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn import viz
from helpers import assert_png

CLASSES = ["a", "b", "c"]


@pytest.fixture
def model():
    """Conv2D-BN-ReLU-MaxPool-GAP-Dense on (1, 8, 8) inputs, 3 classes."""
    rng = np.random.default_rng(0)
    return mc.Sequential([mc.Conv2D(1, 4, 3, padding=1, rng=rng), mc.BatchNorm2D(4), mc.ReLU(),
                          mc.MaxPool2D(2), mc.GlobalAvgPool2D(), mc.Dense(4, 3, rng=rng)])


@pytest.fixture
def x():
    return np.random.default_rng(1).normal(size=(3, 1, 8, 8)).astype(np.float32)


@pytest.mark.parametrize("class_index, message", [
    (7, r"class_index must lie in \[0, 3\) \(3 classes\), got 7"),
    (3, r"class_index must lie in \[0, 3\)"),
    (-1, r"class_index must lie in \[0, 3\).*got -1 \(negative indices are refused"),
    (1.0, r"class_index must be an int in \[0, 3\) or a sequence of 3 .*got 1\.0"),
    (True, r"class_index must be an int"),
    ([0, 1], r"class_index must be .*sequence of 3 such ints.*shape \(2,\)"),
    ([0, 1, 5], r"class_index must lie in \[0, 3\).*got 5"),
], ids=["7", "3", "negative", "float", "bool", "short_list", "list_out_of_range"])
def test_grad_cam_refuses_a_class_index_that_is_not_a_class(model, x, class_index, message):
    with pytest.raises(ValueError, match=message):
        viz.grad_cam(model, x, class_index=class_index)


def test_grad_cam_takes_an_int_or_one_class_per_image(model, x):
    per_class = [viz.grad_cam(model, x, class_index=c)[0] for c in range(3)]
    heat, _ = viz.grad_cam(model, x, class_index=np.array([2, 0, 1]))
    for i, c in enumerate([2, 0, 1]):
        assert np.allclose(heat[i], per_class[c][i])
    assert np.allclose(viz.grad_cam(model, x, class_index=np.int64(1))[0], per_class[1])


@pytest.mark.parametrize("kwargs, message", [
    (dict(labels=[5, 7, 0]), r"labels must lie in \[0, 3\) \(3 classes\), got 7"),
    (dict(labels=[0, 1]), r"labels must be 3 integer class indices"),
    (dict(labels=np.eye(3)), r"labels .*one-hot rows\? pass labels.argmax\(axis=1\)"),
    (dict(classes=["a", "b"]), r"classes must name the model's 3 outputs, got 2 names"),
    (dict(images="two"), r"images holds 2 scans, expected 3 \(one per image in x\)"),
    (dict(images="small"), r"images must have the model input's size \(H, W\) = \(8, 8\)"),
    (dict(images="nhwc"), r"images must be \(N, C, H, W\) .*channels last\?"),
], ids=["labels_out_of_range", "short_labels", "onehot_labels", "few_classes", "images_n",
        "images_size", "images_nhwc"])
def test_plot_gradcam_refuses_labels_classes_and_images_that_do_not_fit(model, x, tmp_path,
                                                                        kwargs, message):
    scans = (np.abs(x) * 80).astype(np.uint8)                           # 3,1,8,8
    images = {"two": scans[:2], "small": scans[:, :, :4, :4], "nhwc": scans.transpose(0, 2, 3, 1)}
    kwargs = {**kwargs, "images": images.get(kwargs.get("images"), scans)}
    with pytest.raises(ValueError, match=message):
        viz.plot_gradcam(model, x, tmp_path / "cam.png", **kwargs)
    assert not (tmp_path / "cam.png").exists()
    assert_png(viz.plot_gradcam(model, x, tmp_path / "ok.png", images=scans, labels=[2, 0, 1],
                                classes=CLASSES))


def test_plot_feature_maps_takes_one_image_or_a_batch_of_one(model, x, tmp_path):
    one = viz.plot_feature_maps(model, x[0], tmp_path / "one.png")
    batch_of_one = viz.plot_feature_maps(model, x[:1], tmp_path / "batch1.png", image=x[:1])
    assert_png(one)
    assert one.read_bytes() == batch_of_one.read_bytes()
    assert [a.shape for _, a in viz.feature_maps(model, x[:1])] == [(4, 8, 8)]
    with pytest.raises(ValueError, match=r"feature maps show one image: give x as \(C, H, W\) "
                                         r"or a batch of one .*got a batch of 3"):
        viz.plot_feature_maps(model, x, tmp_path / "three.png")
    with pytest.raises(ValueError, match=r"one image: give x .*got a batch of 3"):
        viz.feature_maps(model, x)                          # used to show the first one silently
    with pytest.raises(ValueError, match=r"image must be \(N, C, H, W\) with C = 1 .* or 3"):
        viz.plot_feature_maps(model, x[0], tmp_path / "hwc.png", image=np.zeros((8, 8, 2)))


@pytest.mark.parametrize("kwargs, message", [
    (dict(max_channels=0), r"max_channels must be a whole number >= 1, got 0"),
    (dict(max_channels=2.5), r"max_channels must be a whole number >= 1, got 2.5"),
    (dict(columns=0), r"columns must be a whole number >= 1, got 0"),
], ids=["max_channels_0", "max_channels_float", "columns_0"])
def test_plot_feature_maps_refuses_a_count_below_one(model, x, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        viz.plot_feature_maps(model, x[0], tmp_path / "fm.png", **kwargs)


def misclassified_args(case):
    """(images, labels, probs) for the gallery: a valid set with one thing broken."""
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (4, 1, 8, 8), dtype=np.uint8)
    labels = np.array([0, 1, 2, 0])
    logits = rng.normal(size=(4, 3))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    broken = {"onehot": (images, np.eye(3)[labels], probs),
              "nhwc": (images.transpose(0, 2, 3, 1), labels, probs),
              "range": (images, np.array([0, 1, 3, 0]), probs),
              "negative": (images, np.array([0, -1, 2, 0]), probs),
              "float_labels": (images, labels.astype(float), probs),
              "logits": (images, labels, logits),
              "unnormalised": (images, labels, probs * 0.5),
              "fewer_images": (images[:3], labels, probs),
              "fewer_classes": (images, labels, probs[:, :2])}
    return broken.get(case, (images, labels, probs))


@pytest.mark.parametrize("case, message", [
    ("onehot", r"labels must be 4 integer class indices .*one-hot rows\?"),
    ("nhwc", r"images must be \(N, C, H, W\) with C = 1 \(gray\) or 3 \(RGB\), got shape "
             r"\(4, 8, 8, 1\) \(channels last\?"),
    ("range", r"labels must lie in \[0, 3\) \(3 classes\), got 3"),
    ("negative", r"labels must lie in \[0, 3\).*got -1"),
    ("float_labels", r"labels must be 4 integer class indices .*got float64 array"),
    ("logits", r"probs must be probabilities \(softmax outputs\), got values outside \[0, 1\]"),
    ("unnormalised", r"probs must be probabilities \(softmax outputs\), got rows not summing to 1"),
    ("fewer_images", r"images holds 3 scans, expected 4 \(one per label\)"),
    ("fewer_classes", r"probs must have shape \(4, 3\)"),
], ids=["onehot", "nhwc", "range", "negative", "float_labels", "logits", "unnormalised",
        "fewer_images", "fewer_classes"])
def test_plot_misclassified_refuses_labels_images_and_probs_that_do_not_fit(tmp_path, case,
                                                                            message):
    images, labels, probs = misclassified_args(case)
    with pytest.raises(ValueError, match=message):
        viz.plot_misclassified(images, labels, probs, CLASSES, tmp_path / "g.png")
    assert not (tmp_path / "g.png").exists()
    assert_png(viz.plot_misclassified(*misclassified_args(None), CLASSES, tmp_path / "ok.png"))


def test_plot_misclassified_refuses_counts_below_one(tmp_path):
    for kwargs in (dict(max_images=0), dict(columns=0)):
        name = next(iter(kwargs))
        with pytest.raises(ValueError, match=f"{name} must be a whole number >= 1, got 0"):
            viz.plot_misclassified(*misclassified_args(None), CLASSES, tmp_path / "g.png", **kwargs)
