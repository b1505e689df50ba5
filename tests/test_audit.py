"""The leakage audit finds exactly the duplicates we plant, and nothing else.

We build a small train/test pair of class folders from real bundled MRI slices (upscaled to
128x128) and plant: byte copies, a same-pixels copy in another format (PNG -> BMP), a re-encoded
and resized copy, a copy shifted by 2 pixels, a copy filed under another class, and two test
images that leak from training (one byte copy, one resized). Then we check every list the audit
reports, the JSON/CLI output, and ``leaked_test_mask``.
"""
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from minicnn.cli import main as cli_main
from minicnn.data import audit, leaked_test_mask, load_bundled
from minicnn.data.duplicates import NEAR_THRESHOLD, hamming, phash

# distinct slices of the bundle (none is a duplicate of another; checked below via the audit)
SOURCES = {"A": 10, "B": 700, "C": 1400, "D": 2000, "E": 2700, "F": 3400, "G": 4100,
           "H": 4800, "I": 5500, "J": 1000, "K": 5000}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def slices():
    ds = load_bundled()
    return {k: Image.fromarray(ds.images[i, 0]).resize((128, 128), Image.BICUBIC)
            for k, i in SOURCES.items()}


def shifted(im, k):
    a = np.asarray(im)
    out = np.zeros_like(a)
    out[:, k:] = a[:, :-k]          # move right by k pixels, black enters on the left
    return Image.fromarray(out)


@pytest.fixture
def planted(tmp_path, slices):
    train, test = tmp_path / "train", tmp_path / "test"
    for root in (train, test):
        for cls in ("glioma", "meningioma", "notumor", "pituitary"):
            (root / cls).mkdir(parents=True)
    s = slices
    s["A"].save(train / "glioma/a.png")
    shutil.copy(train / "glioma/a.png", train / "glioma/a_copy.png")       # same bytes
    s["A"].save(train / "glioma/a.bmp")                                    # same pixels
    s["B"].save(train / "glioma/b.jpg", quality=90)
    s["C"].save(train / "meningioma/c.png")
    s["C"].save(train / "meningioma/c_q60.jpg", quality=60)                # re-encoded
    s["D"].save(train / "meningioma/d.png")
    s["E"].save(train / "notumor/e.png")
    shifted(s["E"], 2).save(train / "notumor/e_shift2.png")                # shifted 2 px
    s["F"].save(train / "notumor/f.png")
    s["G"].save(train / "pituitary/g.png")
    shutil.copy(train / "glioma/b.jpg", train / "pituitary/b_wrong.jpg")  # label conflict
    shutil.copy(train / "glioma/a.png", test / "glioma/a_leak.png")        # leaks: exact
    s["H"].save(test / "glioma/h.png")
    s["D"].resize((100, 100), Image.BILINEAR).save(test / "meningioma/d_small.png")  # near leak
    s["I"].save(test / "meningioma/i.png")
    s["J"].save(test / "notumor/j.png")
    s["K"].save(test / "pituitary/k.png")
    return train, test


def names(report, group):
    return sorted(f"{report.files[i]['split']}:{os.path.basename(report.files[i]['path'])}"
                  for i in group)


def test_planted_variants_are_within_threshold_and_slices_are_not(slices):
    a = np.asarray(slices["C"], dtype=float)
    variants = [np.asarray(slices["C"].resize((90, 90), Image.BILINEAR), dtype=float),
                np.asarray(shifted(slices["C"], 2), dtype=float)]
    for v in variants:
        assert hamming(phash(a), phash(v)) <= NEAR_THRESHOLD
    others = [k for k in SOURCES if k != "C"]
    for k in others:
        assert hamming(phash(a), phash(np.asarray(slices[k], dtype=float))) > 3 * NEAR_THRESHOLD


