"""The training loop: ``fit(model, train, val, epochs=...) -> History``.

One epoch, written out (this is all of it; the rest of the file is bookkeeping):

    for idx in batches of a seeded permutation of the training set:
        x = standardizer.transform(images[idx])       # uint8 -> float32, training statistics
        x = augment(x)                                # random flips/shifts (training batches only)
        logits = model.forward(x, training=True)      # (B, K)
        loss, dlogits = softmax_cross_entropy(logits, labels[idx])
        model.backward(dlogits)                       # fills model.grads
        optimizer.step()                              # updates model.params in place
    val_loss, val_acc = evaluate on the validation set (inference mode, no augmentation)

Reproducible: at the start of epoch e every random source -- the shuffling, the augmenter, each
Dropout layer's generator -- is reseeded from (seed, e). So the same seed and data give the same
numbers, and a resumed run continues exactly as an uninterrupted one would have.

Faults: a non-finite loss (or weights) stops training with a message; the model is rolled back to
the end of the last good epoch and no checkpoint is overwritten with bad weights. Ctrl-C saves
last.npz and history.json and returns (``history.stop_reason == "interrupted"``). ``resume=True``
continues from ``out_dir/last.npz`` with its optimizer state, at the epoch after the saved one.

Nothing uses the gradient with respect to the input images, so while ``fit`` runs the first
layer gets ``needs_input_grad = False`` (a layer that can skip dx, such as Conv2D, then returns
None from backward); the flag is restored when ``fit`` returns or raises.
"""
import os
import sys
import time

import numpy as np

from minicnn.data import Standardizer, iterate_batches
from minicnn.losses import softmax_cross_entropy
from minicnn.optim import Adam
from minicnn.training import checkpoint as ckpt
from minicnn.training.history import History, format_epoch
from minicnn.training.inference import logits_in_batches, make_transform
from minicnn.training.schedules import get_schedule


class _NonFinite(Exception):
    """The loss or the weights became inf/NaN."""


def _skip_input_grad(model):
    """Tell the first layer that nobody needs dL/dx (``Layer.needs_input_grad``); return a
    function that restores the flag. Layers that cannot skip their input gradient ignore it."""
    layers = getattr(model, "layers", None)
    first = layers[0] if layers else None
    if first is None:
        return lambda: None
    previous = first.needs_input_grad
    first.needs_input_grad = False

    def restore():
        first.needs_input_grad = previous
    return restore


def _unpack(data, name):
    """A Dataset or an (images, labels) pair -> (images, labels, info dict)."""
    if hasattr(data, "images") and hasattr(data, "labels"):
        info = {"classes": list(data.classes), "image_size": int(data.image_size),
                "color": data.color}
        return data.images, np.asarray(data.labels), info
    try:
        x, y = data
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a Dataset or an (images, labels) pair, "
                         f"got {type(data).__name__}") from None
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 4 or len(x) == 0 or y.shape != (len(x),):
        raise ValueError(f"{name}: expected images (N, C, H, W) with N > 0 and labels (N,), "
                         f"got {x.shape} and {y.shape}")
    return x, y, {}


def _reseed(model, augment, seed, epoch):
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


def _describe(augment):
    if augment is None:
        return None
    return augment.get_config() if hasattr(augment, "get_config") else repr(augment)


def _make_standardizer(standardize, images):
    """Standardizer fitted on the training images only (None for float input or standardize=None)."""
    if standardize is None or images.dtype != np.uint8:
        return None
    if isinstance(standardize, Standardizer):
        return standardize if standardize.fitted else standardize.fit(images)
    return Standardizer(mode=standardize).fit(images)


def _train_epoch(model, optimizer, x, y, transform, augment, batch_size, rng, bar, callbacks):
    """One pass over the training set; returns (mean loss, accuracy)."""
    total_loss, correct, seen = 0.0, 0, 0
    for b, (xb, yb) in enumerate(iterate_batches(x, y, batch_size, shuffle=True, rng=rng)):
        xb = transform(xb)
        if augment is not None:
            xb = augment(xb)
        logits = model.forward(xb, training=True)                       # (B, K)
        loss, dlogits = softmax_cross_entropy(logits, yb)
        if not np.isfinite(loss):
            raise _NonFinite(f"the loss became {float(loss)} at batch {b + 1}")
        model.backward(dlogits)
        optimizer.step()
        total_loss += float(loss) * len(yb)
        correct += int((logits.argmax(axis=1) == yb).sum())
        seen += len(yb)
        logs = {"loss": total_loss / seen, "accuracy": correct / seen}
        bar.set_postfix(loss=f"{logs['loss']:.3f}", acc=f"{logs['accuracy']:.3f}", refresh=False)
        bar.update(1)
        for cb in callbacks:
            cb.on_batch_end(b, logs)
    return total_loss / seen, correct / seen


