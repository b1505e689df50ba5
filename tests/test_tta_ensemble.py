"""Test-time augmentation and ensembles, in the library and on the command line.

Proves: with a left-right symmetric input, TTA gives exactly the plain prediction, and otherwise it
is the mean of the image's and its mirror's probabilities; an ensemble of one model is that model;
an ensemble of models with different input sizes reads each image at each model's own size and
averages; models with different classes are refused; ``minicnn evaluate`` and ``predict`` take
several --checkpoint and --tta, and one checkpoint without TTA scores as ``evaluate`` does;
``examples/tta_ensemble.py`` prints its table with the held-out value of picking the best row, and
draws the images most models get wrong.
"""
import json
import os

import numpy as np
import pytest
from PIL import Image

from minicnn import models
from minicnn.cli import main
from minicnn.data import Standardizer, load_folder
from minicnn.training import evaluate, predict
from minicnn.training.inference import predict_ensemble

CLASSES = ["a", "b", "c"]


def _model(size, seed, classes=CLASSES):
    model = models.build("mini_resnet", input_shape=(1, size, size), num_classes=len(classes),
                         seed=seed, filters=4)
    rng = np.random.default_rng(seed)
    for k, v in model.buffers.items():          # fresh BN statistics would make outputs flat
        v[...] = rng.uniform(0.5, 1.5, v.shape) if "var" in k else rng.normal(0, 0.1, v.shape)
    model.metadata.update(classes=classes, image_size=size, color="grayscale",
                          preprocessing=Standardizer("per_batch").to_dict())
    return model


def _images(n=5, size=20, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 1, size, size), dtype=np.uint8)


def test_tta_on_a_symmetric_input_equals_no_tta():
    model = _model(20, 0)
    x = _images()
    x[..., 10:] = x[..., :10][..., ::-1]                        # mirror-symmetric images
    np.testing.assert_allclose(predict(model, x, tta=True), predict(model, x), rtol=0, atol=1e-12)


def test_tta_averages_the_image_and_its_mirror():
    model = _model(20, 0)
    x = _images()
    expected = (predict(model, x) + predict(model, x[..., ::-1])) / 2
    got = predict(model, x, tta=True)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert not np.allclose(got, predict(model, x))             # the mirror did change something


def test_ensemble_of_one_is_the_model():
    model = _model(20, 1)
    x = _images()
    np.testing.assert_array_equal(predict_ensemble([model], x), predict(model, x))
    np.testing.assert_array_equal(predict_ensemble([model], x, tta=True),
                                  predict(model, x, tta=True))


def _write_folder(root, n_per_class=2, size=30):
    rng = np.random.default_rng(5)
    paths = []
    for cls in CLASSES:
        os.makedirs(root / cls)
        for i in range(n_per_class):
            paths.append(str(root / cls / f"{i}.png"))
            Image.fromarray(rng.integers(0, 256, (size, size + 7), dtype=np.uint8)).save(paths[-1])
    return paths


def test_ensemble_of_different_input_sizes(tmp_path):
    paths = _write_folder(tmp_path / "imgs")
    small, large = _model(16, 2), _model(24, 3)
    probs = predict_ensemble([small, large], paths, tta=True)
    expected = (predict(small, paths, tta=True) + predict(large, paths, tta=True)) / 2
    assert probs.shape == (len(paths), 3)
    np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
    loaded = predict_ensemble([small, large], lambda size, color: load_folder(
        tmp_path / "imgs", image_size=size, color=color, cache=False).images)
    np.testing.assert_allclose(loaded, predict_ensemble([small, large], paths), atol=1e-12)


def test_ensemble_errors():
    with pytest.raises(ValueError, match="at least one"):
        predict_ensemble([], _images())
    with pytest.raises(ValueError, match="classes"):
        predict_ensemble([_model(20, 0), _model(20, 1, classes=["x", "y", "z"])], _images())


