"""What ``fit`` records: ``History`` (per-epoch numbers) and ``Callback`` (hooks into the loop).

    history = fit(model, train, val, epochs=20)
    history.history["val_accuracy"]      # [0.61, 0.74, ...], one number per epoch
    history.best_epoch                   # 1-based epoch with the highest val_accuracy
    history.stop_reason                  # None (ran all epochs), "early_stopping",
                                         # "non_finite_loss" or "interrupted"
"""
import json
import math
import os

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

    def to_dict(self):
        return {"history": self.history, "stop_reason": self.stop_reason, "message": self.message}

    @classmethod
    def from_dict(cls, d):
        return cls(d.get("history"), d.get("stop_reason"), d.get("message"))

    def to_json(self, path=None):
        """The JSON text; with ``path``, also write it there atomically (temp file + rename)."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            tmp = f"{path}.tmp-{os.getpid()}"
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, path)
        return text

    @classmethod
    def from_json(cls, path_or_text):
        text = path_or_text
        if not path_or_text.lstrip().startswith("{"):
            with open(path_or_text) as f:
                text = f.read()
        return cls.from_dict(json.loads(text))

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
