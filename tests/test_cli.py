"""The ``minicnn`` command's train / evaluate / predict / summary, run through ``main([...])``.

What this proves:
- happy path on a tiny generated folder: train writes best/last/history and says where;
  evaluate --json prints one JSON object with the promised keys, and with --train-data it
  counts only the test images that are not copies of training images; predict prints the top
  class and every probability; summary prints the layer table;
- user errors (missing or invalid files, bad model names, image sizes too small or not
  available) give one line on stderr and a non-zero exit, never a traceback.
"""
import json
import re
import shutil

import numpy as np
import pytest

from minicnn.cli import main
from helpers import IMAGE_CLASSES as CLASSES, write_images


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Train mini_resnet for one epoch on a 24-image folder; return the tmp folder."""
    root = tmp_path_factory.mktemp("cli")
    mp = pytest.MonkeyPatch()
    mp.setenv("MINICNN_CACHE_DIR", str(root / "cache"))       # keep the decode cache in tmp
    write_images(root / "train", 12, seed=0)
    code = main(["train", "--model", "mini_resnet", "--data", str(root / "train"),
                 "--image-size", "16", "--epochs", "1", "--batch-size", "8",
                 "--out", str(root / "run"), "--quiet"])
    mp.undo()
    assert code == 0
    return root


def test_train_writes_checkpoints(run_dir):
    assert sorted(p.name for p in (run_dir / "run").iterdir()) == \
        ["best.npz", "history.json", "last.npz"]


def test_train_says_where_the_checkpoint_went(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path / "cache"))
    write_images(tmp_path / "data", 6, seed=2)
    out = tmp_path / "out"
    assert main(["train", "--model", "mini_resnet", "--data", str(tmp_path / "data"),
                 "--image-size", "8", "--epochs", "1", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "epoch 1/1  loss" in stdout and f"best checkpoint: {out / 'best.npz'}" in stdout


def test_evaluate_json_and_leakage_aware_accuracy(run_dir, monkeypatch, capsys):
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(run_dir / "cache"))
    test = write_images(run_dir / "test", 4, seed=1)                  # 8 new images
    for name, i in [("dark", 0), ("dark", 1), ("bright", 0)]:      # + 3 copies of training ones
        shutil.copy(run_dir / "train" / name / f"img{i}.png", test / name / f"copy{i}.png")
    capsys.readouterr()
    args = ["evaluate", "--checkpoint", str(run_dir / "run" / "best.npz"), "--data", str(test)]
    assert main(args + ["--train-data", str(run_dir / "train"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)                      # exactly one JSON object
    assert result["n"] == 11 and result["classes"] == CLASSES
    assert np.array(result["confusion_matrix"]).sum() == 11
    assert set(result["per_class"]) == set(CLASSES) and 0 <= result["accuracy"] <= 1
    assert result["n_excluding"] == 8                                # the copies are left out
    assert main(args) == 0
    assert "confusion matrix (rows = true class" in capsys.readouterr().out


def test_evaluate_on_the_training_folder_scores_only_its_validation_split(run_dir, tmp_path,
                                                                         monkeypatch, capsys):
    """--data the checkpoint trained on: the recorded validation split, not all 24 images; an
    ensemble whose members hold out different splits, or one trained on every image, is refused."""
    from minicnn.training import load_checkpoint
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(run_dir / "cache"))
    best, train = str(run_dir / "run" / "best.npz"), str(run_dir / "train")
    split = load_checkpoint(best).metadata["split"]
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", best, "--data", train, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert 0 < result["n"] == split["n_val"] < 24 and result["validation_split"] == split
    assert main(["evaluate", "--checkpoint", best, "--data", train]) == 0
    assert f"the validation split of {train} (20%, seed 0, {split['n_val']} images" in \
        capsys.readouterr().out
    other = write_images(tmp_path / "other", 4, seed=5)        # a model of another folder joins
    assert main(["evaluate", "--checkpoint", best, "--checkpoint", best, "--data", str(other),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 8       # not a training folder: all
    for extra, match in ((["--split-seed", "1"], "different validation splits"),
                         (["--val-fraction", "0"], "trained on every image")):
        out = tmp_path / "+".join(extra)
        assert main(["train", "--model", "mini_resnet", "--data", train, "--image-size", "16",
                     "--epochs", "1", "--batch-size", "8", "--out", str(out), "--quiet", *extra]) == 0
        one_line_error(capsys, ["evaluate", "--checkpoint", best, "--checkpoint",
                                str(out / ("best.npz" if "1" in extra else "last.npz")),
                                "--data", train], match)
    one_line_error(capsys, ["evaluate", "--checkpoint", best, "--data", train, "--train-data",
                            train], "drop --train-data")


def test_predict_prints_top_class_and_probabilities(run_dir, capsys):
    images = [str(run_dir / "train" / c / "img0.png") for c in CLASSES]
    capsys.readouterr()
    assert main(["predict", "--checkpoint", str(run_dir / "run" / "best.npz"), *images]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(images[0])
    row = r"  (bright|dark) \([01]\.\d{3}\)   bright [01]\.\d{3}  dark [01]\.\d{3}$"
    assert all(re.search(row, line) for line in lines), lines
    assert main(["predict", "--json", "--checkpoint", str(run_dir / "run" / "best.npz"),
                 images[1]]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["class"] in CLASSES and sum(row["probabilities"].values()) == pytest.approx(1)


def test_summary(capsys):
    assert main(["summary", "--model", "cnn5", "--image-size", "32"]) == 0
    out = capsys.readouterr().out
    assert "(1, 32, 32)" in out and "Dense" in out and "Total params" in out


def one_line_error(capsys, argv, match):
    """main(argv) fails with exit code 1 and one stderr line containing ``match``."""
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and match in err, err


def test_errors_are_one_line(run_dir, tmp_path, capsys):
    best = str(run_dir / "run" / "best.npz")
    one_line_error(capsys, ["predict", "--checkpoint", str(tmp_path / "no.npz"), "x.png"],
                   "does not exist")
    one_line_error(capsys, ["predict", "--checkpoint", best, str(tmp_path / "no.png")],
                   "no.png does not exist")
    (tmp_path / "fake.png").write_text("not an image")
    one_line_error(capsys, ["predict", "--checkpoint", best, str(tmp_path / "fake.png")], "fake.png")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    one_line_error(capsys, ["evaluate", "--checkpoint", str(tmp_path / "other.npz"),
                            "--data", str(run_dir / "train")], "not a minicnn model file")
    one_line_error(capsys, ["evaluate", "--checkpoint", best, "--data", str(tmp_path / "none")],
                   "does not exist")
    shutil.copytree(run_dir / "train", tmp_path / "kaggle" / "Training")  # a root, no Testing/
    one_line_error(capsys, ["evaluate", "--checkpoint", best, "--data", str(tmp_path / "kaggle")],
                   "has a Training/ folder but no Testing/ folder")
    one_line_error(capsys, ["train", "--model", "cnn5", "--data", str(run_dir / "train"),
                            "--image-size", "16"], "too small")
    one_line_error(capsys, ["train", "--model", "cnn5", "--epochs", "0"], "--epochs")
    one_line_error(capsys, ["summary", "--model", "mini_vgg", "--image-size", "4"], "too small")


def test_bundled_data_has_one_size(capsys):
    one_line_error(capsys, ["train", "--model", "mini_resnet", "--image-size", "150"],
                   "bundled dataset is 64x64")


def test_unknown_model_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--model", "resnet50"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'resnet50'" in capsys.readouterr().err