def _val_epoch(model, x, y, transform, batch_size):
    logits = logits_in_batches(model, x, transform, batch_size)
    loss, _ = softmax_cross_entropy(logits, y)
    if not np.isfinite(loss):
        raise _NonFinite(f"the validation loss became {float(loss)}")
    return float(loss), float((logits.argmax(axis=1) == y).mean())


def _best_so_far(history):
    """(best score, epochs since it) from a History: the score is val_accuracy, else accuracy."""
    h = history.history
    scores = h["val_accuracy"] if any(a is not None for a in h["val_accuracy"]) else h["accuracy"]
    if not scores:
        return -np.inf, 0
    best_i = int(np.argmax(scores))
    return scores[best_i], len(scores) - 1 - best_i


def _training_meta(model, info, metadata, x, std, seed, epochs, batch_size, optimizer,
                   lr_schedule, augment, early_stopping):
    """The checkpoint metadata: how the model was built, what it expects, how it was trained."""
    meta = {**(getattr(model, "metadata", None) or {}), **info, **(metadata or {})}
    meta.pop("interrupted_in_epoch", None)
    schedule = lr_schedule if isinstance(lr_schedule, str) or lr_schedule is None else "custom"
    meta.update(input_shape=list(x.shape[1:]), seed=seed,
                preprocessing=None if std is None else std.to_dict(),
                training={"epochs": epochs, "batch_size": batch_size,
                          "optimizer": type(optimizer).__name__, "lr_schedule": schedule,
                          "augment": _describe(augment), "early_stopping": early_stopping})
    return meta


def _save(out_dir, model, meta, history, optimizer, best=False):
    """last.npz (+ optimizer state and history), best.npz if asked, and history.json."""
    if best:
        ckpt.save_checkpoint(model, os.path.join(out_dir, ckpt.BEST), meta)
    ckpt.save_checkpoint(model, os.path.join(out_dir, ckpt.LAST),
                         {**meta, "history": history.to_dict()}, optimizer)
    history.to_json(os.path.join(out_dir, ckpt.HISTORY))


