"""Everything ``fit`` does around its epochs: checks, resume, checkpoints, faults, early stopping.

``fit`` (loop.py) reads as the epoch it is; a ``Run`` holds the rest:

    Run(...)            checks the data, the output folder and the settings before any training;
                        resumes from out_dir/last.npz (refusing other data, classes or settings),
                        or saves the untrained state there (so even epoch 1 can be resumed)
    run.epochs()        yields (epoch, shuffling rng): every random source reseeded from
                        (seed, epoch), the learning rate set from the schedule
    run.end_epoch(...)  records the epoch, saves best.npz / last.npz / history.json, returns True
                        when early stopping says stop
    run.guarded()       a context for the epochs: on Ctrl-C, a non-finite loss or a diverging
                        loss, the model and optimizer go back to the end of the last complete
                        epoch (what last.npz holds), so a resumed run continues exactly; the
                        first layer's input-gradient flag is restored however the epochs end
    run.finish()        writes history.json, sets model.metadata, returns the History
"""
import contextlib
import math
import os
import sys
import time

import numpy as np

from minicnn.data import Standardizer
from minicnn.data.mixup import check_mixup
from minicnn.layers import no_grad
from minicnn.losses import check_label_smoothing, softmax_cross_entropy
from minicnn.optim import Adam
from minicnn.training import checkpoint as ckpt
from minicnn.training.averaging import averaged, weight_ema
from minicnn.training.checks import check_fit, learning_rate
from minicnn.training.history import History, format_epoch
from minicnn.training.inference import logits_in_batches, make_transform
from minicnn.training.schedules import get_schedule

#: stop when an epoch's training loss exceeds this many times max(ln K, the initial loss)
DIVERGENCE_FACTOR = 100.0


class NonFinite(Exception):
    """The loss or the weights became inf/NaN (``stop_reason = "non_finite_loss"``)."""


class Diverged(Exception):
    """The loss grew far beyond its starting value (``stop_reason = "diverged"``)."""


def unpack(data, name):
    """A Dataset or an (images, labels) pair -> (images, labels, info dict); never empty."""
    if hasattr(data, "images") and hasattr(data, "labels"):
        x, y = data.images, np.asarray(data.labels)
        info = {"classes": list(data.classes), "image_size": int(data.image_size),
                "color": data.color, "crop": bool(getattr(data, "crop", False))}
    else:
        try:
            x, y = data
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected a Dataset or an (images, labels) pair, "
                             f"got {type(data).__name__}") from None
        x, y, info = np.asarray(x), np.asarray(y), {}
        if x.ndim != 4 or y.shape != (len(x),):
            raise ValueError(f"{name}: expected images (N, C, H, W) and labels (N,), "
                             f"got {x.shape} and {y.shape}")
    if len(x) == 0:
        raise ValueError(f"{name}: the {'training' if name == 'train' else 'validation'} set is "
                         f"empty (too few images per class for the split?)")
    return x, y, info


def reseed(model, augment, seed, epoch):
    """Give every random source a fresh generator derived from (seed, epoch); return the shuffler."""
    rng = np.random.default_rng([seed, epoch])
    stack = [model]
    while stack:                                   # depth-first, in children() order: deterministic
        layer = stack.pop(0)
        if isinstance(getattr(layer, "rng", None), np.random.Generator):
            layer.rng = np.random.default_rng(rng.integers(2 ** 62))
        stack = [child for _, child in layer.children()] + stack
    if augment is not None and isinstance(getattr(augment, "rng", None), np.random.Generator):
        augment.rng = np.random.default_rng(rng.integers(2 ** 62))
    return rng


def _standardizer(standardize, images):
    """Standardizer fitted on the training images only (None for float input or standardize=None)."""
    if standardize is None or images.dtype != np.uint8:
        return None
    if isinstance(standardize, Standardizer):
        return standardize if standardize.fitted else standardize.fit(images)
    return Standardizer(mode=standardize).fit(images)


