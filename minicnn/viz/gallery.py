"""Misclassified gallery: the model's most confident mistakes, each with true and predicted class."""
import math

import numpy as np

from minicnn.kernels.shapes import whole
from minicnn.viz._checks import class_indices, display_batch, probabilities
from minicnn.viz._plot import new_figure, save, show_image


def _checked(labels, probs, k):
    """labels (N,) ints in [0, k) and probs (N, k) probabilities, checked (see viz._checks)."""
    n = len(labels) if np.ndim(labels) else 1               # a lone int: refused as not (N,)
    probs = probabilities(probs, n, k)
    return class_indices(labels, n, k, "labels"), probs


def worst_mistakes(labels, probs, max_images=16):
    """Indices of wrong predictions, most confident first (highest predicted probability).

    labels: (N,) int true classes in [0, K); probs: (N, K) predicted probabilities.
    """
    probs = np.asarray(probs)
    labels, probs = _checked(labels, probs, probs.shape[-1] if probs.ndim else 0)
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != labels)
    conf = probs[wrong, pred[wrong]]
    return wrong[np.argsort(-conf, kind="stable")][:max_images]


def plot_misclassified(images, labels, probs, classes, path, max_images=16, columns=4,
                       title="Most confident mistakes"):
    """A grid of the worst mistakes: 'true: X' / 'pred: Y (p)' over each scan. Returns the Path.

    images: (N, C, H, W) uint8 scans (as loaded, before standardisation), C = 1 or 3.
    labels: (N,) int true classes in [0, K), K = len(classes) (not one-hot rows).
    probs:  (N, K) predicted probabilities (softmax outputs, not logits).
    """
    labels, probs = _checked(labels, probs, len(classes))
    display_batch(images, len(labels), per="label")
    max_images, columns = whole(max_images, "max_images", 1), whole(columns, "columns", 1)
    idx = worst_mistakes(labels, probs, max_images)
    n_wrong = int((probs.argmax(axis=1) != labels).sum())
    if len(idx) == 0:
        fig = new_figure(6, 2)
        fig.suptitle(title)
        ax = fig.subplots()
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"no misclassified images among {len(labels)}", ha="center",
                va="center", fontsize=14)
        return save(fig, path)
    columns = min(columns, len(idx))
    rows = math.ceil(len(idx) / columns)
    fig = new_figure(2.4 * columns + 0.2, 2.75 * rows + 0.5)
    fig.suptitle(f"{title}: {len(idx)} of {n_wrong} errors on {len(labels)} images")
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax in axes[len(idx):]:
        ax.set_axis_off()
    for ax, i in zip(axes, idx):
        pred = int(probs[i].argmax())
        show_image(ax, images[i])
        ax.set_title(f"true: {classes[labels[i]]}\npred: {classes[pred]} ({probs[i, pred]:.2f})",
                     fontsize=9, color="firebrick")
    return save(fig, path)