def test_audit_finds_exactly_the_planted_groups(planted):
    train, test = planted
    r = audit(train, test)
    groups = sorted(names(r, g["files"]) for g in r.groups)
    assert groups == [
        ["test:a_leak.png", "train:a.bmp", "train:a.png", "train:a_copy.png"],
        ["test:d_small.png", "train:d.png"],
        ["train:b.jpg", "train:b_wrong.jpg"],
        ["train:c.png", "train:c_q60.jpg"],
        ["train:e.png", "train:e_shift2.png"],
    ]
    kinds = {names(r, g["files"])[-1]: g["kind"] for g in r.groups}
    assert kinds == {"train:a_copy.png": "exact", "train:d.png": "near",
                     "train:b_wrong.jpg": "exact", "train:c_q60.jpg": "near",
                     "train:e_shift2.png": "near"}
    assert sorted(names(r, g) for g in r.byte_groups) == [
        ["test:a_leak.png", "train:a.png", "train:a_copy.png"],
        ["train:b.jpg", "train:b_wrong.jpg"]]
    assert sorted(names(r, g) for g in r.pixel_groups) == [
        ["test:a_leak.png", "train:a.bmp", "train:a.png", "train:a_copy.png"],
        ["train:b.jpg", "train:b_wrong.jpg"]]
    assert [names(r, g["files"]) for g in r.conflicting_groups] == [
        ["train:b.jpg", "train:b_wrong.jpg"]]
    assert [os.path.basename(p) for p in r.leaked_test_paths] == ["a_leak.png", "d_small.png"]
    c = r.counts()
    assert (c["files"], c["groups"], c["leaking_groups"], c["groups_within_train"]) == (18, 5, 2, 3)
    assert c["redundant_train_files"] == 1 + 1 + 1   # b_wrong, c_q60, e_shift2
    table = r.class_table()
    assert table["train"]["glioma"] == {"files": 4, "in_groups": 4, "unique": 2}
    assert table["test"]["notumor"] == {"files": 1, "in_groups": 0, "unique": 1}


def test_without_test_dir_and_undecodable_files(planted):
    train, _ = planted
    (train / "notumor/broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (train / "notumor/notes.txt").write_text("ignored: not an image extension")
    r = audit(train)
    assert [os.path.basename(p) for _, p, _ in r.undecodable] == ["broken.jpg"]
    assert r.leaked_test_paths == [] and len(r.groups) == 4


def test_leaked_test_mask_follows_test_order(planted):
    train, test = planted
    mask = leaked_test_mask(str(train), str(test))
    # load_folder order: classes sorted, then file names: a_leak, h | d_small, i | j | k
    assert mask.tolist() == [True, False, True, False, False, False]
    r = audit(train, test)
    paths = sorted(str(p) for p in test.glob("*/*"))
    assert r.leaked_test_mask(paths).sum() == 2


def test_mirror_copies_are_found(tmp_path, slices):
    """A scan saved left-right flipped hashes about half its bits away (as far as another scan),
    yet the audit, the leak mask and the split count it as the same scan."""
    flip = slices["C"].transpose(Image.FLIP_LEFT_RIGHT)
    assert hamming(phash(np.asarray(slices["C"], dtype=float)),
                   phash(np.asarray(flip, dtype=float))) > 3 * NEAR_THRESHOLD
    train, test = tmp_path / "train", tmp_path / "test"
    for root in (train, test):
        (root / "meningioma").mkdir(parents=True)
        (root / "notumor").mkdir(parents=True)
    slices["C"].save(train / "meningioma/c.png")
    slices["D"].save(train / "meningioma/d.png")
    slices["E"].save(train / "notumor/e.png")
    slices["E"].transpose(Image.FLIP_LEFT_RIGHT).save(train / "notumor/e_mirror.jpg", quality=90)
    flip.save(test / "meningioma/c_mirror.png")
    slices["F"].save(test / "notumor/f.png")
    r = audit(train, test)
    assert sorted(names(r, g["files"]) for g in r.groups) == [
        ["test:c_mirror.png", "train:c.png"], ["train:e.png", "train:e_mirror.jpg"]]
    assert [os.path.basename(p) for p in r.leaked_test_paths] == ["c_mirror.png"]
    assert leaked_test_mask(str(train), str(test)).tolist() == [True, False]


def test_cli_summary_json_and_out_file(planted, tmp_path, capsys, monkeypatch):
    train, test = planted
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)                       # without --out nothing is written anywhere
    assert cli_main(["audit", str(train), str(test)]) == 0
    assert "test images also in train: 2" in capsys.readouterr().out
    assert list(here.iterdir()) == []
    out = tmp_path / "report.json"
    assert cli_main(["audit", str(train), str(test), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "test images also in train: 2" in text and "labels disagree: 1" in text
    saved = json.loads(out.read_text())
    assert saved["counts"]["groups"] == 5 and len(saved["leaked_test_paths"]) == 2
    assert cli_main(["audit", str(train), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["threshold"] == NEAR_THRESHOLD and "test" not in printed["roots"]
    assert cli_main(["audit", str(tmp_path / "missing")]) == 1