def test_cli_ensemble_and_tta(tmp_path, capsys):
    paths = _write_folder(tmp_path / "test")
    ckpts = []
    for size, seed in ((16, 2), (24, 3)):
        model = _model(size, seed)
        ckpts.append(str(tmp_path / f"m{size}.npz"))
        model.save(ckpts[-1], metadata=model.metadata)
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", ckpts[0], "--data", str(tmp_path / "test"),
                 "--json"]) == 0
    single = json.loads(capsys.readouterr().out)
    ds = load_folder(tmp_path / "test", image_size=16)
    assert single["accuracy"] == evaluate(_model(16, 2), ds)["accuracy"]
    args = ["--checkpoint", ckpts[0], "--checkpoint", ckpts[1], "--tta"]
    assert main(["evaluate", *args, "--data", str(tmp_path / "test"), "--json"]) == 0
    both = json.loads(capsys.readouterr().out)
    probs = predict_ensemble([_model(16, 2), _model(24, 3)], paths, tta=True)
    assert both["tta"] and both["checkpoint"] == ckpts and both["n"] == len(paths)
    assert both["accuracy"] == float((probs.argmax(1) == ds.labels).mean())
    assert main(["predict", *args, "--json", *paths[:2]]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    first_two = predict_ensemble([_model(16, 2), _model(24, 3)], paths[:2], tta=True)  # per_batch
    assert [d["probability"] for d in lines] == pytest.approx(first_two.max(axis=1), abs=1e-12)


def _run_example(tmp_path, members, folders, *extra):
    """Save ``members`` as tmp_path/<folder>/best.npz, run examples/tta_ensemble.py on them;
    -> its standard output."""
    import subprocess
    import sys
    root = os.path.join(os.path.dirname(__file__), os.pardir)
    args = list(extra)
    for model, folder in zip(members, folders):
        model.metadata["split"] = {"data": str(tmp_path / "data"), "val_fraction": 0.5, "seed": 0}
        os.makedirs(tmp_path / folder, exist_ok=True)
        model.save(tmp_path / folder / "best.npz", metadata=model.metadata)
        args += ["--checkpoint", str(tmp_path / folder / "best.npz")]
    return subprocess.run([sys.executable, os.path.join(root, "examples", "tta_ensemble.py"), *args],
                          capture_output=True, text=True, check=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": root,
                               "MINICNN_CACHE_DIR": str(tmp_path / "cache")}).stdout


def test_the_example_script_on_two_small_checkpoints(tmp_path):
    _write_folder(tmp_path / "data", n_per_class=6)
    members = [_model(size, seed) for size, seed in ((16, 2), (24, 3))]
    png = tmp_path / "hard.png"
    out = _run_example(tmp_path, members, ["m16", "m24"], "--mistakes", str(png))
    rows = [line for line in out.splitlines() if line.startswith("| ")][1:]   # 2 singles + 1 pair
    assert len(rows) == 3
    from minicnn.data import leak_free_split
    wrong = []
    for model in members:                              # the validation half, at each model's size
        ds = load_folder(tmp_path / "data", image_size=model.metadata["image_size"], cache=False)
        _, val, _ = leak_free_split(ds, 0.5, 0)
        wrong.append(predict(model, val.images).argmax(1) != val.labels)
    singles = [100 * (1 - w.mean()) for w in wrong]
    assert [float(r.split("|")[2].strip(" %")) for r in rows[:2]] == pytest.approx(singles, abs=0.051)
    best = [line for line in out.splitlines() if line.startswith("best single model, plain of 2: ")]
    assert len(best) == 1 and f"{max(singles):.1f}% on these images" in best[0]
    assert any(line.startswith("best row of the table of 6: ") for line in out.splitlines())
    majority = int(np.sum(np.sum(wrong, axis=0) > 1))
    assert f"{majority} images are wrong for a majority of the 2 models" in out
    assert png.stat().st_size > 1000


def test_the_example_names_two_runs_of_one_recipe_by_their_folders(tmp_path):
    _write_folder(tmp_path / "data", n_per_class=6)
    out = _run_example(tmp_path, [_model(16, 2), _model(16, 2)], ["run_a", "run_b"])
    rows = [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("| ")][1:]
    assert rows[:2] == ["mini_resnet (filters 4-4, 16x16) [run_a]",
                        "mini_resnet (filters 4-4, 16x16) [run_b]"]


def test_the_example_labels_the_training_settings_a_recipe_varies():
    import importlib.util
    path = os.path.join(os.path.dirname(__file__), os.pardir, "examples", "tta_ensemble.py")
    spec = importlib.util.spec_from_file_location("tta_ensemble", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    model = _model(16, 2)
    assert example.label(model) == "mini_resnet (filters 4-4, 16x16)"
    model.metadata.update(crop=True, seed=2, training={"ema": 0.999, "label_smoothing": 0.1, "mixup": 0.2})
    assert example.label(model) == ("mini_resnet (filters 4-4, 16x16, cropped, seed 2, ema 0.999, "
                                    "label smoothing 0.1, mixup 0.2)")


@pytest.mark.slow
def test_the_readme_table_is_what_the_example_prints():
    import subprocess
    import sys
    root = os.path.join(os.path.dirname(__file__), os.pardir)
    out = subprocess.run([sys.executable, os.path.join(root, "examples", "tta_ensemble.py")],
                         capture_output=True, text=True, check=True, cwd=root,
                         env={**os.environ, "PYTHONPATH": root}).stdout
    table = [line for line in out.splitlines() if line.startswith("| ")]
    readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
    assert len(table) == 8 and all(line in readme for line in table)
