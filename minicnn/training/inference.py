"""Prediction: class probabilities from a trained model, with the checkpoint's own preprocessing.

    probs = predict("runs/mini_resnet/best.npz", ["scan1.jpg", "scan2.jpg"])   # (2, 4)
    model.metadata["classes"][probs.argmax(axis=1)[0]]                         # "glioma"

A prediction is only right if the image reaches the network exactly as the training images did:
same decoding and resizing (``minicnn.data.load_image`` with the checkpoint's ``image_size`` and
``color``), then the same ``Standardizer`` statistics (the checkpoint's ``preprocessing``).

Test-time augmentation (``tta=True``) averages the probabilities of each image and its mirror
image (the horizontal flip the training augmentation used). An ensemble averages the
probabilities of several models; each reads the images at its own size and colour, with its own
preprocessing, so members may differ in architecture and input size:

    probs = predict_ensemble(["cnn5/best.npz", "mini_resnet/best.npz"], paths, tta=True)
"""
import os

import numpy as np

from minicnn.data import Standardizer, load_image
from minicnn.kernels.shapes import whole
from minicnn.layers import no_grad
from minicnn.losses import softmax
from minicnn.training.checkpoint import load_checkpoint
from minicnn.training.checks import check_input_shape, raw_pixels


def make_transform(preprocessing, dtype=np.float32):
    """A function uint8 batch -> float network input, from a Standardizer, its dict, or None.

    None means the images are already network input (float arrays) and are only cast to ``dtype``.
    """
    if preprocessing is None:
        return lambda x: np.asarray(x, dtype=dtype)
    if isinstance(preprocessing, dict):
        try:
            preprocessing = Standardizer.from_dict(preprocessing)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise ValueError(f"the checkpoint's preprocessing is invalid ({e})") from None
    elif not isinstance(preprocessing, Standardizer):
        raise ValueError(f"the checkpoint's preprocessing must be a Standardizer, its dict or "
                         f"None, got {type(preprocessing).__name__}")
    return lambda x: preprocessing.transform(x).astype(dtype, copy=False)


def logits_in_batches(model, images, transform, batch_size=64):
    """Inference-mode forward over ``images`` (N, C, H, W) in batches; returns logits (N, K).
    Under ``no_grad``: no layer keeps its activations for a backward that will not come."""
    out = []
    batch_size = whole(batch_size, "batch_size", 1)
    with no_grad():
        for start in range(0, len(images), batch_size):
            out.append(model.forward(transform(images[start:start + batch_size]), training=False))
    return np.concatenate(out, axis=0)


def load_images(paths, image_size, color, crop=False):
    """Decode and resize image files exactly as the training loader did: uint8 (N, C, H, W)."""
    images = []
    for p in paths:
        if not os.path.isfile(p):
            raise FileNotFoundError(f"image {p} does not exist")
        images.append(load_image(p, image_size=image_size, color=color, crop=crop))
    return np.stack(images)


def _as_model(checkpoint_or_model):
    if isinstance(checkpoint_or_model, (str, os.PathLike)):
        return load_checkpoint(checkpoint_or_model)
    return checkpoint_or_model


def _meta(model):
    return getattr(model, "metadata", None) or {}


def check_metadata(meta, files=False):
    """Refuse checkpoint metadata that would give a wrong answer or a crash in ``predict``."""
    classes = meta.get("classes")
    if classes is not None and (not isinstance(classes, list) or not classes
                                or not all(isinstance(c, str) for c in classes)):
        raise ValueError(f"the checkpoint's classes must be a list of names, got {classes!r}")
    make_transform(meta.get("preprocessing"))          # raises ValueError if it is broken
    if files:
        size = meta.get("image_size")
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 4096:
            raise ValueError(f"to predict from files the model needs metadata image_size (an int "
                             f"in 1..4096) and color; got image_size {size!r} (load a checkpoint "
                             f"written by fit)")
        if meta.get("color") not in ("grayscale", "rgb"):
            raise ValueError(f"the checkpoint's color must be 'grayscale' or 'rgb', "
                             f"got {meta.get('color')!r}")
    if not isinstance(meta.get("crop", False), bool):
        raise ValueError(f"the checkpoint's crop must be true or false, got {meta['crop']!r}")


