"""What ``fit`` records: ``History`` (per-epoch numbers) and ``Callback`` (hooks into the loop).

    history = fit(model, train, val, epochs=20)
    history.history["val_accuracy"]      # [0.61, 0.74, ...], one number per epoch
    history.best_epoch                   # 1-based epoch with the highest val_accuracy
    history.stop_reason                  # None (ran all epochs), "early_stopping",
                                         # "non_finite_loss", "diverged" or "interrupted"
    History.read("runs/cnn5/history.json")   # the one reader of history.json files
"""
import json
import math

from minicnn.atomic import write_text

KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_time")


class History:
    """Per-epoch training numbers, like Keras' ``History``: ``history[key]`` is a list, one per epoch.

    Keys: loss, accuracy (training batches, in training mode), val_loss, val_accuracy (None when
    there is no validation data), lr (at the epoch's start), epoch_time (seconds).
    """

    def __init__(self, history=None, stop_reason=None, message=None):
        self.history = {k: list((history or {}).get(k, [])) for k in KEYS}
        self.stop_reason = stop_reason
        self.message = message

    @property
    def epochs(self):
        """Number of completed epochs."""
        return len(self.history["loss"])

    def append(self, **numbers):
        for k in KEYS:
            self.history[k].append(numbers.get(k))

    @property
    def best_epoch(self):
        """1-based epoch with the highest val_accuracy (ties: the earliest); None without val data."""
        acc = [a if a is not None else -math.inf for a in self.history["val_accuracy"]]
        if not acc or max(acc) == -math.inf:
            return None
        return acc.index(max(acc)) + 1

    def best_so_far(self):
        """(best score, epochs since it): the score is val_accuracy, else training accuracy."""
        h = self.history
        scores = h["val_accuracy"] if any(a is not None for a in h["val_accuracy"]) else h["accuracy"]
        if not scores:
            return -math.inf, 0
        best_i = max(range(len(scores)), key=lambda i: (scores[i], -i))   # ties: the earliest
        return scores[best_i], len(scores) - 1 - best_i

    def to_dict(self):
        return {"history": self.history, "stop_reason": self.stop_reason, "message": self.message}

    @classmethod
    def from_dict(cls, d):
        """From ``to_dict()``'s layout, or a bare ``{"loss": [...], ...}`` dict of lists."""
        if not isinstance(d, dict):
            raise ValueError(f"a history is a JSON object, got {type(d).__name__}")
        numbers = d.get("history", d)
        if not isinstance(numbers, dict) or not all(isinstance(numbers.get(k, []), list)
                                                    for k in KEYS):
            raise ValueError(f"a history holds one list per key {', '.join(KEYS)}")
        return cls(numbers, d.get("stop_reason"), d.get("message"))

    def to_json(self, path=None):
        """The JSON text; with ``path``, also write it there (``minicnn.atomic``: all or nothing)."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            write_text(path, text)
        return text

    @classmethod
    def from_json(cls, path_or_text):
        """From JSON text (starting with "{") or the path of a history.json file."""
        text = str(path_or_text)
        if not text.lstrip().startswith("{"):
            return cls.read(path_or_text)
        return cls.from_dict(json.loads(text))

    @classmethod
    def read(cls, path):
        """Read a history.json file (ValueError naming the file if it is not one)."""
        with open(path, encoding="utf-8") as f:
            text = f.read()
        try:
            return cls.from_dict(json.loads(text))
        except ValueError as e:
            raise ValueError(f"{path}: not a minicnn history file ({e})") from None

    def __repr__(self):
        return f"History(epochs={self.epochs}, stop_reason={self.stop_reason!r})"


def format_epoch(epoch, epochs, logs):
    """One summary line per epoch:

    epoch 3/20  loss 0.412  acc 0.861  val_loss 0.398  val_acc 0.874  lr 1.0e-03  12.3s
    """
    parts = [f"epoch {epoch}/{epochs}", f"loss {logs['loss']:.3f}", f"acc {logs['accuracy']:.3f}"]
    if logs.get("val_loss") is not None:
        parts += [f"val_loss {logs['val_loss']:.3f}", f"val_acc {logs['val_accuracy']:.3f}"]
    parts += [f"lr {logs['lr']:.1e}", f"{logs['epoch_time']:.1f}s"]
    return "  ".join(parts)


class Callback:
    """Hooks ``fit`` calls; override the ones you need. ``logs`` is a dict of current numbers.

    on_epoch_begin(epoch, logs)   epoch is 1-based; logs has "lr"
    on_batch_end(batch, logs)     batch is 0-based within the epoch; logs has "loss", "accuracy"
    on_epoch_end(epoch, logs)     logs has every History key for this epoch
    Raising KeyboardInterrupt from a hook behaves like Ctrl-C (the tests use this).
    """

    def on_epoch_begin(self, epoch, logs):
        pass

    def on_batch_end(self, batch, logs):
        pass

    def on_epoch_end(self, epoch, logs):
        pass
