"""Cropping scans to the head (``--crop``, ``minicnn.data.crop``).

Proves: the box is the square around the bright part, inside the picture, and a stray mark in a
corner or an all-dark picture does not move it; ``load_image(crop=True)`` equals resizing the
cut picture by hand; a cropped folder is cached apart from the whole one and splits exactly
like it (the split is made on the uncropped 64x64 decode); ``minicnn train --crop`` records
the crop in the checkpoint, and ``predict``, ``evaluate`` and ``serve`` then crop the files
they read, alone and in an ensemble with an uncropped model; ``--crop`` without --data, and a
checkpoint whose crop is not true/false (in ``predict`` and when ``serve`` starts), are refused.
"""
import json

import numpy as np
import pytest
from PIL import Image

import minicnn
from minicnn.cli import main
from minicnn.data import leak_free_split, load_folder
from minicnn.data import split as split_module
from minicnn.data.crop import crop_box, crop_to_head
from minicnn.data.decode import load_image
from minicnn.training import predict
from minicnn.training.inference import check_metadata, predict_ensemble


def _scan(w=200, h=120, head=(60, 20, 140, 100), level=150, seed=0):
    """A dark noisy picture with a bright 'head' rectangle (left, top, right, bottom)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 8, (h, w)).astype(np.uint8)
    x0, y0, x1, y1 = head
    a[y0:y1, x0:x1] = level + rng.integers(-20, 20, (y1 - y0, x1 - x0))
    return a


def test_the_box_is_the_square_around_the_head_inside_the_picture():
    box = crop_box(Image.fromarray(_scan()))             # head 80 wide, 80 tall at (60, 20)
    left, top, right, bottom = box
    assert right - left == bottom - top                  # a square
    assert np.allclose(box, (60, 20, 140, 100), atol=2)
    wide = crop_box(Image.fromarray(_scan(head=(20, 40, 180, 80))))  # 160 x 40: grown to 120 high
    assert wide[3] - wide[1] == wide[2] - wide[0] == 120 and wide[1] == 0 and wide[3] == 120


def test_a_stray_mark_or_an_all_dark_picture_does_not_move_the_box():
    a = _scan()
    marked = a.copy()
    marked[2:6, 190:196] = 255                           # a letter in the corner
    assert crop_box(Image.fromarray(marked)) == crop_box(Image.fromarray(a))
    dark = np.zeros((50, 70), np.uint8)
    assert crop_box(Image.fromarray(dark)) is None
    assert crop_to_head(Image.fromarray(dark)).size == (70, 50)


def test_load_image_with_crop_is_the_cut_picture_resized(tmp_path):
    path = tmp_path / "scan.png"
    Image.fromarray(_scan()).save(path)
    im = Image.open(path).convert("L")
    expected = np.asarray(im.crop(crop_box(im)).resize((32, 32), Image.BILINEAR))
    got = load_image(path, 32, crop=True)
    assert got.shape == (1, 32, 32) and np.array_equal(got[0], expected)
    assert not np.array_equal(got, load_image(path, 32))


def _folder(root, n=6, seed=0):
    """root/<a|b>/<i>.png: 'a' heads are small and left, 'b' heads large and right."""
    rng = np.random.default_rng(seed)
    for k, name in enumerate(["a", "b"]):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            x0 = int(rng.integers(5, 40)) + 60 * k
            head = (x0, 20, x0 + 50 + 30 * k, 100)
            Image.fromarray(_scan(head=head, level=90 + 60 * k, seed=10 * k + i)).save(
                root / name / f"{i}.png")
    return root


def test_cropped_folders_are_cached_apart_and_split_like_whole_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path / "cache"))
    root = _folder(tmp_path / "data", n=10)
    whole = load_folder(root, 24)
    cut = load_folder(root, 24, crop=True)
    again = load_folder(root, 24, crop=True)            # from the cache
    assert not whole.crop and cut.crop and again.crop and "cropped" in repr(cut)
    assert len(list((tmp_path / "cache").iterdir())) == 2   # 24x24 whole and cropped
    assert np.array_equal(cut.images, again.images)
    assert not np.array_equal(cut.images, whole.images)
    _, val_whole, _ = leak_free_split(whole, 0.3, seed=1)
    train_cut, val_cut, _ = leak_free_split(cut, 0.3, seed=1)
    assert val_cut.paths == val_whole.paths and train_cut.crop and val_cut.crop
    assert len(list((tmp_path / "cache").iterdir())) == 3   # and the 64x64 whole decode
    seen = []                                            # even at 64x64, groups come from
    real = split_module.find_duplicate_groups            # the whole pictures
    monkeypatch.setattr(split_module, "find_duplicate_groups",
                        lambda ds, **kw: seen.append(ds.crop) or real(ds, **kw))
    _, val_cut64, _ = leak_free_split(load_folder(root, 64, crop=True), 0.3, seed=1)
    assert seen == [False] and val_cut64.paths == val_whole.paths


def test_train_with_crop_records_it_and_predict_and_evaluate_crop(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path / "cache"))
    root = _folder(tmp_path / "data")
    common = ["train", "--model", "mini_resnet", "--data", str(root), "--image-size", "24",
              "--epochs", "1", "--batch-size", "4", "--quiet", "--val-fraction", "0"]
    assert main(common + ["--crop", "--out", str(tmp_path / "cut")]) == 0
    assert main(common + ["--out", str(tmp_path / "whole")]) == 0
    cut = minicnn.load(tmp_path / "cut" / "last.npz")
    whole = str(tmp_path / "whole" / "last.npz")
    assert cut.metadata["crop"] is True and minicnn.load(whole).metadata["crop"] is False
    files = sorted(str(p) for p in root.glob("*/*.png"))
    by_hand = np.stack([load_image(f, 24, crop=True) for f in files])
    assert np.allclose(predict(cut, files), predict(cut, by_hand))

    calls = []

    def images(size, color, crop=False):                 # what evaluate does, once per view
        calls.append(crop)
        return np.stack([load_image(f, size, color, crop=crop) for f in files])
    both = predict_ensemble([cut, whole], images)
    assert sorted(calls) == [False, True]
    assert np.allclose(both, (predict(cut, files) + predict(whole, files)) / 2)

    test = _folder(tmp_path / "test", seed=5)           # images neither model trained on
    tests = sorted(str(p) for p in test.glob("*/*.png"))
    truth = np.array([0 if "/a/" in f else 1 for f in tests])
    for members, probs in (([cut], predict(cut, tests)),
                           ([cut, whole], predict_ensemble([cut, whole], tests))):
        capsys.readouterr()
        paths = [a for m in members for a in ("--checkpoint", m if isinstance(m, str)
                                              else str(tmp_path / "cut" / "last.npz"))]
        assert main(["evaluate", *paths, "--data", str(test), "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["accuracy"] == pytest.approx(np.mean(probs.argmax(axis=1) == truth))


def test_crop_needs_a_folder_and_a_true_or_false_record(capsys):
    assert main(["train", "--model", "cnn5", "--crop", "--epochs", "1"]) != 0
    assert "cannot be cropped" in capsys.readouterr().err
    with pytest.raises(ValueError, match="crop must be true or false"):
        check_metadata({"classes": ["a"], "crop": "yes"})


def test_a_sweep_can_crop_a_folder_but_not_the_bundled_data(tmp_path, monkeypatch):
    from minicnn.sweep.config import DATA, check
    from minicnn.sweep.trial import Data
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path / "cache"))
    root = _folder(tmp_path / "data", n=10)
    train, val, _ = Data({**DATA, "source": str(root), "crop": True}, seed=0).split(24, 0)
    assert train.crop and val.crop
    whole = load_folder(root, 24, crop=True)
    assert np.array_equal(train.images,
                          whole.subset([whole.paths.index(p) for p in train.paths]).images)
    with pytest.raises(ValueError, match="crop needs data.source = a folder"):
        Data({**DATA, "crop": True}, seed=0).split(64, 0)
    with pytest.raises(ValueError, match="data.crop must be true or false"):
        check({"data": {"crop": "yes"}, "space": {"lr": [1e-3]}})


def test_serve_crops_for_a_cropped_checkpoint_and_refuses_a_bad_record(tmp_path, monkeypatch):
    from minicnn.serialization import save_model
    from minicnn.serve.service import ModelService
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path / "cache"))
    root = _folder(tmp_path / "data")
    assert main(["train", "--model", "mini_resnet", "--data", str(root), "--image-size", "24",
                 "--epochs", "1", "--batch-size", "4", "--quiet", "--val-fraction", "0",
                 "--crop", "--out", str(tmp_path / "cut")]) == 0
    path = tmp_path / "cut" / "last.npz"
    service = ModelService(path, samples=False)
    scan = sorted(root.glob("*/*.png"))[0]
    answer = service.predict(scan.read_bytes())
    expected = predict(minicnn.load(path), [str(scan)])[0]
    assert np.allclose(list(answer["probabilities"].values()), expected)
    model = minicnn.load(path)
    save_model(model, tmp_path / "bad.npz", metadata={**model.metadata, "crop": "yes"})
    with pytest.raises(ValueError, match="crop must be true or false"):
        ModelService(tmp_path / "bad.npz", samples=False)
