"""Prediction: class probabilities from a trained model, with the checkpoint's own preprocessing.

    probs = predict("runs/mini_resnet/best.npz", ["scan1.jpg", "scan2.jpg"])   # (2, 4)
    model.metadata["classes"][probs.argmax(axis=1)[0]]                         # "glioma"

A prediction is only right if the image reaches the network exactly as the training images did:
same decoding and resizing (``minicnn.data.load_image`` with the checkpoint's ``image_size`` and
``color``), then the same ``Standardizer`` statistics (the checkpoint's ``preprocessing``).
"""
import os

import numpy as np

from minicnn.data import Standardizer, load_image
from minicnn.losses import softmax
from minicnn.training.checkpoint import load_checkpoint


def make_transform(preprocessing, dtype=np.float32):
    """A function uint8 batch -> float network input, from a Standardizer, its dict, or None.

    None means the images are already network input (float arrays) and are only cast to ``dtype``.
    """
    if preprocessing is None:
        return lambda x: np.asarray(x, dtype=dtype)
    if isinstance(preprocessing, dict):
        preprocessing = Standardizer.from_dict(preprocessing)
    return lambda x: preprocessing.transform(x).astype(dtype, copy=False)


def logits_in_batches(model, images, transform, batch_size=64):
    """Inference-mode forward over ``images`` (N, C, H, W) in batches; returns logits (N, K)."""
    out = []
    for start in range(0, len(images), batch_size):
        out.append(model.forward(transform(images[start:start + batch_size]), training=False))
    return np.concatenate(out, axis=0)


def load_images(paths, image_size, color):
    """Decode and resize image files exactly as the training loader did: uint8 (N, C, H, W)."""
    images = []
    for p in paths:
        if not os.path.isfile(p):
            raise FileNotFoundError(f"image {p} does not exist")
        images.append(load_image(p, image_size=image_size, color=color))
    return np.stack(images)


def _as_model(checkpoint_or_model):
    if isinstance(checkpoint_or_model, (str, os.PathLike)):
        return load_checkpoint(checkpoint_or_model)
    return checkpoint_or_model


def predict(checkpoint_or_model, images, batch_size=64):
    """Class probabilities (N, K) for images given as file paths or arrays.

    checkpoint_or_model: a checkpoint path (``minicnn.load``-able) or a model whose ``metadata``
                         holds the training preprocessing (``fit`` sets it).
    images: one path or a list of paths (decoded with the checkpoint's image_size and color);
            uint8 (N, C, H, W) or (C, H, W) raw images (the checkpoint's preprocessing is applied);
            or float (N, C, H, W), taken as already-preprocessed network input.
    """
    model = _as_model(checkpoint_or_model)
    meta = getattr(model, "metadata", None) or {}
    if isinstance(images, (str, os.PathLike)):
        images = [images]
    if isinstance(images, (list, tuple)) and images and isinstance(images[0], (str, os.PathLike)):
        if "image_size" not in meta or "color" not in meta:
            raise ValueError("to predict from files the model needs metadata image_size and color "
                             "(load a checkpoint written by fit)")
        images = load_images([os.fspath(p) for p in images], meta["image_size"], meta["color"])
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]                                 # (C, H, W) -> (1, C, H, W)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"expected images (N, C, H, W) or file paths, got shape {images.shape}")
    if images.dtype == np.uint8:
        transform = make_transform(meta.get("preprocessing"), model.dtype)
    else:
        transform = make_transform(None, model.dtype)
    return softmax(logits_in_batches(model, images, transform, batch_size).astype(np.float64))
