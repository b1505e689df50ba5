"""``minicnn report`` and ``minicnn compare`` write what they promise.

- write_report: every figure it links from report.md exists and is a valid PNG, and the page
  states the headline numbers that ``evaluate`` computes (accuracy, n, per-class F1).
- the CLI: a checkpoint trained by ``minicnn train`` gets a report on its own validation split
  (rebuilt from the checkpoint's metadata) or on another folder given with --data.
- compare: the table holds each run's numbers next to the report's and the Kaggle notebooks'
  (CNN5 93.8%, Mini-VGGNet 89%, Mini-ResNet 93%; VGG16 92.87%, ResNet50 77%, 6-conv CNN 76.74%)
  with the source of every number, and the bar chart is a real PNG.
"""
import re

import numpy as np
import pytest
from PIL import Image

import minicnn as mc
from minicnn.cli import main
from minicnn.training import evaluate
from minicnn.training.history import History
from minicnn.viz.compare import compare_runs
from minicnn.viz.report import write_report
from helpers import assert_png, write_images

CLASSES = ["glioma", "meningioma", "notumor"]


def linked_images(md_path):
    """The files report.md shows with ![...](file)."""
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md_path.read_text(encoding="utf-8"))


def tiny_run(folder, seed=0, model_name="mini_resnet", val_accuracy=0.75):
    """A tiny model saved as folder/best.npz with fit-like metadata, plus a history.json."""
    rng = np.random.default_rng(seed)
    model = mc.Sequential([mc.Conv2D(1, 4, 3, padding=1, rng=rng), mc.BatchNorm2D(4), mc.ReLU(),
                           mc.Conv2D(4, 6, 3, stride=2, padding=1, rng=rng), mc.ReLU(),
                           mc.GlobalAvgPool2D(), mc.Dense(6, 3, rng=rng)])
    model.metadata = {"model_name": model_name, "classes": CLASSES, "image_size": 16,
                      "color": "grayscale", "input_shape": [1, 16, 16], "preprocessing": None,
                      "epoch": 3, "val_accuracy": val_accuracy,
                      "split": {"data": "bundled", "val_fraction": 0.2, "seed": 0, "n_val": 12}}
    folder.mkdir(parents=True, exist_ok=True)
    model.save(str(folder / "best.npz"), metadata=model.metadata)
    History({"loss": [1.0, 0.8, 0.7], "accuracy": [0.4, 0.6, 0.7], "val_loss": [1.1, 0.9, 0.8],
             "val_accuracy": [0.5, 0.6, val_accuracy], "epoch_time": [10.0, 11.0, 12.0],
             "lr": [1e-3] * 3}).to_json(folder / "history.json")
    return model


def tiny_dataset(n=12, seed=0):
    from minicnn.data import Dataset
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 1, 16, 16)).astype(np.uint8)
    return Dataset(images, np.arange(n) % 3, CLASSES, image_size=16, color="grayscale")


def test_write_report_links_existing_figures_and_states_the_numbers(tmp_path):
    model = tiny_run(tmp_path / "run")
    ds = tiny_dataset()
    md = write_report(model, ds, tmp_path / "out", checkpoint=tmp_path / "run" / "best.npz",
                      data_description="the validation split of test data")
    files = linked_images(md)
    assert set(files) == {"curves.png", "confusion.png", "feature_maps.png", "gradcam.png",
                          "gradcam_classes.png", "mistakes.png"}
    for f in files:
        assert_png(tmp_path / "out" / f)
    text = md.read_text(encoding="utf-8")
    result = evaluate(model, ds)
    assert f"**Accuracy {result['accuracy']:.1%}** on n = 12 images" in text
    for name, m in result["per_class"].items():
        assert f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | 4 |" in text
    assert "not results on the official Testing split" in text


@pytest.mark.parametrize("training, says", [
    (None, []), ({"mixup": None, "label_smoothing": 0.0}, []),
    ({"mixup": 0.2, "label_smoothing": 0.0}, ["mixup (alpha 0.2)", "blended images"]),
    ({"mixup": None, "label_smoothing": 0.1}, ["labels smoothed by 0.1"]),
    ({"mixup": 0.4, "label_smoothing": 0.1}, ["mixup (alpha 0.4)", "labels smoothed by 0.1"])])
