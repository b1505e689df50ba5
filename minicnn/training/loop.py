"""The training loop: ``fit(model, train, val, epochs=...) -> History``.

One epoch, written out (this is all of it; ``training/run.py`` holds the bookkeeping):

    for idx in batches of a seeded permutation of the training set:
        x = standardizer.transform(images[idx])       # uint8 -> float32, training statistics
        x = augment(x)                                # random flips/shifts (training batches only)
        logits = model.forward(x, training=True)      # (B, K)
        loss, dlogits = softmax_cross_entropy(logits, labels[idx], label_smoothing)
        model.backward(dlogits)                       # fills model.grads
        optimizer.step()                              # updates model.params in place
    val_loss, val_acc = evaluate on the validation set (inference mode, no augmentation)

``label_smoothing=0.1`` trains against (1 - 0.1) * onehot + 0.1 / K (``losses.smooth_labels``);
validation always scores the plain cross-entropy of the true labels, comparable across runs.
``mixup=0.2`` blends each batch with a shuffled copy of itself and trains against
lam * CE(y) + (1 - lam) * CE(y2), the cross-entropy of the blended labels (``data/mixup.py``).
With ``ema=0.999`` an exponential moving average of the weights moves after every
``optimizer.step()``, and validation (and best.npz) use the average (``training/averaging.py``).

Reproducible: at the start of epoch e every random source -- the shuffling, the augmenter, each
Dropout layer's generator, the mixup draws -- is reseeded from (seed, e). So the same seed and
data give the same numbers, and a resumed run continues exactly as an uninterrupted one would have.

Checked before the first epoch: the data (an empty validation split is an error), the output
folder (created and writable; one that already holds a run is refused unless ``resume`` or
``overwrite``), and on ``resume`` that the data, classes, input shape, seed and batch size are
the saved run's. last.npz is written before epoch 1 and after every epoch.

Faults: a non-finite loss or weights, or a training loss that grows past 100 x max(ln K, its
starting value) (``stop_reason`` "non_finite_loss" / "diverged"), stops training with a message.
Ctrl-C (``"interrupted"``) returns at once. In each case the model and the optimizer go back to
the end of the last complete epoch, which is what last.npz holds: ``resume=True`` then continues
from there and ends bit-identical to a run that was never interrupted, wherever Ctrl-C came.

Nothing uses the gradient with respect to the input images, so while ``fit`` runs the first
layer gets ``needs_input_grad = False`` (a layer that can skip dx, such as Conv2D, then returns
None from backward); the flag is restored when ``fit`` returns or raises.
"""
import numpy as np

from minicnn.data import iterate_batches
from minicnn.data.mixup import mix_batch
from minicnn.layers import free_after_backward
from minicnn.losses import softmax_cross_entropy
from minicnn.training.run import NonFinite, Run


def fit(model, train, val=None, epochs=10, batch_size=32, optimizer=None, lr_schedule=None,
        early_stopping=None, augment=None, standardize="dataset", out_dir=None, seed=0,
        resume=False, verbose=True, callbacks=(), metadata=None, overwrite=False, ema=None,
        label_smoothing=0.0, mixup=None):
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
    overwrite:      replace a run already in out_dir (otherwise that is an error).
    callbacks:      ``Callback`` objects; metadata: extra checkpoint metadata (e.g. the split).
    ema:            None, or a decay such as 0.999: keep an exponential moving average of the
                    weights (``training.averaging``), validate it, save it as best.npz and
                    return the model holding it. last.npz holds the weights being trained.
    label_smoothing: eps in [0, 1): the training targets become (1 - eps) * onehot + eps / K.
    mixup:          None, or a Beta parameter alpha such as 0.2: train on blends of pairs of
                    images and of their labels (``minicnn.data.mixup``).
    Best = highest val_accuracy (training accuracy when there is no validation data).
    """
    run = Run(model, train, val, epochs, batch_size, optimizer, lr_schedule, early_stopping,
              augment, standardize, out_dir, seed, resume, overwrite, verbose, callbacks, metadata,
              ema, label_smoothing, mixup)
    with run.guarded():                        # Ctrl-C, NaN, divergence: back to the last epoch
        for epoch, rng in run.epochs():        # every random source reseeded from (seed, epoch)
            with run.progress_bar(epoch) as bar:
                loss, acc = train_epoch(model, run.optimizer, run.x, run.y, run.transform,
                                        augment, batch_size, rng, bar, callbacks, run.ema,
                                        run.label_smoothing, run.mixup)
            val_loss, val_acc = run.validate()
            if run.end_epoch(epoch, loss, acc, val_loss, val_acc):   # checkpoints; early stop
                break
    return run.finish()


def train_epoch(model, optimizer, x, y, transform, augment, batch_size, rng, bar, callbacks=(),
                ema=None, label_smoothing=0.0, mixup=None):
    """One pass over the training set in shuffled batches; returns (mean loss, accuracy).
    ``ema`` (a ``WeightEMA``), when given, moves its average after every step; the loss is
    taken against labels smoothed by ``label_smoothing``; ``mixup`` (alpha) blends the batches."""
    total_loss, correct, seen = 0.0, 0, 0
    mix_rng = None if mixup is None else np.random.default_rng(rng.integers(2 ** 62))
    for b, (xb, yb) in enumerate(iterate_batches(x, y, batch_size, shuffle=True, rng=rng)):
        xb = transform(xb)
        if augment is not None:
            xb = augment(xb)
        if mix_rng is not None:                                         # yb weighs lam >= 0.5
            xb, yb, yb2, lam = mix_batch(xb, yb, mixup, mix_rng)
        logits = model.forward(xb, training=True)                       # (B, K)
        loss, dlogits = softmax_cross_entropy(logits, yb, label_smoothing)
        if mix_rng is not None:     # CE is linear in its targets: this is CE(lam*y + (1-lam)*y2)
            loss2, dlogits2 = softmax_cross_entropy(logits, yb2, label_smoothing)
            loss, dlogits = lam * loss + (1 - lam) * loss2, lam * dlogits + (1 - lam) * dlogits2
        if not np.isfinite(loss):
            raise NonFinite(f"the loss became {float(loss)} at batch {b + 1}")
        with free_after_backward():                                     # activations go as it runs
            model.backward(dlogits)
        optimizer.step()
        if ema is not None:
            ema.update()
        total_loss += float(loss) * len(yb)
        correct += int((logits.argmax(axis=1) == yb).sum())
        seen += len(yb)
        logs = {"loss": total_loss / seen, "accuracy": correct / seen}
        bar.set_postfix(loss=f"{logs['loss']:.3f}", acc=f"{logs['accuracy']:.3f}", refresh=False)
        bar.update(1)
        for cb in callbacks:
            cb.on_batch_end(b, logs)
    return total_loss / seen, correct / seen
