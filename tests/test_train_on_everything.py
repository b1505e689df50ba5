"""``minicnn train --val-fraction 0``: a final model trained on every image, with no validation.

What this proves: every image reaches training and the checkpoint records a split with none held
out; the command says which file is the final model; whatever needs a validation split (the
report, ``recorded_split``) says in one line that this checkpoint has none instead of scoring it
on images it trained on; the model card says so too; fractions outside [0, 1) are refused.
"""
import os

import pytest

import minicnn
from minicnn.cli import main
from minicnn.data import load_bundled, recorded_split
from minicnn.serve.card import SPLIT_NONE, model_card, sample_scans, split_note
from helpers import write_images


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("everything")
    data = write_images(root / "data", 6, seed=5)
    out = root / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINICNN_CACHE_DIR", str(root / "cache"))
        code = main(["train", "--model", "mini_resnet", "--data", str(data), "--image-size", "20",
                     "--epochs", "2", "--batch-size", "4", "--val-fraction", "0", "--quiet",
                     "--out", str(out)])
    return code, out, data


def test_every_image_trains_and_none_is_held_out(run, capsys):
    code, out, _ = run
    assert code == 0
    last = minicnn.load(out / "last.npz")
    split = last.metadata["split"]
    assert split["val_fraction"] == 0 and split["n_val"] == 0 and split["n_train"] == 12
    assert last.metadata["train_data"]["n"] == 12 and last.metadata["val_data"] is None
    assert last.metadata["history"]["history"]["val_accuracy"] == [None, None]
    assert (out / "best.npz").is_file()


def test_the_command_names_the_final_model(tmp_path, monkeypatch, capsys):
    data = write_images(tmp_path / "data", 4, seed=6)
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["train", "--model", "mini_resnet", "--data", str(data), "--image-size", "20",
                 "--epochs", "1", "--batch-size", "4", "--val-fraction", "0",
                 "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "trained on all 8 images, with no validation" in out
    assert str(tmp_path / "run" / "last.npz") in out


def test_nothing_scores_it_on_its_own_training_images(run, capsys):
    _, out, _ = run
    meta = minicnn.load(out / "last.npz").metadata
    with pytest.raises(ValueError, match="no validation split"):
        recorded_split(load_bundled(), meta["split"])
    assert main(["report", "--checkpoint", str(out / "last.npz"),
                 "--out", str(out / "report")]) != 0
    err = capsys.readouterr().err.strip()
    assert "no validation split" in err and "\n" not in err


def test_the_model_card_says_there_is_no_validation(run):
    _, out, _ = run
    model = minicnn.load(out / "last.npz")
    card = model_card(model, str(out / "last.npz"), limits={})
    assert card["val_accuracy"] is None and card["leakage_note"].endswith(SPLIT_NONE)
    assert split_note({"val_fraction": 0.0, "duplicates_kept_together": True,
                       "mirrors_kept_together": True}) == SPLIT_NONE
    samples = sample_scans({"split": {"data": "bundled", "val_fraction": 0.0, "n_val": 0}},
                           load_bundled().classes)
    assert [s["split"] for s in samples] == ["bundled"] * 4       # not "validation": none exists


@pytest.mark.parametrize("bad", ["1", "-0.1", "nan", "1.5"])
def test_fractions_outside_zero_to_one_are_refused(bad, tmp_path, capsys):
    code = main(["train", "--model", "cnn5", "--val-fraction", bad, "--out", str(tmp_path / "r")])
    assert code != 0 and "--val-fraction must lie in [0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


CHECKPOINTS = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "checkpoints")
FINAL = sorted(d for d in os.listdir(CHECKPOINTS) if d.endswith("_all"))


def test_the_shipped_final_models_saw_every_image_and_ran_every_epoch():
    assert len(FINAL) >= 2
    for name in FINAL:
        meta = minicnn.load(os.path.join(CHECKPOINTS, name, "best.npz")).metadata
        assert meta["split"]["n_val"] == 0 and meta["split"]["val_fraction"] == 0, name
        assert meta["train_data"]["n"] == meta["split"]["n_train"] == 5708, name
        assert meta["epoch"] == meta["training"]["epochs"], name       # the final epoch
        twin = name[:-len("_all")]
        assert os.path.isfile(os.path.join(CHECKPOINTS, twin, "best.npz")), name
