"""Saving and loading: one .npz file in, the same model out -- in this process or a fresh one.

Proves: a loaded model gives identical outputs (BatchNorm running statistics included), keeps
its dtype and metadata and extra arrays, also in a brand-new Python process; a file that does
not fit the model is refused with an error naming the first mismatch; files are read without
pickle (an object array is rejected); saving writes exactly ``path`` and is atomic.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn.layers.base import LAYER_REGISTRY
from minicnn.serialization import load_weights


def make_model(channels=4, dtype=np.float32):
    return mc.Sequential([
        mc.Conv2D(1, channels, 3, padding=1, dtype=dtype, rng=0), mc.BatchNorm2D(channels, dtype=dtype),
        mc.ReLU(dtype=dtype), mc.ResidualBlock.basic(channels, 8, stride=2, dtype=dtype, rng=1),
        mc.GlobalAvgPool2D(dtype=dtype), mc.Dense(8, 3, dtype=dtype, rng=2)], input_shape=(1, 8, 8))


@pytest.fixture
def trained(rng):
    """A model whose BatchNorm running stats have moved (a few training-mode forwards)."""
    model = make_model()
    for _ in range(3):
        model.forward(rng.standard_normal((4, 1, 8, 8)).astype(np.float32), training=True)
    x = rng.standard_normal((5, 1, 8, 8)).astype(np.float32)
    return model, x


def test_round_trip(tmp_path, trained):
    model, x = trained
    meta = {"classes": ["glioma", "meningioma", "notumor"], "epoch": 7, "val_accuracy": np.float32(0.875)}
    model.save(tmp_path / "m.npz", metadata=meta, extra_arrays={"t": 12, "m.0.W": np.ones((2, 2))})
    loaded = mc.load(tmp_path / "m.npz")
    assert np.array_equal(loaded.forward(x), model.forward(x))        # inference mode: uses buffers
    for k, b in model.buffers.items():
        assert np.array_equal(loaded.buffers[k], b), k
    assert loaded.metadata == {"classes": ["glioma", "meningioma", "notumor"], "epoch": 7,
                               "val_accuracy": pytest.approx(0.875)}
    assert loaded.extra["t"] == 12 and np.array_equal(loaded.extra["m.0.W"], np.ones((2, 2)))
    assert loaded.dtype == np.float32 and loaded.input_shape == (1, 8, 8)
    assert mc.load(_save(make_model(), tmp_path / "plain.npz")).metadata == {}


def _save(model, path, **kw):
    model.save(path, **kw)
    return path


def test_fresh_process_gets_identical_outputs(tmp_path, trained):
    model, x = trained
    model.save(tmp_path / "m.npz")
    np.save(tmp_path / "x.npy", x)
    code = ("import sys, numpy as np, minicnn as mc\n"
            "m = mc.load(sys.argv[1] + '/m.npz')\n"
            "np.save(sys.argv[1] + '/y.npy', m.forward(np.load(sys.argv[1] + '/x.npy')))\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=120)
    assert np.array_equal(np.load(tmp_path / "y.npy"), model.forward(x))


def test_load_weights_into_an_existing_model(tmp_path, trained):
    model, x = trained
    model.save(tmp_path / "m.npz", metadata={"epoch": 3})
    other = make_model()
    w = other.params["0.W"]
    assert load_weights(other, tmp_path / "m.npz") == {"epoch": 3}
    assert other.params["0.W"] is w                          # filled in place
    assert np.array_equal(other.forward(x), model.forward(x))


def test_mismatches_name_the_first_difference(tmp_path):
    make_model(channels=4).save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match=r"param '0.W': file has shape \(4, 1, 3, 3\), "
                                         r"model expects \(6, 1, 3, 3\)"):
        load_weights(make_model(channels=6), tmp_path / "m.npz")
    smaller = mc.Sequential(make_model().layers[:-1])              # no final Dense
    with pytest.raises(ValueError, match="the file has param '5.W', which the model does not have"):
        load_weights(smaller, tmp_path / "m.npz")
    smaller.save(tmp_path / "small.npz")
    with pytest.raises(ValueError, match="param '5.W' is missing from the file"):
        load_weights(make_model(), tmp_path / "small.npz")


def _rewrite(path, change):
    """Edit a saved file's arrays with ``change(dict)`` (simulates other versions / corruption)."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    change(arrays)
    np.savez(path, **arrays)


def test_unknown_class_and_foreign_files_are_refused(tmp_path):
    path = tmp_path / "m.npz"
    make_model().save(path)

    def rename(a):
        header = json.loads(str(a["__minicnn__"]))
        header["model"]["config"]["layers"][2]["class"] = "Swish"
        a["__minicnn__"] = np.array(json.dumps(header))
    _rewrite(path, rename)
    with pytest.raises(ValueError, match="unknown layer class 'Swish'"):
        mc.load(path)
    np.savez(tmp_path / "other.npz", W=np.zeros(3))
    with pytest.raises(ValueError, match="not a minicnn model file"):
        mc.load(tmp_path / "other.npz")


def test_pickled_object_arrays_are_rejected(tmp_path):
    path = tmp_path / "m.npz"
    make_model().save(path)
    _rewrite(path, lambda a: a.update({"extra/evil": np.array([{"run": "code"}], dtype=object)}))
    with pytest.raises(ValueError, match="without pickle"):
        mc.load(path)


def test_save_writes_exactly_path_and_is_atomic(tmp_path, monkeypatch):
    model = make_model()
    model.save(tmp_path / "best")                            # no ".npz" appended
    assert os.listdir(tmp_path) == ["best"]
    good = (tmp_path / "best").read_bytes()

    def crash(*args, **kwargs):                              # e.g. disk full or Ctrl-C mid-write
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        model.save(tmp_path / "best")
    assert os.listdir(tmp_path) == ["best"]                  # no temp file left behind
    assert (tmp_path / "best").read_bytes() == good          # the old file is intact
    monkeypatch.undo()
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        model.save(tmp_path / "x.npz", metadata={"f": open})
    assert not (tmp_path / "x.npz").exists()


def test_float64_models_stay_float64(tmp_path, rng):
    model = make_model(dtype=np.float64)
    model.save(tmp_path / "m.npz")
    loaded = mc.load(tmp_path / "m.npz")
    x = rng.standard_normal((2, 1, 8, 8))
    assert loaded.params["0.W"].dtype == np.float64
    assert np.array_equal(loaded.forward(x), model.forward(x))


def test_the_registry_refuses_a_second_class_with_a_taken_name():
    """Another class called Dense would silently change what every later load builds."""
    with pytest.raises(ValueError, match=r"'Dense' is already registered \(minicnn.layers.dense.Dense\)"):
        type("Dense", (mc.Layer,), {})
    assert LAYER_REGISTRY["Dense"] is mc.Dense

    def define():                                   # the same class defined again: replaced
        class LocalLayer(mc.ReLU):
            pass
        return LocalLayer
    first, second = define(), define()
    assert first is not second and LAYER_REGISTRY["LocalLayer"] is second