def fit(model, train, val=None, epochs=10, batch_size=32, optimizer=None, lr_schedule=None,
        early_stopping=None, augment=None, standardize="dataset", out_dir=None, seed=0,
        resume=False, verbose=True, callbacks=(), metadata=None):
    """Train ``model`` on ``train`` for ``epochs`` epochs; return a ``History``.

    train, val:     Datasets (uint8 images) or (images, labels) pairs; float images are used as is.
    optimizer:      default Adam(model, lr=1e-3).
    lr_schedule:    None (constant), "cosine", "step" or a function epoch (0-based) -> lr.
    early_stopping: None, or patience: stop after that many epochs without a better val accuracy.
    augment:        a callable on float batches (e.g. minicnn.data.Augmenter), training only.
    standardize:    "dataset" (per-channel statistics of the training split), "per_batch", a
                    Standardizer, or None. Saved in the checkpoint as ``preprocessing``.
    out_dir:        where best.npz, last.npz and history.json go (None: keep nothing on disk).
    resume:         continue from out_dir/last.npz (weights, optimizer state, history, epoch).
    callbacks:      ``Callback`` objects; metadata: extra checkpoint metadata (e.g. the split).
    Best = highest val_accuracy (training accuracy when there is no validation data).
    """
    from tqdm import tqdm
    x, y, info = _unpack(train, "train")
    xv, yv, _ = _unpack(val, "val") if val is not None else (None, None, None)
    if getattr(model, "input_shape", None) and tuple(model.input_shape) != x.shape[1:]:
        raise ValueError(f"the model expects images of shape {tuple(model.input_shape)}, "
                         f"the training data has {x.shape[1:]}")
    if optimizer is None:
        optimizer = Adam(model, lr=1e-3)
    schedule = get_schedule(lr_schedule, optimizer.lr, epochs)    # before resume changes .lr
    std = _make_standardizer(standardize, x)
    history = History()
    if resume:
        if out_dir is None:
            raise ValueError("resume=True needs out_dir (the folder holding last.npz)")
        saved = ckpt.restore(model, os.path.join(out_dir, ckpt.LAST), optimizer)
        history = History.from_dict(saved.get("history") or {})
        if saved.get("preprocessing") and std is not None:
            std = Standardizer.from_dict(saved["preprocessing"])   # exactly what it trained with
    transform = make_transform(std, model.dtype)
    meta = _training_meta(model, info, metadata, x, std, seed, epochs, batch_size, optimizer,
                          lr_schedule, augment, early_stopping)
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
    say = print if verbose else (lambda *a, **k: None)
    start = history.epochs
    if start >= epochs:
        say(f"already trained for {start} epochs (asked for {epochs}); nothing to do")
        return history
    n_batches = -(-len(x) // batch_size)
    say(f"training on {len(x)} images ({n_batches} batches of {batch_size})"
        + (f", validating on {len(xv)}" if xv is not None else "")
        + (f", resuming after epoch {start}" if start else "")
        + (f"; checkpoints in {out_dir}" if out_dir else ""))
    good = ckpt.snapshot(model)                      # the weights to roll back to on NaN
    history.stop_reason = history.message = None
    best, stale = _best_so_far(history)
    epoch = start
    restore_input_grad = _skip_input_grad(model)
    try:
        for epoch in range(start + 1, epochs + 1):
            rng = _reseed(model, augment, seed, epoch)
            optimizer.lr = float(schedule(epoch - 1))
            for cb in callbacks:
                cb.on_epoch_begin(epoch, {"lr": optimizer.lr})
            t0 = time.perf_counter()
            with tqdm(total=n_batches, desc=f"epoch {epoch}/{epochs}", unit="batch", leave=False,
                      file=sys.stdout, disable=None if verbose else True, dynamic_ncols=True) as bar:
                loss, acc = _train_epoch(model, optimizer, x, y, transform, augment, batch_size,
                                         rng, bar, callbacks)
            val_loss, val_acc = (_val_epoch(model, xv, yv, transform, batch_size)
                                 if xv is not None else (None, None))
            if not ckpt.all_finite(model):
                raise _NonFinite("the weights became non-finite")
            logs = {"loss": loss, "accuracy": acc, "val_loss": val_loss, "val_accuracy": val_acc,
                    "lr": optimizer.lr, "epoch_time": time.perf_counter() - t0}
            history.append(**logs)
            good = ckpt.snapshot(model)
            score = val_acc if val_acc is not None else acc
            improved = score > best
            best, stale = (score, 0) if improved else (best, stale + 1)
            say(format_epoch(epoch, epochs, logs) + ("  *" if improved else ""), flush=True)
            if out_dir is not None:
                meta.update(epoch=epoch, val_accuracy=val_acc)
                _save(out_dir, model, meta, history, optimizer, best=improved)
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            if early_stopping is not None and stale >= early_stopping:
                history.stop_reason = "early_stopping"
                history.message = (f"early stopping: no better accuracy for {early_stopping} epochs"
                                   f" (best {best:.3f} at epoch {history.best_epoch})")
                say(history.message)
                break
    except KeyboardInterrupt:
        history.stop_reason = "interrupted"
        history.message = f"interrupted during epoch {epoch}"
        if out_dir is not None and ckpt.all_finite(model):
            # keep the progress made in this epoch; a resume restarts the epoch from these weights
            meta.update(epoch=history.epochs, interrupted_in_epoch=epoch)
            _save(out_dir, model, meta, history, optimizer)
            history.message += (f"; saved {os.path.join(out_dir, ckpt.LAST)} and "
                                f"{ckpt.HISTORY} (resume to continue)")
    except _NonFinite as e:
        ckpt.rollback(model, good)
        history.stop_reason = "non_finite_loss"
        history.message = (f"stopped in epoch {epoch}: {e}; the model was rolled back to the end "
                           f"of epoch {history.epochs}"
                           + (f", and {os.path.join(out_dir, ckpt.LAST)} still holds it"
                              if out_dir and history.epochs else "")
                           + ". Try a lower learning rate.")
    finally:
        restore_input_grad()
    if history.stop_reason in ("interrupted", "non_finite_loss"):
        print(history.message, file=sys.stderr, flush=True)
    if out_dir is not None:
        history.to_json(os.path.join(out_dir, ckpt.HISTORY))
    model.metadata = {**meta, "epoch": history.epochs}
    return history
