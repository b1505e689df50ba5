"""Loading class-per-folder images: any format, size and mode in; uint8 (N, C, S, S) out.

Proves: JPEG/PNG/BMP/TIFF in L, RGB, RGBA, palette and 16-bit modes of mixed sizes load and
convert as documented (16-bit scaled by 255/65535, alpha composited over black); non-image
files are ignored; a corrupt image is skipped with one warning (or an error with strict=True);
missing folders, empty class folders and folders without classes are errors naming the path;
``load_image`` gives exactly the array ``load_folder`` stored; the Kaggle layout loads; the
cache is hit on the second load, invalidated when a file changes, and never written into the
data folder.
"""
import os
import warnings

import numpy as np
import pytest
from PIL import Image

from minicnn.data import data_dir, load_folder, load_image, load_kaggle, trained_on


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path / "cache"))


def gradient(h, w, seed):
    """A smooth 8-bit test picture (H, W) with a little noise, different for each seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    a = 127 + 100 * np.sin(x / w * (2 + seed) + y / h * 3) + rng.normal(0, 5, (h, w))
    return np.clip(a, 0, 255).astype(np.uint8)


@pytest.fixture
def mixed(tmp_path):
    """Two classes, every format and mode, a corrupt file and a text file."""
    root = tmp_path / "data"
    (root / "cat").mkdir(parents=True)
    (root / "dog").mkdir()
    g = gradient(80, 60, 0)
    Image.fromarray(g).save(root / "cat/01_gray.jpg")
    Image.fromarray(np.stack([g, g // 2, 255 - g], -1)).save(root / "cat/02_rgb.png")
    Image.fromarray(np.stack([g, g, g, np.full_like(g, 255)], -1), "RGBA").save(root / "cat/03.png")
    Image.fromarray(gradient(30, 50, 1)).convert("P").save(root / "cat/04_palette.bmp")
    Image.fromarray(gradient(100, 100, 2).astype(np.uint16) * 257).save(root / "dog/05_16bit.png")
    Image.fromarray(gradient(64, 64, 3)).save(root / "dog/06.tiff")
    Image.fromarray(gradient(64, 64, 4)).save(root / "dog/07.JPEG")   # upper-case extension
    (root / "dog/08_corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (root / "dog/notes.txt").write_text("not an image")
    (root / "dog/.hidden.jpg").write_bytes(b"macOS resource fork")
    return root


def test_mixed_formats_modes_sizes(mixed):
    with pytest.warns(UserWarning, match="skipped 1 image file") as w:
        ds = load_folder(mixed, image_size=32, cache=False)
    assert len(w) == 1 and "dog/08_corrupt.jpg" in str(w[0].message)
    assert ds.images.shape == (7, 1, 32, 32) and ds.images.dtype == np.uint8
    assert ds.classes == ["cat", "dog"] and ds.labels.tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert [os.path.basename(p) for p in ds.paths] == [
        "01_gray.jpg", "02_rgb.png", "03.png", "04_palette.bmp", "05_16bit.png", "06.tiff",
        "07.JPEG"]
    with pytest.warns(UserWarning):
        rgb = load_folder(mixed, image_size=16, color="rgb", cache=False)
    assert rgb.images.shape == (7, 3, 16, 16) and rgb.color == "rgb"


def test_strict_raises_on_corrupt(mixed):
    with pytest.raises(ValueError, match="08_corrupt.jpg"):
        load_folder(mixed, strict=True, cache=False)


def test_sixteen_bit_and_alpha_conversion(tmp_path):
    a16 = np.array([[0, 65535], [32896, 257 * 100]], dtype=np.uint16)   # 32896 = 128 * 257
    Image.fromarray(a16).save(tmp_path / "x16.png")
    assert load_image(tmp_path / "x16.png", 2)[0].tolist() == [[0, 255], [128, 100]]
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[..., 3] = [[255, 0], [128, 255]]                               # opaque, clear, half
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    assert load_image(tmp_path / "a.png", 2)[0].tolist() == [[200, 0], [100, 200]]


def test_load_image_matches_load_folder(mixed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load_folder(mixed, image_size=24, color="rgb")
    for img, path in zip(ds.images, ds.paths):
        np.testing.assert_array_equal(load_image(path, 24, "rgb"), img)


@pytest.mark.parametrize("make, message", [
    (lambda r: None, "not found"),                                      # no folder at all
    (lambda r: r.mkdir(), "no class folders"),
    (lambda r: ((r / "a").mkdir(parents=True), (r / "b").mkdir(),
                Image.fromarray(gradient(8, 8, 0)).save(r / "a/x.png")), "b"),
])
def test_folder_errors_name_the_path(tmp_path, make, message):
    root = tmp_path / "images"
    make(root)
    with pytest.raises(ValueError, match=message) as e:
        load_folder(root)
    assert str(root) in str(e.value)


def test_kaggle_root(tmp_path):
    for split, n in (("Training", 3), ("testing", 2)):                   # any case
        (tmp_path / split / "tumor").mkdir(parents=True)
        for i in range(n):
            Image.fromarray(gradient(20, 20, i)).save(tmp_path / split / "tumor" / f"{i}.png")
    assert len(load_kaggle(tmp_path, "Training", image_size=8)) == 3
    assert len(load_kaggle(tmp_path, "Testing", image_size=8)) == 2
    with pytest.raises(ValueError, match="Kaggle root"):
        load_folder(tmp_path)


def test_data_dir_and_trained_on(tmp_path):
    """A Kaggle root resolves to the split asked for, and is refused without it; a checkpoint's
    recorded folder matches however it was spelt (the root, or its Training/ folder)."""
    (tmp_path / "root" / "Training" / "tumor").mkdir(parents=True)
    root, training = str(tmp_path / "root"), str(tmp_path / "root" / "Training")
    assert data_dir(root) == training and data_dir(training, "Testing") == training
    with pytest.raises(FileNotFoundError, match="has a Training/ folder but no Testing/"):
        data_dir(root, "Testing")
    for recorded in (root, training, training + "/"):
        assert trained_on({"data": recorded}, training)
        assert not trained_on({"data": recorded}, str(tmp_path))
    assert not trained_on({"data": "bundled"}, training) and not trained_on(None, training)
    assert not trained_on({"data": str(tmp_path / "gone")}, training)   # another machine's path


def test_cache_hit_and_invalidation(tmp_path, monkeypatch):
    root = tmp_path / "data"
    (root / "a").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(gradient(40, 40, i)).save(root / "a" / f"{i}.png")
    before = sorted(os.listdir(root / "a"))
    first = load_folder(root, image_size=16)
    assert sorted(os.listdir(root / "a")) == before                     # data folder untouched
    entries = os.listdir(tmp_path / "cache")
    assert len(entries) == 1 and entries[0].endswith(".npz")
    np.load(tmp_path / "cache" / entries[0], allow_pickle=False).close()   # arrays only

    import minicnn.data.folders as folders
    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although the cache should have been hit")
    monkeypatch.setattr(folders, "decode_files", no_decoding)
    second = load_folder(root, image_size=16)                           # hit: no decoding
    np.testing.assert_array_equal(first.images, second.images)
    assert second.paths == first.paths
    monkeypatch.undo()
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path / "cache"))

    Image.fromarray(255 - gradient(40, 40, 1)).save(root / "a" / "1.png")   # change one file
    os.utime(root / "a" / "1.png", ns=(1, 1))
    third = load_folder(root, image_size=16)
    assert not np.array_equal(third.images[1], first.images[1])
    np.testing.assert_array_equal(third.images[0], first.images[0])
    assert len(os.listdir(tmp_path / "cache")) == 1                     # overwritten, not added
