"""``minicnn serve``'s model card (``GET /api/model``) and sample scans (``GET /api/samples``).

Everything on the card comes from the checkpoint's own metadata (written by ``fit``): what the
model is, what it was trained on and how the data were split, its validation accuracy, and what
it must not be used for. Nothing is invented for a checkpoint that does not record it.
"""
import base64
import io
import os

import numpy as np
from PIL import Image

from minicnn.data import held_out, load_bundled, recorded_split

DISCLAIMER = ("Research and teaching only. This is not a medical device: it must not be used to "
              "diagnose, screen or treat anyone.")
LEAKAGE_NOTE = (
    "The Kaggle Brain Tumor MRI data contain many copies: byte-identical files and near "
    "duplicates (re-encoded, resized or shifted slices, and mirror images; 2,267 redundant "
    "copies in the Training split, see minicnn audit), and many Testing images copy Training "
    "images. A random split would put copies of validation images into training and flatter "
    "the accuracy.")
SPLIT_CLEAN = ("This model's validation split kept every group of duplicates, mirror images "
               "included, on one side, and the official Testing split was never used, so its "
               "validation accuracy is not inflated by copies; it is still a validation score, "
               "not a clinical test.")
SPLIT_NO_MIRRORS = ("This model's validation split kept exact and near duplicates on one side but "
                    "not mirror images (it was made before they were looked for): many of its "
                    "validation images have their mirror image in training, so its validation "
                    "accuracy is inflated, by about 1.5 points for the shipped models.")
SPLIT_NONE = ("This model was trained on every image of its data, with no validation split: it "
              "has no validation accuracy of its own. Its recipe was chosen on the validation "
              "split of earlier runs; only images it never saw (the official Testing split) can "
              "score it.")
SPLIT_UNKNOWN = ("This checkpoint does not record that its split kept duplicates together: its "
                 "validation accuracy may be inflated by copies of training images.")


def split_note(split):
    """What a checkpoint's recorded split (``metadata["split"]``) says about its leakage."""
    if not held_out(split):
        return SPLIT_NONE
    if not split.get("duplicates_kept_together"):
        return SPLIT_UNKNOWN
    return SPLIT_CLEAN if split.get("mirrors_kept_together") else SPLIT_NO_MIRRORS


def png_base64(array):
    """uint8 (H, W) or (H, W, 3) -> base64 text of a PNG."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _validation(meta):
    """(val_accuracy, epoch) from the metadata, else from the stored history, else (None, None)."""
    if meta.get("val_accuracy") is not None:
        return float(meta["val_accuracy"]), meta.get("epoch")
    hist = (meta.get("history") or {}).get("history", meta.get("history") or {})
    accs = hist.get("val_accuracy") if isinstance(hist, dict) else None
    if accs and None not in accs:
        best = int(np.argmax(accs))
        return float(accs[best]), best + 1
    return None, None


def _data_text(split):
    if split.get("data") == "bundled":
        return ("the bundled Kaggle Brain Tumor MRI Dataset (Masoud Nickparvar, CC0), its "
                "Training split at 64x64 grayscale: 5,708 scans of glioma, meningioma, no tumour "
                "and pituitary tumour")
    if split.get("data"):
        return f"images from {split['data']}"
    return "not recorded in the checkpoint"


def model_card(model, checkpoint, limits):
    """A JSON-able dict describing ``model`` (see the module docstring)."""
    meta = model.metadata
    arch = dict(meta.get("architecture") or {})
    input_shape = tuple(meta.get("input_shape") or arch.get("input_shape") or ())
    val_acc, epoch = _validation(meta)
    split = dict(meta.get("split") or {})
    return {
        "name": meta.get("model_name") or arch.get("name") or type(model).__name__,
        "checkpoint": os.path.basename(checkpoint),
        "architecture": arch,
        "classes": [str(c) for c in meta["classes"]],
        "input": {"image_size": int(meta["image_size"]), "color": meta["color"],
                  "crop": meta.get("crop", False), "shape": list(input_shape)},
        "params": int(model.num_params()),
        "flops_per_image": int(model.flops(input_shape)) if input_shape else None,
        "preprocessing": meta.get("preprocessing"),
        "training": meta.get("training"),
        "data": _data_text(split),
        "split": split,
        "val_accuracy": val_acc,
        "epoch": epoch,
        "leakage_note": LEAKAGE_NOTE + " " + split_note(split),
        "disclaimer": DISCLAIMER,
        "limits": limits,
    }


def sample_scans(meta, classes):
    """One bundled scan per class, as PNG (base64), for the page's sample buttons.

    When the model was trained on the bundled data with a recorded split, the samples are the
    first validation image of each class (scans the model never trained on); otherwise the
    first bundled image of each class. Classes the bundle does not have get no sample.
    """
    ds = load_bundled()
    split, source = meta.get("split") or {}, "bundled"
    if split.get("data") == "bundled" and split.get("duplicates_kept_together") and held_out(split):
        _, ds, _ = recorded_split(ds, split)
        source = "validation"
    samples = []
    for k, name in enumerate(ds.classes):
        if name not in classes:
            continue
        i = int(np.flatnonzero(ds.labels == k)[0])
        samples.append({"name": ds.paths[i], "label": name, "split": source,
                        "png": png_base64(ds.images[i, 0])})                 # 1,H,W -> H,W
    return samples
