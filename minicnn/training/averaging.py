"""Weight averaging: an exponential moving average (EMA) of the weights, validated and saved.

    ema = WeightEMA(model, decay=0.999)
    for each training step:
        ...; optimizer.step()
        ema.update()                    # average = d * average + (1 - d) * weights
    with ema.applied():                 # inside the block the model holds the averaged weights
        val_accuracy = evaluate(model, val)["accuracy"]

``fit(..., ema=0.999)`` does exactly this: it validates the averaged weights after each epoch,
writes them to best.npz, and returns the model holding them (as Keras's ``use_ema=True`` does).
last.npz keeps the weights training was at, with the average beside them, so a resumed run goes
on exactly.

Why average: at a large learning rate each step jumps across the valley the loss lies in, so the
weights after any one step carry the noise of the last few batches, and validation accuracy
swings from epoch to epoch. The average of the last ~1 / (1 - decay) steps (1,000 at 0.999:
seven epochs of 143 batches) sits nearer the valley's floor than any one of them (Polyak &
Juditsky 1992). TensorFlow's ExponentialMovingAverage, Keras's ``use_ema``, timm's ModelEmaV2 and
``torch.optim.swa_utils.AveragedModel`` are the same idea.

The rule, for every parameter and buffer p, at each step:

    t += 1
    d = min(decay, (1 + t) / (10 + t))      warm-up (TensorFlow's num_updates): the first
                                            averages forget the random initial weights quickly
    average = d * average + (1 - d) * p

Batch-norm running statistics (buffers) are averaged too, as timm does and as
``AveragedModel(use_buffers=True)`` does: statistics gathered with the weights of the last few
hundred steps suit their average better than the statistics of the latest step alone.
"""
import contextlib

import numpy as np

#: a key of ``state_dict`` holding one averaged array is "average.<parameter or buffer name>"
AVERAGE = "average."


def check_decay(decay):
    """``float(decay)`` when it lies strictly between 0 and 1, else ValueError."""
    ok = isinstance(decay, (float, int, np.floating)) and not isinstance(decay, bool)
    if not ok or not 0 < decay < 1:            # also refuses nan
        raise ValueError(f"the EMA decay must be a number between 0 and 1 (e.g. 0.999), "
                         f"got {decay!r}")
    return float(decay)


class WeightEMA:
    """An exponential moving average of a model's parameters and buffers (see the module doc)."""

    def __init__(self, model, decay=0.999):
        self.model, self.decay, self.t = model, check_decay(decay), 0
        self.live = {**model.params, **model.buffers}      # name -> the model's own array
        self.average = {k: v.copy() for k, v in self.live.items()}

    def update(self):
        """Move the average one step towards the model's current weights."""
        self.t += 1
        d = min(self.decay, (1 + self.t) / (10 + self.t))
        for k, p in self.live.items():
            a = self.average[k]
            a += (1 - d) * (p - a)               # = d * a + (1 - d) * p

    def copy_to(self):
        """Write the average into the model's own arrays (in place, as an optimizer would)."""
        for k, a in self.live.items():
            a[...] = self.average[k]

    @contextlib.contextmanager
    def applied(self):
        """Inside the block the model holds the averaged weights; its own come back after."""
        own = {k: v.copy() for k, v in self.live.items()}
        self.copy_to()
        try:
            yield self.model
        finally:
            for k, v in self.live.items():
                v[...] = own[k]

    def state_dict(self):
        """{"t": int, "decay": float, "average.<name>": array, ...}: plain arrays and numbers."""
        return {"t": self.t, "decay": self.decay,
                **{AVERAGE + k: a.copy() for k, a in self.average.items()}}

    def load_state_dict(self, d):
        """Restore what ``state_dict`` returned (e.g. read back from last.npz)."""
        expected = {"t", "decay"} | {AVERAGE + k for k in self.average}
        missing, extra = sorted(expected - set(d)), sorted(set(d) - expected)
        if missing or extra:
            raise ValueError(f"the EMA state does not fit this model: "
                             + (f"no entry {missing[0]!r}" if missing else
                                f"unexpected entry {extra[0]!r}"))
        for k, a in self.average.items():
            if np.shape(d[AVERAGE + k]) != a.shape:
                raise ValueError(f"the EMA state {AVERAGE + k!r} has shape "
                                 f"{np.shape(d[AVERAGE + k])}, the model's array has {a.shape}")
        for k, a in self.average.items():
            a[...] = d[AVERAGE + k]
        self.t, self.decay = int(d["t"]), check_decay(float(d["decay"]))


def weight_ema(model, ema):
    """``fit``'s ema argument -> None, a new ``WeightEMA`` (from a decay) or the given one,
    which must average this very model."""
    if ema is None or isinstance(ema, WeightEMA):
        if ema is not None and ema.model is not model:
            raise ValueError("ema: this WeightEMA averages another model's weights")
        return ema
    return WeightEMA(model, ema)


def averaged(ema):
    """A context in which the model holds ``ema``'s average; nothing happens when ema is None."""
    return contextlib.nullcontext() if ema is None else ema.applied()
