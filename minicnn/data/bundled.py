"""The bundled dataset: the Kaggle Brain Tumor MRI Training split at 64x64 grayscale, offline.

    ds = load_bundled()      # Dataset: 5,708 images uint8 (N, 1, 64, 64), 4 classes
    bundled_info()           # provenance: source, licence, build command, date, resize method

The file ``minicnn/datasets/brain_mri_64.npz`` ships inside the package (setup.cfg
package_data) and is read with ``allow_pickle=False``. Rebuild it from a Kaggle download with
``python -m minicnn.datasets.build_bundled --source brain-tumor-mri/Training``.
"""
import json
from importlib import resources

import numpy as np

from minicnn.data.dataset import Dataset

BUNDLE_NAME = "brain_mri_64.npz"


def _open_bundle():
    ref = resources.files("minicnn.datasets").joinpath(BUNDLE_NAME)
    if not ref.is_file():
        raise FileNotFoundError(f"bundled dataset missing: {ref} (rebuild it with python -m "
                                f"minicnn.datasets.build_bundled --source DIR)")
    return ref.open("rb")


def load_bundled():
    """-> Dataset of the bundled images; ``paths`` are the original ``<class>/<file>`` names."""
    with _open_bundle() as f, np.load(f, allow_pickle=False) as z:
        info = json.loads(str(z["provenance"]))
        return Dataset(z["images"], z["labels"], [str(c) for c in z["classes"]],
                       [str(p) for p in z["paths"]], info["image_size"], info["color"])


def bundled_info():
    """-> dict: the provenance record stored in the bundle (JSON)."""
    with _open_bundle() as f, np.load(f, allow_pickle=False) as z:
        return json.loads(str(z["provenance"]))