def test_the_curves_caption_says_what_the_training_loss_was_taken_against(tmp_path, training, says):
    model = tiny_run(tmp_path / "run")
    if training is not None:
        model.metadata["training"] = training
    md = write_report(model, tiny_dataset(), tmp_path / "out",
                      checkpoint=tmp_path / "run" / "best.npz")
    caption = md.read_text(encoding="utf-8").split("![Training curves](curves.png)")[1]
    caption = caption.split("## ")[0]
    assert "the star marks the best validation epoch" in caption
    for text in says:
        assert text in caption
    assert ("blended" in caption) == (training is not None and bool(training["mixup"]))
    assert ("smoothed" in caption) == (training is not None and bool(training["label_smoothing"]))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """minicnn train on a 24-image folder (one epoch), as a user would."""
    root = tmp_path_factory.mktemp("report")
    mp = pytest.MonkeyPatch()
    mp.setenv("MINICNN_CACHE_DIR", str(root / "cache"))
    write_images(root / "train", 12, seed=0)
    assert main(["train", "--model", "mini_resnet", "--data", str(root / "train"), "--image-size",
                 "16", "--epochs", "1", "--batch-size", "8", "--out", str(root / "run"),
                 "--quiet"]) == 0
    yield root
    mp.undo()


def test_cli_report_on_the_validation_split(trained, capsys):
    assert main(["report", "--checkpoint", str(trained / "run" / "best.npz")]) == 0
    out = trained / "run" / "report"                                  # default: beside it
    assert "validation split" in capsys.readouterr().out
    text = (out / "report.md").read_text(encoding="utf-8")
    n_val = mc.load(str(trained / "run" / "best.npz")).metadata["split"]["n_val"]
    assert f"on n = {n_val} images" in text and "## Grad-CAM" in text
    for f in linked_images(out / "report.md"):
        assert_png(out / f)


def test_cli_report_on_another_folder(trained, tmp_path, capsys):
    write_images(tmp_path / "test", 3, seed=5)
    assert main(["report", "--checkpoint", str(trained / "run" / "best.npz"), "--data",
                 str(tmp_path / "test"), "--out", str(tmp_path / "r")]) == 0
    assert "on n = 6 images" in (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert main(["report", "--checkpoint", str(tmp_path / "missing.npz")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_compare_table_and_chart(tmp_path, capsys, monkeypatch):
    tiny_run(tmp_path / "a", model_name="cnn5", val_accuracy=0.9)
    tiny_run(tmp_path / "b", seed=1, model_name="mini_resnet", val_accuracy=0.85)
    md, png = compare_runs([tmp_path / "a", tmp_path / "b"], tmp_path / "cmp")
    text = md.read_text(encoding="utf-8")
    assert "| CNN5 (minicnn) | 90.0% | validation (n = 12)" in text
    assert "| Mini-ResNet (minicnn) | 85.0% |" in text
    for row in ["| CNN5 (report) | 93.8% |", "| Mini-VGGNet (report) | 89% |",
                "| Mini-ResNet (report) | 93% |", "| VGG16 (Kaggle) | 92.87% |",
                "| ResNet50 (Kaggle) | 77% |", "| 6-conv CNN (Kaggle) | 76.74% |"]:
        assert row in text
    assert text.count("| the student report |") == 3 and text.count("cited by the report |") == 3
    assert "this run" in text and "33 s (3)" in text                  # 10 + 11 + 12 seconds
    assert "not available here" in text                              # validation vs test
    assert_png(png, (1200, 650))
    assert main(["compare", str(tmp_path / "a"), "--out", str(tmp_path / "cli")]) == 0
    assert "| CNN5 (minicnn) |" in capsys.readouterr().out
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)                       # without --out: printed, nothing written
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert "| Mini-ResNet (minicnn) | 85.0% |" in capsys.readouterr().out
    assert list(here.iterdir()) == []
    assert main(["compare", str(tmp_path / "nothing")]) == 1


def test_compare_names_a_run_trained_without_validation(tmp_path, capsys):
    """A final model trained on every image has no validation accuracy: compare says why."""
    model = tiny_run(tmp_path / "all")
    model.metadata.update(val_accuracy=None, val_data=None)
    model.save(str(tmp_path / "all" / "best.npz"), metadata=model.metadata)
    assert main(["compare", str(tmp_path / "all")]) == 1
    err = capsys.readouterr().err
    assert "trained on every image, with no validation split" in err, err
