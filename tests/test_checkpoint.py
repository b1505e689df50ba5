"""Checkpoints: they carry everything needed to use the model later, and predict uses it exactly.

What this proves:
- a checkpoint written by ``fit`` rebuilds the model (from its architecture config) and holds the
  class names, image size, colour, input shape, the fitted standardisation, epoch, val accuracy,
  seed and the split description;
- evaluating the loaded best.npz on the validation set gives the val accuracy ``fit`` recorded
  (so the saved preprocessing is the one used in training);
- ``predict`` on an image *file* gives the same probabilities as the manual pipeline
  load_image -> Standardizer(saved stats) -> forward -> softmax;
- saves are atomic (no temporary file left over), non-finite weights are never written, and
  the optimizer state survives the round trip.
"""
import os

import numpy as np
import pytest
from PIL import Image

import minicnn as mc
from minicnn import models
from minicnn.data import Standardizer, load_image
from minicnn.losses import softmax
from minicnn.serialization import load_weights
from minicnn.training import evaluate, fit, load_checkpoint, predict, save_checkpoint
from minicnn.training.checkpoint import restore
from helpers import tiny_data

TRAIN, VAL = tiny_data(30, size=16, seed=0), tiny_data(12, size=16, seed=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """mini_resnet at 16x16, two epochs on the tiny data; returns (out_dir, history)."""
    out = tmp_path_factory.mktemp("run")
    model = models.build("mini_resnet", input_shape=(1, 16, 16), num_classes=3, seed=3)
    history = fit(model, TRAIN, VAL, epochs=2, batch_size=10, seed=3, out_dir=out, verbose=False,
                  metadata={"split": {"val_fraction": 0.3, "seed": 3}})
    return out, history


def test_checkpoint_metadata_carries_everything(trained):
    out, history = trained
    meta = load_checkpoint(out / "best.npz").metadata
    assert meta["model_name"] == "mini_resnet"
    assert meta["classes"] == ["dark", "grey", "bright"]
    assert (meta["image_size"], meta["color"], meta["input_shape"]) == (16, "grayscale", [1, 16, 16])
    assert meta["preprocessing"] == Standardizer("dataset").fit(TRAIN.images).to_dict()
    assert meta["epoch"] == history.best_epoch
    assert meta["val_accuracy"] == max(history.history["val_accuracy"])
    assert meta["seed"] == 3 and meta["split"] == {"val_fraction": 0.3, "seed": 3}
    # the architecture config is enough to rebuild the model and fill in the weights
    arch = meta["architecture"]
    rebuilt = models.build(meta["model_name"], arch["input_shape"], arch["num_classes"])
    load_weights(rebuilt, out / "best.npz")
    assert evaluate(rebuilt, VAL, preprocessing=meta["preprocessing"])["accuracy"] == \
        meta["val_accuracy"]


def test_evaluate_uses_the_saved_preprocessing(trained):
    out, _ = trained
    best = load_checkpoint(out / "best.npz")
    assert evaluate(best, VAL)["accuracy"] == best.metadata["val_accuracy"]


def test_predict_round_trip_through_an_image_file(trained, tmp_path):
    out, _ = trained
    path = str(tmp_path / "scan.png")
    Image.fromarray(VAL.images[5, 0]).save(path)                   # a 16x16 grayscale PNG
    probs = predict(str(out / "best.npz"), [path])
    model = mc.load(out / "best.npz")
    x = Standardizer.from_dict(model.metadata["preprocessing"]).transform(
        load_image(path, 16, "grayscale")[None])                   # 1,1,16,16 float32
    expected = softmax(model.forward(x).astype(np.float64))
    np.testing.assert_allclose(probs, expected, rtol=1e-6)
    np.testing.assert_allclose(predict(model, VAL.images[5:6]), expected, rtol=1e-6)
    # any size and mode is decoded to the checkpoint's: a 40x30 RGB image works too
    Image.new("RGB", (40, 30), (200, 10, 10)).save(tmp_path / "rgb.jpg")
    p = predict(model, [str(tmp_path / "rgb.jpg"), path])
    assert p.shape == (2, 3) and np.allclose(p.sum(axis=1), 1)


def test_save_is_atomic_and_refuses_nan(tmp_path):
    model = models.build("mini_resnet", input_shape=(1, 8, 8), num_classes=2)
    save_checkpoint(model, tmp_path / "good.npz", {"epoch": 1})
    assert os.listdir(tmp_path) == ["good.npz"]                    # no temporary file left
    model.params["0.W"][0, 0, 0, 0] = np.nan
    with pytest.raises(FloatingPointError, match="non-finite"):
        save_checkpoint(model, tmp_path / "good.npz", {"epoch": 2})
    assert load_checkpoint(tmp_path / "good.npz").metadata == {"epoch": 1}   # untouched


def test_old_argument_order_still_works_with_a_warning(tmp_path):
    """save_checkpoint/restore take the model first (as save_model, load_weights); the old
    (path, model) order keeps working for now but says it is deprecated."""
    model = models.build("mini_resnet", input_shape=(1, 8, 8), num_classes=2)
    with pytest.warns(DeprecationWarning, match=r"save_checkpoint\(model, path"):
        save_checkpoint(tmp_path / "old.npz", model, {"epoch": 4})
    fresh = models.build("mini_resnet", input_shape=(1, 8, 8), num_classes=2, seed=9)
    with pytest.warns(DeprecationWarning, match=r"restore\(model, path"):
        assert restore(str(tmp_path / "old.npz"), fresh) == {"epoch": 4}
    np.testing.assert_array_equal(fresh.params["0.W"], model.params["0.W"])


def test_optimizer_state_round_trip(tmp_path):
    model = models.build("mini_resnet", input_shape=(1, 8, 8), num_classes=2)
    opt = mc.Adam(model, lr=0.01)
    x, y = np.random.default_rng(0).standard_normal((4, 1, 8, 8)).astype(np.float32), [0, 1, 0, 1]
    for _ in range(3):
        _, dlogits = mc.softmax_cross_entropy(model.forward(x, training=True), y)
        model.backward(dlogits)
        opt.step()
    save_checkpoint(model, tmp_path / "last.npz", {"epoch": 3}, optimizer=opt)
    fresh = models.build("mini_resnet", input_shape=(1, 8, 8), num_classes=2, seed=9)
    fresh_opt = mc.Adam(fresh, lr=0.5)
    assert restore(fresh, tmp_path / "last.npz", fresh_opt) == {"epoch": 3}
    saved, restored = opt.state_dict(), fresh_opt.state_dict()
    assert saved.keys() == restored.keys() and restored["t"] == 3 and restored["lr"] == 0.01
    for key in saved:
        np.testing.assert_array_equal(restored[key], saved[key])
    for key, value in model.params.items():
        np.testing.assert_array_equal(fresh.params[key], value)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.npz does not exist"):
        load_checkpoint(tmp_path / "nothing.npz")
