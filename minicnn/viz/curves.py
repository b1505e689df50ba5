"""Training curves: loss and accuracy per epoch, training vs validation (the report's Fig. "Training History")."""
from pathlib import Path

import numpy as np

from minicnn.training.history import History
from minicnn.viz._plot import new_figure, save


def load_history(history):
    """The ``History.history`` dict of lists from a History, a dict, or a history.json path.

    Accepts ``{"loss": [...], ...}`` or the same under a ``"history"`` key (either JSON layout).
    """
    if isinstance(history, (str, Path)):
        history = History.read(history)
    elif isinstance(history, dict):
        history = History.from_dict(history)
    if not isinstance(history, History):
        raise ValueError(f"expected a History, its dict or a JSON path, got {type(history).__name__}")
    history = history.history
    if not history.get("loss"):
        raise ValueError("the history has no 'loss' values: nothing to plot")
    return history


def _as_float(values):
    """A list with possible None entries (no validation data) -> float array with NaN."""
    return np.array([np.nan if v is None else v for v in (values or [])], dtype=np.float64)


def plot_history(history, path, title="Training history"):
    """Two panels, loss and accuracy per epoch; training solid, validation dashed.

    history: History, its ``.history`` dict (keys loss, accuracy, val_loss, val_accuracy) or a
             history.json path. The best validation-accuracy epoch is marked. Returns the Path.
    """
    h = load_history(history)
    epochs = np.arange(1, len(h["loss"]) + 1)
    fig = new_figure(10, 3.8)
    fig.suptitle(title)
    axes = fig.subplots(1, 2)
    for ax, key, label in [(axes[0], "loss", "cross-entropy loss"), (axes[1], "accuracy", "accuracy")]:
        for prefix, style, name in [("", "-o", "training"), ("val_", "--s", "validation")]:
            values = _as_float(h.get(prefix + key))
            if np.isfinite(values).any():
                ax.plot(epochs[:len(values)], values, style, markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    val_acc = _as_float(h.get("val_accuracy"))
    if np.isfinite(val_acc).any():
        best = int(np.nanargmax(val_acc))
        axes[1].plot(best + 1, val_acc[best], "*", color="crimson", markersize=12,
                     label=f"best val {val_acc[best]:.1%} (epoch {best + 1})")
    for ax in axes:
        ax.legend(loc="best", fontsize=8)
    return save(fig, path)
