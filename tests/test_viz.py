"""The report's figures render: each is a real PNG of the expected size with something drawn on it.

Every figure is drawn from a tiny model and tiny random data into ``tmp_path``. "Not blank"
means the pixels vary (standard deviation) and use many colours -- an empty white canvas with a
title would fail both. The figures are meant to be looked at too: run examples/visualize.py.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import minicnn as mc
from minicnn.training.history import History
from minicnn.viz import (feature_maps, plot_confusion_matrix, plot_feature_maps, plot_gradcam,
                         plot_history, plot_misclassified, recall_matrix, worst_mistakes)
from helpers import assert_png

CLASSES = ["glioma", "meningioma", "notumor"]


@pytest.fixture
def model():
    rng = np.random.default_rng(0)
    return mc.Sequential([mc.Conv2D(1, 6, 3, padding=1, rng=rng), mc.BatchNorm2D(6), mc.ReLU(),
                          mc.ResidualBlock.basic(6, 8, stride=2, rng=rng),
                          mc.GlobalAvgPool2D(), mc.Dense(8, 3, rng=rng)])


@pytest.fixture
def scans(rng):
    """Six uint8 'scans' (6, 1, 16, 16): a bright disc on a dark background, plus noise."""
    yy, xx = np.mgrid[:16, :16]
    disc = ((yy - 8) ** 2 + (xx - 8) ** 2 < 30) * 150.0
    return np.clip(disc + rng.normal(40, 20, (6, 1, 16, 16)), 0, 255).astype(np.uint8)


def test_training_curves_from_history_and_json(tmp_path):
    h = History()
    for e in range(6):
        h.append(loss=1.0 / (e + 1), accuracy=0.5 + 0.08 * e, val_loss=1.1 / (e + 1),
                 val_accuracy=0.45 + 0.07 * e, lr=1e-3, epoch_time=2.0)
    assert plot_history(h, tmp_path / "a.png") == tmp_path / "a.png"
    assert_png(tmp_path / "a.png", (1000, 380))
    h.to_json(tmp_path / "history.json")
    assert_png(plot_history(tmp_path / "history.json", tmp_path / "b.png"), (1000, 380))


def test_curves_without_validation_data(tmp_path):
    h = History({"loss": [1.0, 0.5], "accuracy": [0.5, 0.8], "val_loss": [None, None],
                 "val_accuracy": [None, None]})
    assert_png(plot_history(h, tmp_path / "c.png"))


def test_confusion_matrix(tmp_path):
    cm = np.array([[30, 3, 1], [4, 25, 2], [0, 1, 40]])
    assert np.allclose(recall_matrix(cm).sum(axis=1), 1.0)
    assert np.isclose(recall_matrix(cm)[0, 0], 30 / 34)
    assert_png(plot_confusion_matrix(cm, CLASSES, tmp_path / "cm.png"), (1000, 450))
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        plot_confusion_matrix(cm[:2], CLASSES, tmp_path / "bad.png")


def test_feature_maps_one_band_per_conv_unit(model, scans, tmp_path):
    x = (scans[0] / 255.0).astype(np.float32)
    maps = feature_maps(model, x)
    assert [a.shape for _, a in maps] == [(6, 16, 16), (8, 8, 8)]
    assert "Conv2D-BatchNorm2D-ReLU" in maps[0][0] and "ResidualBlock" in maps[1][0]
    path = plot_feature_maps(model, x, tmp_path / "fm.png", image=scans[0], max_channels=4,
                             columns=4)
    assert_png(path)
    assert Image.open(path).width == 1000


def test_misclassified_gallery_shows_the_most_confident_mistakes(scans, tmp_path):
    labels = np.array([0, 1, 2, 0, 1, 2])
    probs = np.array([[0.9, 0.05, 0.05],   # right
                      [0.7, 0.2, 0.1],     # wrong, 0.7
                      [0.05, 0.9, 0.05],   # wrong, 0.9
                      [0.2, 0.6, 0.2],     # wrong, 0.6
                      [0.1, 0.8, 0.1],     # right
                      [0.1, 0.1, 0.8]])    # right
    assert worst_mistakes(labels, probs).tolist() == [2, 1, 3]
    assert_png(plot_misclassified(scans, labels, probs, CLASSES, tmp_path / "g.png"), (740, 325))
    right = np.eye(3)[labels]                                       # no mistakes: says so
    assert_png(plot_misclassified(scans, labels, right, CLASSES, tmp_path / "none.png"))


def test_gradcam_figure_predicted_and_every_class(model, scans, tmp_path):
    x = (scans / 255.0).astype(np.float32)
    assert_png(plot_gradcam(model, x[:3], tmp_path / "cam.png", images=scans[:3],
                            labels=[0, 1, 2], classes=CLASSES))
    assert_png(plot_gradcam(model, x[:2], tmp_path / "cam_all.png", images=scans[:2],
                            classes=CLASSES, all_classes=True))


def test_headless_without_pyplot_and_lazy(tmp_path):
    """import minicnn loads no matplotlib; drawing uses the object API, never pyplot's backend."""
    code = ("import sys, minicnn, minicnn.viz, numpy as np\n"
            "assert 'matplotlib' not in sys.modules\n"
            f"minicnn.viz.plot_confusion_matrix(np.eye(2), ['a', 'b'], r'{tmp_path / 'cm.png'}')\n"
            "assert 'matplotlib.pyplot' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "MPLBACKEND": "qtagg"})   # unusable here
    assert_png(tmp_path / "cm.png")