class Run:
    """One call of ``fit``: its data, settings, state on disk and in memory (see the module doc)."""

    def __init__(self, model, train, val, epochs, batch_size, optimizer, lr_schedule,
                 early_stopping, augment, standardize, out_dir, seed, resume, overwrite, verbose,
                 callbacks, metadata, ema=None, label_smoothing=0.0, mixup=None):
        self.x, self.y, info = unpack(train, "train")
        self.xv, self.yv, _ = unpack(val, "val") if val is not None else (None, None, None)
        callbacks = check_fit(model, self.x, self.y, info.get("classes"), epochs, batch_size,
                              optimizer, seed, augment, callbacks, early_stopping)
        self.model, self.optimizer = model, optimizer or Adam(model, lr=1e-3)
        self.ema = weight_ema(model, ema)
        self.label_smoothing, self.mixup = check_label_smoothing(label_smoothing), check_mixup(mixup)
        self.epochs_total, self.batch_size, self.augment = epochs, batch_size, augment
        self.early_stopping, self.seed, self.callbacks = early_stopping, seed, callbacks
        self.out_dir = None if out_dir is None else os.fspath(out_dir)
        self.say = print if verbose else (lambda *a, **k: None)
        self.verbose = verbose
        self.schedule = get_schedule(lr_schedule, self.optimizer.lr, epochs)  # before resume
        std = _standardizer(standardize, self.x)
        self.meta = self._metadata(info, metadata, std, lr_schedule)
        self.history = History()
        if resume:
            std = self._resume(std)
        elif self.out_dir is not None:
            ckpt.prepare_out_dir(self.out_dir, overwrite)
        self.transform = make_transform(std, model.dtype)
        if self.meta.get("loss_limit") is None:            # a resumed run keeps its limit
            self.meta["loss_limit"] = self._loss_limit()
        self.loss_limit = self.meta["loss_limit"]
        self.good = ckpt.snapshot(model, self.optimizer, self.ema)  # for an interrupted epoch
        if not resume and self.out_dir is not None:
            self._save(self.history, best=False)           # epoch 0: even epoch 1 can resume
        self.best, self.stale = self.history.best_so_far()

    def _metadata(self, info, metadata, std, lr_schedule):
        """The checkpoint metadata: how the model was built, what it expects, how it was trained."""
        meta = {**(getattr(self.model, "metadata", None) or {}), **info, **(metadata or {})}
        for stale in ("interrupted_in_epoch", "loss_limit", "history"):
            meta.pop(stale, None)
        aug = self.augment
        schedule = lr_schedule if isinstance(lr_schedule, str) or lr_schedule is None else "custom"
        meta.update(input_shape=list(self.x.shape[1:]), seed=self.seed,
                    preprocessing=None if std is None else std.to_dict(),
                    train_data=ckpt.fingerprint(self.x, self.y),
                    val_data=None if self.xv is None else ckpt.fingerprint(self.xv, self.yv),
                    training={"epochs": self.epochs_total, "batch_size": self.batch_size,
                              "optimizer": type(self.optimizer).__name__, "lr_schedule": schedule,
                              "augment": None if aug is None else (aug.get_config() if hasattr(
                                  aug, "get_config") else repr(aug)),
                              "early_stopping": self.early_stopping,
                              "ema": None if self.ema is None else self.ema.decay,
                              "label_smoothing": self.label_smoothing, "mixup": self.mixup})
        return meta

    def _resume(self, std):
        """Load out_dir/last.npz into the model and optimizer; return the standardizer to use."""
        if self.out_dir is None:
            raise ValueError("resume=True needs out_dir (the folder holding last.npz)")
        path = os.path.join(self.out_dir, ckpt.LAST)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"cannot resume: {path} does not exist "
                                    f"(train without resume first)")
        ckpt.check_resume(ckpt.load_checkpoint(path).metadata, self.meta, path)
        saved = ckpt.restore(self.model, path, self.optimizer, self.ema)
        self.history = History.from_dict(saved.get("history") or {})
        self.meta["loss_limit"] = saved.get("loss_limit")
        if saved.get("preprocessing") and std is not None:
            std = Standardizer.from_dict(saved["preprocessing"])   # exactly what it trained with
            self.meta["preprocessing"] = saved["preprocessing"]
        return std

    def _loss_limit(self):
        """DIVERGENCE_FACTOR x max(ln K, the loss of the current model on the first batch)."""
        xb, yb = self.x[:self.batch_size], self.y[:self.batch_size]
        with no_grad():
            logits = self.model.forward(self.transform(xb), training=False)
        start = float(softmax_cross_entropy(logits, yb)[0])
        k = max(logits.shape[1], 2)
        return DIVERGENCE_FACTOR * max(math.log(k), start if math.isfinite(start) else 0.0)

    # ---- the epochs ------------------------------------------------------------------------
    def epochs(self):
        """Yield (epoch, rng) for each epoch still to run (1-based), after its setup."""
        start = self.history.epochs
        if start >= self.epochs_total:
            self.say(f"already trained for {start} epochs (asked for {self.epochs_total}); "
                     f"nothing to do")
            return
        n_batches = -(-len(self.x) // self.batch_size)
        self.say(f"training on {len(self.x)} images ({n_batches} batches of {self.batch_size})"
                 + (f", validating on {len(self.xv)}" if self.xv is not None else "")
                 + (f", resuming after epoch {start}" if start else "")
                 + (f"; checkpoints in {self.out_dir}" if self.out_dir else ""))
        for epoch in range(start + 1, self.epochs_total + 1):
            self.epoch = epoch
            rng = reseed(self.model, self.augment, self.seed, epoch)
            self.optimizer.lr = learning_rate(self.schedule(epoch - 1), epoch)
            for cb in self.callbacks:
                cb.on_epoch_begin(epoch, {"lr": self.optimizer.lr})
            self.t0 = time.perf_counter()
            yield epoch, rng

    def progress_bar(self, epoch):
        from tqdm import tqdm   # (kept local: the progress bar is the only use)
        return tqdm(total=-(-len(self.x) // self.batch_size), desc=f"epoch {epoch}/"
                    f"{self.epochs_total}", unit="batch", leave=False, file=sys.stdout,
                    disable=None if self.verbose else True, dynamic_ncols=True)

    def validate(self):
        """(val_loss, val_accuracy) in inference mode, or (None, None) without validation data."""
        if self.xv is None:
            return None, None
        with averaged(self.ema):
            logits = logits_in_batches(self.model, self.xv, self.transform, self.batch_size)
        loss = float(softmax_cross_entropy(logits, self.yv)[0])
        if not math.isfinite(loss):
            raise NonFinite(f"the validation loss became {loss}")
        return loss, float((logits.argmax(axis=1) == self.yv).mean())

    def end_epoch(self, epoch, loss, acc, val_loss, val_acc):
        """Record and checkpoint a finished epoch; True when early stopping ends the run."""
        if not ckpt.all_finite(self.model):
            raise NonFinite("the weights became non-finite")
        if loss > self.loss_limit:
            raise Diverged(f"the training loss grew to {loss:.3g} (limit {self.loss_limit:.3g})")
        logs = {"loss": loss, "accuracy": acc, "val_loss": val_loss, "val_accuracy": val_acc,
                "lr": self.optimizer.lr, "epoch_time": time.perf_counter() - self.t0}
        history = History.from_dict(self.history.to_dict())
        history.append(**logs)
        score = val_acc if val_acc is not None else acc
        improved = score > self.best
        if self.out_dir is not None:
            self.meta.update(epoch=epoch, val_accuracy=val_acc)
            self._save(history, best=improved)
        # only now is the epoch complete: an interruption before this line returns to epoch - 1
        self.history, self.good = history, ckpt.snapshot(self.model, self.optimizer, self.ema)
        self.best, self.stale = (score, 0) if improved else (self.best, self.stale + 1)
        self.say(format_epoch(epoch, self.epochs_total, logs) + ("  *" if improved else ""),
                 flush=True)
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)
        if self.early_stopping is not None and self.stale >= self.early_stopping:
            self._stop("early_stopping", f"early stopping: no better accuracy for "
                       f"{self.early_stopping} epochs (best {self.best:.3f} at epoch "
                       f"{self.history.best_epoch})")
            self.say(self.history.message)
            return True
        return False

    def _save(self, history, best):
        """last.npz (+ optimizer state and history), best.npz if asked, and history.json."""
        meta = {**self.meta, "epoch": history.epochs}
        if best:
            with averaged(self.ema):                              # the weights validated
                ckpt.save_checkpoint(self.model, os.path.join(self.out_dir, ckpt.BEST), meta)
        ckpt.save_checkpoint(self.model, os.path.join(self.out_dir, ckpt.LAST),
                             {**meta, "history": history.to_dict()}, self.optimizer, self.ema)
        history.to_json(os.path.join(self.out_dir, ckpt.HISTORY))

    # ---- faults and the end ----------------------------------------------------------------
    def _stop(self, reason, message):
        self.history.stop_reason, self.history.message = reason, message

    @contextlib.contextmanager
    def guarded(self):
        """Run the epochs; on Ctrl-C or a fault go back to the last complete epoch (see above)."""
        first = getattr(self.model, "layers", None)
        first = first[0] if first else None
        flag = first.needs_input_grad if first is not None else None
        if first is not None:
            first.needs_input_grad = False      # nothing uses dL/d(images): Conv2D skips it
        self.history.stop_reason = self.history.message = None
        self.epoch = self.history.epochs
        saved = (f"; {os.path.join(self.out_dir, ckpt.LAST)} holds epoch {{}}"
                 if self.out_dir else "")
        try:
            yield self
        except KeyboardInterrupt:
            ckpt.rollback(self.model, self.good, self.optimizer, self.ema)
            self._stop("interrupted", f"interrupted during epoch {self.epoch}; the model is back "
                       f"at the end of epoch {self.history.epochs}" + saved.format(
                           self.history.epochs) + (" (resume to continue)" if saved else ""))
        except (NonFinite, Diverged) as e:
            ckpt.rollback(self.model, self.good, self.optimizer, self.ema)
            self._stop("non_finite_loss" if isinstance(e, NonFinite) else "diverged",
                       f"stopped in epoch {self.epoch}: {e}; the model was rolled back to the "
                       f"end of epoch {self.history.epochs}" + saved.format(self.history.epochs)
                       + ". Try a lower learning rate.")
        finally:
            if first is not None:
                first.needs_input_grad = flag

    def finish(self):
        """Report a fault, write history.json, set model.metadata; return the History."""
        if self.history.stop_reason in ("interrupted", "non_finite_loss", "diverged"):
            print(self.history.message, file=sys.stderr, flush=True)
        if self.out_dir is not None:
            self.history.to_json(os.path.join(self.out_dir, ckpt.HISTORY))
        if self.ema is not None:
            self.ema.copy_to()                 # with ema the model leaves with the weights validated
        self.model.metadata = {**self.meta, "epoch": self.history.epochs}
        return self.history
