"""The bundled dataset loads offline with no path, as documented, with its provenance.

Proves: ``load_bundled()`` returns the 5,708 Training images at 64x64 grayscale with the four
class names, labels in range, the original file names, and a provenance record naming the
source, licence and build command; the class counts match the ones the README states.
"""
import os

import numpy as np
import pytest

from minicnn.data import bundled_info, load_bundled, load_folder


def test_load_bundled_with_no_path():
    ds = load_bundled()
    assert ds.images.shape == (5708, 1, 64, 64) and ds.images.dtype == np.uint8
    assert ds.classes == ["glioma", "meningioma", "notumor", "pituitary"]
    assert ds.class_counts().tolist() == [1321, 1339, 1591, 1457]
    assert ds.paths[0].startswith("glioma/") and ds.paths[-1].startswith("pituitary/")
    assert all(ds.paths[i].split("/")[0] == ds.classes[ds.labels[i]] for i in range(0, 5708, 97))
    assert ds.image_size == 64 and ds.color == "grayscale"
    assert 20 < ds.images.mean() < 100                                 # real MRI, not blank


def test_provenance():
    info = bundled_info()
    assert "CC0" in info["licence"] and "Nickparvar" in info["author"]
    assert info["build_command"].startswith("python -m minicnn.datasets.build_bundled")
    assert info["image_size"] == 64 and info["n_images"] == 5708
    import hashlib
    assert hashlib.sha256(load_bundled().images.tobytes()).hexdigest() == info["images_sha256"]


@pytest.mark.slow
def test_bundle_equals_loading_the_shared_folder(tmp_path, monkeypatch):
    """Rebuilding from the shared Training folder gives the same pixels (same decode path)."""
    source = "/work/shared/data/brain-tumor-mri/Training"
    if not os.path.isdir(source):
        pytest.skip(f"{source} not available")
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path))
    ds, bundle = load_folder(source, image_size=64), load_bundled()
    np.testing.assert_array_equal(ds.images, bundle.images)
    assert [os.path.relpath(p, source) for p in ds.paths] == bundle.paths
