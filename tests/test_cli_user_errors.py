"""What evaluate, report, predict, export, serve, audit and compare say when the user's input is
wrong: one line naming the problem, never a temporary file's name or an errno, and never a
wrong answer.

What this proves:
- a checkpoint's validation split is rebuilt only from the folder it was trained on as it was:
  after an image is added, ``evaluate --data`` on that folder and ``report`` refuse (the split
  moved, and training images would be scored as unseen); the unchanged folder still evaluates,
  and a checkpoint without the fingerprint (``val_data``, older ones) still does too;
- ``report`` on a checkpoint whose training folder moved says it trained there, and --data;
- ``--batch-size`` below 1, ``--opset 0``, a checkpoint or image that is a folder, an output
  file that is a folder, an output folder that is a file, a missing output folder: one line;
- ``predict`` with one unreadable image among good ones prints the good ones, then the error.
"""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from minicnn.atomic import write_text
from minicnn.cli import main
from helpers import need, write_images


@pytest.fixture(autouse=True)
def no_debug_env(monkeypatch):
    monkeypatch.delenv("MINICNN_DEBUG", raising=False)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Train mini_resnet for one epoch on a 24-image folder; return the tmp folder."""
    root = tmp_path_factory.mktemp("errors")
    write_images(root / "train", 12, seed=0)
    assert main(["train", "--model", "mini_resnet", "--data", str(root / "train"),
                 "--image-size", "16", "--epochs", "1", "--batch-size", "8",
                 "--out", str(root / "run"), "--quiet"]) == 0
    return root


def one_line_error(capsys, argv, match):
    """main(argv) fails with exit code 1 and one stderr line containing ``match``."""
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and ".tmp" not in err, err
    assert "Errno" not in err and match in err, err


def without_val_data(src, dst):
    """A copy of the checkpoint ``src`` as written before training recorded ``val_data``."""
    from minicnn.serialization import load_arrays, save_arrays
    arrays = load_arrays(src)
    header = json.loads(str(arrays["__minicnn__"]))
    del header["metadata"]["val_data"]
    arrays["__minicnn__"] = np.array(json.dumps(header))
    save_arrays(dst, arrays)
    return str(dst)


def test_a_changed_training_folder_is_never_scored_as_its_validation_split(tmp_path, capsys):
    data = write_images(tmp_path / "data", 12, seed=1)
    assert main(["train", "--model", "mini_resnet", "--data", str(data), "--image-size", "16",
                 "--epochs", "1", "--batch-size", "8", "--out", str(tmp_path / "run"),
                 "--quiet"]) == 0
    best = str(tmp_path / "run" / "best.npz")
    older = without_val_data(best, tmp_path / "older.npz")
    evaluate = ["evaluate", "--checkpoint", best, "--data", str(data)]
    report = ["report", "--checkpoint", best, "--out", str(tmp_path / "report")]
    assert main(evaluate) == 0 and main(report) == 0              # unchanged: as before
    assert "validation split" in capsys.readouterr().out          # not the whole folder
    pixels = np.full((20, 20), 200, np.uint8)
    Image.fromarray(pixels).save(data / "bright" / "added.png")   # the audit's case: one more
    for argv in (evaluate, report):
        one_line_error(capsys, argv, "changed since")
    assert main(["evaluate", "--checkpoint", older, "--data", str(data)]) == 0   # unchecked


def test_a_moved_training_folder_says_where_it_trained(tmp_path, capsys):
    data = write_images(tmp_path / "data", 12, seed=2)
    assert main(["train", "--model", "mini_resnet", "--data", str(data), "--image-size", "16",
                 "--epochs", "1", "--batch-size", "8", "--out", str(tmp_path / "run"),
                 "--quiet"]) == 0
    shutil.move(data, tmp_path / "moved")
    one_line_error(capsys, ["report", "--checkpoint", str(tmp_path / "run" / "best.npz")],
                   f"data folder {data} does not exist: the checkpoint was trained on it (moved "
                   f"or deleted since?); --data DIR scores another folder")


@pytest.mark.parametrize("size", ["0", "-1"])
def test_batch_size_must_be_at_least_one(run_dir, capsys, size):
    one_line_error(capsys, ["evaluate", "--checkpoint", str(run_dir / "run" / "best.npz"),
                            "--data", str(run_dir / "train"), "--batch-size", size],
                   f"--batch-size must be at least 1, got {size}")


@pytest.mark.parametrize("command", ["evaluate", "predict", "serve", "report", "export"])
def test_a_checkpoint_folder_is_named_a_folder(run_dir, capsys, command):
    tail = {"evaluate": ["--data", str(run_dir / "train")], "serve": ["--port", "0"],
            "predict": [str(run_dir / "train" / "dark" / "img0.png")], "report": [],
            "export": ["--format", "onnx", "--out", str(run_dir / "x.onnx")]}[command]
    folder = str(run_dir / "run")
    one_line_error(capsys, [command, "--checkpoint", folder] + tail,
                   f"checkpoint {folder} is a folder, not a file: did you mean {folder}/best.npz?")


def test_predict_reports_bad_images_after_the_good_ones(run_dir, capsys):
    good = [str(run_dir / "train" / c / "img1.png") for c in ("bright", "dark")]
    bad = run_dir / "not_an_image.png"
    bad.write_text("not an image")
    folder = str(run_dir / "train")
    argv = ["predict", "--checkpoint", str(run_dir / "run" / "best.npz")]
    assert main(argv + [good[0], folder, str(bad), good[1]]) == 1
    out, err = capsys.readouterr()
    assert [line.split()[0] for line in out.splitlines()] == good
    assert err.splitlines() == [f"minicnn predict: error: {folder} is a folder, not an image file",
                                f"minicnn predict: error: {bad}: cannot decode this image "
                                f"(UnidentifiedImageError: cannot identify image file '{bad}')"]
    assert main(argv + good) == 0


def test_export_opset_zero_is_refused(run_dir, capsys):
    need("onnx")
    out = run_dir / "zero.onnx"
    one_line_error(capsys, ["export", "--checkpoint", str(run_dir / "run" / "best.npz"),
                            "--format", "onnx", "--opset", "0", "--out", str(out)], "got 0")
    assert not out.exists()


def test_output_paths_are_checked_in_one_line(run_dir, tmp_path, capsys):
    best = str(run_dir / "run" / "best.npz")
    folder, afile = tmp_path / "folder", tmp_path / "afile.txt"
    folder.mkdir()
    afile.write_text("x")
    one_line_error(capsys, ["audit", str(run_dir / "train"), "--out", str(folder)],
                   f"--out {folder} is a folder, not a file")
    for fmt in ("onnx", "torch"):
        if fmt == "onnx":
            need("onnx")
        one_line_error(capsys, ["export", "--checkpoint", best, "--format", fmt, "--out",
                                str(folder)], f"{folder} is a folder, not a file")
    one_line_error(capsys, ["report", "--checkpoint", best, "--out", str(afile)],
                   f"output folder {afile} is a file, not a folder")
    one_line_error(capsys, ["compare", str(run_dir / "run"), "--out", str(afile)],
                   f"output folder {afile} is a file, not a folder")
    assert main(["audit", str(run_dir / "train"), "--out", str(tmp_path / "new" / "a.json")]) == 0
    assert json.loads((tmp_path / "new" / "a.json").read_text())      # the folder was made
    assert sorted(p.name for p in folder.iterdir()) == []              # no temporary left


def test_atomic_write_names_the_path_not_its_temporary_file(tmp_path):
    with pytest.raises(IsADirectoryError, match=f"^{tmp_path} is a folder, not a file"):
        write_text(tmp_path, "x")
    with pytest.raises(FileNotFoundError, match="the folder .*missing does not exist$"):
        write_text(tmp_path / "missing" / "x.json", "x")


def test_the_library_names_a_folder_given_as_a_checkpoint(tmp_path):
    """load_checkpoint and serve's load_model say "a folder, not a file", and point at best.npz."""
    from minicnn.serve.service import load_model
    from minicnn.training import load_checkpoint
    (tmp_path / "run").mkdir()
    with pytest.raises(IsADirectoryError, match=r"run is a folder, not a file$"):
        load_checkpoint(tmp_path / "run")
    (tmp_path / "run" / "best.npz").write_bytes(b"")
    with pytest.raises(ValueError, match=r"is a folder, not a file: did you mean .*best.npz\?"):
        load_model(tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "nothing.npz")