def _pixels(images, meta, preprocessed, dtype):
    """The input transform for raw images, refusing float input that is not raw pixels."""
    pre = meta.get("preprocessing")
    if preprocessed or pre is None:
        return images, make_transform(None, dtype)
    if images.dtype != np.uint8:                       # e.g. x.astype(np.float32) of raw pixels
        if not raw_pixels(images):
            raise ValueError(f"predict applies the checkpoint's preprocessing to raw images "
                             f"(uint8, or whole numbers 0..255); these {images.dtype} images are "
                             f"not raw pixels: if they are already network input, pass "
                             f"preprocessed=True")
        images = images.astype(np.uint8)
    return images, make_transform(pre, dtype)


def predict(checkpoint_or_model, images, batch_size=64, tta=False, preprocessed=False):
    """Class probabilities (N, K) for images given as file paths or arrays.

    checkpoint_or_model: a checkpoint path (``minicnn.load``-able) or a model whose ``metadata``
                         holds the training preprocessing (``fit`` sets it).
    images: one path or a list of paths (decoded with the checkpoint's image_size, color and
            crop), or raw images (N, C, H, W) or (C, H, W): uint8, or whole numbers 0..255 in any
            dtype, already decoded that way (``load_image(path, image_size, color, crop=...)``).
            The checkpoint's preprocessing is applied to them.
    preprocessed: True when ``images`` are already network input (standardised floats): they
            are then used as they are. Float images that are not raw pixels need it (ValueError
            otherwise), so that preprocessing is never skipped or applied twice by accident.
    tta:    also run every image flipped left-right and average the two probabilities.
    """
    model = _as_model(checkpoint_or_model)
    meta = _meta(model)
    if isinstance(images, (str, os.PathLike)):
        images = [images]
    files = isinstance(images, (list, tuple)) and images and isinstance(images[0], (str, os.PathLike))
    check_metadata(meta, files=files)
    if files:
        images = load_images([os.fspath(p) for p in images], meta["image_size"], meta["color"],
                             meta.get("crop", False))
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]                                 # (C, H, W) -> (1, C, H, W)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"expected images (N, C, H, W) or file paths, got shape {images.shape}")
    check_input_shape(model, images)
    images, transform = _pixels(images, meta, preprocessed, model.dtype)
    views = [images, images[..., ::-1]] if tta else [images]  # ::-1 on W: the mirror image
    probs = np.mean([softmax(logits_in_batches(model, v, transform, batch_size).astype(np.float64))
                     for v in views], axis=0)
    if not np.isfinite(probs).all():
        raise ValueError("the model gave NaN or infinite outputs for these images (broken weights "
                         "or non-finite input): no prediction")
    if meta.get("classes") is not None and len(meta["classes"]) != probs.shape[1]:
        raise ValueError(f"the checkpoint names {len(meta['classes'])} classes but the model has "
                         f"{probs.shape[1]} outputs")
    return probs


def predict_ensemble(members, images, batch_size=64, tta=False):
    """Mean class probabilities (N, K) of several models (checkpoint paths or models).

    images: file paths (each member decodes them at its own image_size, color and crop), an array
            every member accepts as it is, or a function ``(image_size, color) -> uint8 (N, C, H,
            W)`` called once per distinct size and colour (e.g. loading a folder at that size);
            for a member trained on cropped pictures it is called with ``crop=True`` as well.
    All members must have the same classes, in the same order.
    """
    members = [_as_model(m) for m in members]
    if not members:
        raise ValueError("an ensemble needs at least one model")
    classes = [_meta(m).get("classes") for m in members]
    if any(c != classes[0] for c in classes):
        raise ValueError(f"the ensemble's models disagree on the classes: {classes}")
    loaded, probs = {}, []
    for m in members:
        x = images
        if callable(images):
            crop = _meta(m).get("crop", False)
            key = (_meta(m).get("image_size"), _meta(m).get("color"), crop)
            if None in key:
                raise ValueError("an ensemble member has no image_size/color in its metadata")
            if key not in loaded:
                loaded[key] = images(*key[:2], crop=True) if crop else images(*key[:2])
            x = loaded[key]
        probs.append(predict(m, x, batch_size, tta))
    if any(p.shape != probs[0].shape for p in probs):
        raise ValueError(f"the models gave differently shaped outputs "
                         f"{[p.shape for p in probs]}")
    return np.mean(probs, axis=0)
