"""``minicnn train`` with the model knobs, the optimizer choice, warm-up and augmentation settings.

What this proves: the knobs given on the command line reach the model (the checkpoint's
architecture and its weight shapes say so, and ``minicnn.load`` rebuilds that model); the
optimizer and the recipe are recorded; bad values are one-line errors before any training.
"""
import json

import numpy as np
import pytest

import minicnn
from minicnn.cli import main
from helpers import write_images


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("knobs")
    write_images(root / "train", 8, seed=3)
    return root


def train(data, tmp_path, monkeypatch, *extra):
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(data / "cache"))
    out = tmp_path / "run"
    code = main(["train", "--model", "cnn5", "--data", str(data / "train"), "--image-size", "32",
                 "--epochs", "2", "--batch-size", "8", "--out", str(out), "--quiet", *extra])
    return code, out


def test_knobs_and_recipe_reach_the_checkpoint(data, tmp_path, monkeypatch):
    code, out = train(data, tmp_path, monkeypatch, "--filters", "4,6,8,10,12", "--kernel-size",
                      "5", "--dense", "16", "--dropout", "0.25", "--optimizer", "sgd", "--lr",
                      "0.05", "--momentum", "0.5", "--schedule", "cosine", "--warmup", "1",
                      "--augment", "--max-rotate", "0", "--max-shift", "0.05", "--max-zoom",
                      "0.1", "--max-contrast", "0.2", "--max-brightness", "0.15")
    assert code == 0
    model = minicnn.load(out / "best.npz")
    arch = model.metadata["architecture"]
    assert arch["filters"] == [4, 6, 8, 10, 12] and arch["kernel_size"] == 5
    assert arch["dense"] == 16 and arch["dropout"] == 0.25
    assert model.layers[0].params["W"].shape == (4, 1, 5, 5)
    assert model.metadata["training"]["optimizer"] == "SGD"
    assert model.metadata["training"]["augment"]["max_rotate"] == 0
    assert model.metadata["training"]["augment"]["max_shift"] == 0.05
    assert {k: model.metadata["training"]["augment"][k] for k in
            ("max_zoom", "max_contrast", "max_brightness")} == {
                "max_zoom": 0.1, "max_contrast": 0.2, "max_brightness": 0.15}
    assert model.metadata["recipe"] == {"optimizer": "sgd", "lr": 0.05, "momentum": 0.5,
                                        "weight_decay": 0.0, "schedule": "cosine", "warmup": 1}
    lrs = json.loads((out / "history.json").read_text())["history"]["lr"]
    np.testing.assert_allclose(lrs, [0.025, 0.05])           # warm-up epoch, then the cosine's top


def test_width_scales_every_stage_and_optimizer_default_lr(data, tmp_path, monkeypatch):
    code, out = train(data, tmp_path, monkeypatch, "--width", "0.125", "--optimizer", "rmsprop")
    assert code == 0
    model = minicnn.load(out / "last.npz")
    assert model.metadata["architecture"]["filters"] == [8, 16, 32, 64, 64]
    assert model.metadata["recipe"]["lr"] == 1e-3 and model.metadata["training"]["optimizer"] == "RMSprop"


def test_split_seed_keeps_the_validation_split_and_seed_changes_the_weights(data, tmp_path, monkeypatch):
    runs = {}
    for name, extra in {"seed0": ("--seed", "0"), "seed1-split0": ("--seed", "1", "--split-seed", "0"),
                        "seed1": ("--seed", "1")}.items():
        code, out = train(data, tmp_path / name, monkeypatch, "--epochs", "1", *extra)
        assert code == 0
        runs[name] = minicnn.load(out / "last.npz")
    meta = {name: m.metadata for name, m in runs.items()}
    assert meta["seed1-split0"]["val_data"] == meta["seed0"]["val_data"]     # the same images
    assert meta["seed1-split0"]["split"]["seed"] == 0
    assert meta["seed1"]["val_data"] != meta["seed0"]["val_data"]            # --seed alone moves it
    w0, w1 = (runs[n].layers[0].params["W"] for n in ("seed0", "seed1-split0"))
    assert not np.array_equal(w0, w1)


@pytest.mark.parametrize("extra, match", [
    (["--filters", "4,x"], "--filters must be comma-separated"),
    (["--filters", "4,6"], "filters must be 5 positive counts"),
    (["--kernel-size", "4"], "kernel_size must be a positive odd number"),
    (["--warmup", "2"], "--warmup takes"),
    (["--momentum", "1.5"], "--momentum"),
    (["--augment", "--max-shift", "0.7"], "max_shift"),
    (["--augment", "--max-zoom", "0.5"], "max_zoom"),
    (["--augment", "--max-contrast", "nan"], "max_contrast"),
    (["--max-zoom", "0.1", "--max-brightness", "0.1"], "--max-zoom, --max-brightness take effect only with --augment"),
    (["--lr", "-1"], "--lr"),
])
def test_bad_values_are_one_line_errors(data, tmp_path, monkeypatch, capsys, extra, match):
    code, out = train(data, tmp_path, monkeypatch, *extra)
    err = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in err and match in err, err
    assert not (out / "last.npz").exists()
