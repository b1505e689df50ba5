"""The report's tuning knobs on the three builders: filters/width, kernel size, stride, dense, dropout.

Proves: the knobs stored in each shipped checkpoint rebuild its exact architecture (the
checkpoints load into a freshly built model and give the same outputs), and with the default
knobs the builders give the report's architectures (the PyTorch twins' tests check those); each knob changes
what it says (filter counts, kernel shapes, first-layer stride, head); the knobs are stored in the
architecture metadata, survive save and load, and ``from_architecture`` rebuilds the very same
model; bad knobs are ValueErrors that name the knob.
"""
import json
import os

import numpy as np
import pytest

import minicnn
from minicnn.training import fit
from minicnn import models
from minicnn.containers import layer_spec
from minicnn.data import load_bundled
from minicnn.serialization import load_weights

CHECKPOINTS = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "checkpoints")


@pytest.mark.parametrize("name", sorted(d for d in os.listdir(CHECKPOINTS)
                                         if os.path.isdir(os.path.join(CHECKPOINTS, d))))
def test_shipped_checkpoints_rebuild_from_their_knobs(name):
    path = os.path.join(CHECKPOINTS, name, "best.npz")
    shipped = minicnn.load(path)                                  # rebuilt from its layer specs
    fresh = models.from_architecture(shipped.metadata["architecture"])
    assert json.dumps(layer_spec(fresh)) == json.dumps(layer_spec(shipped))
    load_weights(fresh, path)
    shape = tuple(shipped.metadata["architecture"]["input_shape"])
    x = np.random.default_rng(0).standard_normal((4, *shape)).astype(np.float32)
    np.testing.assert_array_equal(fresh.forward(x), shipped.forward(x))


def _convs(model):
    return [layer for layer in model.layers if isinstance(layer, minicnn.Conv2D)]


def test_knobs_change_what_they_say():
    base = models.build("cnn5")
    assert [c.params["W"].shape[0] for c in _convs(base)] == [64, 128, 256, 512, 512]
    half = models.build("cnn5", width=0.5, kernel_size=5, stride=2, dense=128, dropout=0.25)
    convs = _convs(half)
    assert [c.params["W"].shape[0] for c in convs] == [32, 64, 128, 256, 256]
    assert all(c.params["W"].shape[2:] == (5, 5) for c in convs)
    assert [c.stride for c in convs] == [(2, 2)] + [(1, 1)] * 4
    dense = [layer for layer in half.layers if isinstance(layer, minicnn.Dense)]
    assert dense[0].params["W"].shape == (256 * 1 * 1, 128)      # 64 -> 32 (stride) -> /32 = 1
    assert [d.rate for d in half.layers if isinstance(d, minicnn.Dropout)] == [0.25]
    assert half.forward(np.zeros((2, 1, 64, 64), np.float32)).shape == (2, 4)
    vgg = models.build("mini_vgg", filters=(8, 16, 32), dense=0)
    assert [c.params["W"].shape[0] for c in _convs(vgg)] == [8, 8, 16, 16, 32, 32]
    assert sum(isinstance(layer, minicnn.Dense) for layer in vgg.layers) == 1
    res = models.build("mini_resnet", width=2, kernel_size=5, dense=32, dropout=0.5)
    assert res.forward(np.zeros((2, 1, 40, 40), np.float32)).shape == (2, 4)
    assert _convs(res)[0].params["W"].shape == (128, 1, 7, 7)
    assert res.layers[4].main.layers[0].params["W"].shape == (128, 128, 5, 5)


@pytest.mark.parametrize("name, knobs", [
    ("cnn5", dict(width=0.25, kernel_size=5, dense=16)),
    ("mini_vgg", dict(filters=(4, 8, 8), dense=16, dropout=0.1)),
    ("mini_resnet", dict(filters=8, kernel_size=5, stride=1, dense=8, dropout=0.2)),
])
def test_knobs_round_trip_through_save_and_load(tmp_path, name, knobs):
    model = models.build(name, input_shape=(1, 32, 32), num_classes=3, seed=5, **knobs)
    arch = model.metadata["architecture"]
    assert {k: arch[k] for k in ("kernel_size", "stride")} == {
        "kernel_size": knobs.get("kernel_size", 3),
        "stride": knobs.get("stride", 2 if name == "mini_resnet" else 1)}
    model.save(tmp_path / "m.npz", metadata=model.metadata)
    loaded = minicnn.load(tmp_path / "m.npz")
    x = np.random.default_rng(1).standard_normal((3, 1, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))
    rebuilt = models.from_architecture(loaded.metadata["architecture"])   # same seed: same weights
    assert json.dumps(layer_spec(rebuilt)) == json.dumps(layer_spec(model))
    np.testing.assert_array_equal(rebuilt.forward(x), model.forward(x))


def test_fit_stores_the_knobs_in_the_checkpoint(tmp_path):
    ds = load_bundled().subset(np.arange(0, 5708, 400))
    model = models.build("mini_resnet", input_shape=(1, 64, 64), filters=4, kernel_size=5)
    fit(model, ds, epochs=1, out_dir=tmp_path, verbose=False)
    arch = minicnn.load(tmp_path / "best.npz").metadata["architecture"]
    assert arch["filters"] == [4] and arch["kernel_size"] == 5


@pytest.mark.parametrize("knobs, match", [
    (dict(depth=3), "unknown model knob"), (dict(kernel_size=4), "kernel_size"),
    (dict(filters=(8, 8)), "filters"), (dict(width=0), "width"), (dict(dropout=1.0), "dropout"),
    (dict(stride=2), "too small"),
])
def test_bad_knobs(knobs, match):
    with pytest.raises(ValueError, match=match):
        models.build("cnn5", input_shape=(1, 48, 48), **knobs)
