"""Confusion matrix: raw counts beside row-normalised recall, class names on both axes."""
import numpy as np

from minicnn.viz._plot import new_figure, save


def recall_matrix(cm):
    """Each row divided by its total: entry (i, j) = share of true class i predicted as j.

    The diagonal is the per-class recall. Rows with no samples stay 0.
    """
    cm = np.asarray(cm, dtype=np.float64)
    totals = cm.sum(axis=1, keepdims=True)                  # K,1
    return np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)


def _draw(fig, ax, values, labels, classes, title, vmax, cbar_label):
    k = len(classes)
    im = ax.imshow(values, cmap="Blues", vmin=0, vmax=vmax)
    for i in range(k):
        for j in range(k):
            dark = values[i, j] > 0.55 * vmax
            ax.text(j, i, labels[i][j], ha="center", va="center", fontsize=9,
                    color="white" if dark else "black")
    ax.set_xticks(range(k), classes, rotation=30, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, shrink=0.8, label=cbar_label)


def plot_confusion_matrix(cm, classes, path, title="Confusion matrix"):
    """Left: counts; right: recall per true class (rows sum to 100%). Returns the Path.

    cm: (K, K) counts, rows = true class, columns = predicted class. classes: K names.
    """
    cm = np.asarray(cm)
    classes = [str(c) for c in classes]
    if cm.ndim != 2 or cm.shape != (len(classes), len(classes)):
        raise ValueError(f"confusion matrix must be ({len(classes)}, {len(classes)}) for "
                         f"{len(classes)} classes, got shape {cm.shape}")
    rec = recall_matrix(cm)
    k = len(classes)
    size = max(3.8, 0.9 * k + 1.8)
    fig = new_figure(2 * size + 1.0, size)
    fig.suptitle(f"{title} (n = {int(cm.sum())}, accuracy {np.trace(cm) / max(cm.sum(), 1):.1%})")
    left, right = fig.subplots(1, 2)
    counts = [[str(int(v)) for v in row] for row in cm]
    _draw(fig, left, cm, counts, classes, "counts", max(int(cm.max()), 1), "images")
    percents = [[f"{v:.0%}" for v in row] for row in rec]
    _draw(fig, right, rec, percents, classes, "recall (row-normalised)", 1.0, "share of true class")
    return save(fig, path)
