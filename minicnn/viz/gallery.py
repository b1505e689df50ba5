"""Misclassified gallery: the model's most confident mistakes, each with true and predicted class."""
import math

import numpy as np

from minicnn.viz._plot import new_figure, save, show_image


def worst_mistakes(labels, probs, max_images=16):
    """Indices of wrong predictions, most confident first (highest predicted probability).

    labels: (N,) int true classes; probs: (N, K) predicted probabilities.
    """
    labels, probs = np.asarray(labels), np.asarray(probs)
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != labels)
    conf = probs[wrong, pred[wrong]]
    return wrong[np.argsort(-conf, kind="stable")][:max_images]


def plot_misclassified(images, labels, probs, classes, path, max_images=16, columns=4,
                       title="Most confident mistakes"):
    """A grid of the worst mistakes: 'true: X' / 'pred: Y (p)' over each scan. Returns the Path.

    images: (N, C, H, W) uint8 scans (as loaded, before standardisation); labels (N,); probs (N, K).
    """
    labels, probs = np.asarray(labels), np.asarray(probs)
    if len(images) != len(labels) or probs.shape != (len(labels), len(classes)):
        raise ValueError(f"expected {len(labels)} images and probs of shape ({len(labels)}, "
                         f"{len(classes)}), got {len(images)} images and probs {probs.shape}")
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
