"""What ``fit``, ``evaluate`` and ``predict`` check before any work.

Each check catches a mistake that would otherwise give a wrong result without a word (an optimizer
built for another model trains nothing; a model with 4 outputs fits 3 classes; float pixels skip
the standardisation) or fail much later, deep inside NumPy (a batch size of 0 meets the first
conv layer as an empty batch; a negative learning rate from a schedule climbs the loss). The
message names the argument and, where there is one, the fix.
"""
import math
import numbers

import numpy as np

from minicnn.kernels.shapes import whole
from minicnn.losses import check_labels


def learning_rate(lr, epoch):
    """The rate a schedule gave for ``epoch`` (1-based), refused unless finite and >= 0 (0 holds
    the weights still; a negative rate would climb the loss)."""
    if not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr < 0:
        raise ValueError(f"lr_schedule gave a learning rate of {lr!r} for epoch {epoch}: a "
                         f"learning rate must be a finite number >= 0")
    return float(lr)


def check_fit(model, x, y, classes, epochs, batch_size, optimizer, seed, augment, callbacks,
              early_stopping):
    """Refuse ``fit`` arguments that cannot make the run they describe (see the module doc)."""
    whole(epochs, "epochs", 1)
    whole(batch_size, "batch_size", 1)
    whole(seed, "seed", 0)
    if early_stopping is not None:
        whole(early_stopping, "early_stopping (a patience in epochs, or None)", 1)
    if getattr(model, "input_shape", None) and tuple(model.input_shape) != x.shape[1:]:
        raise ValueError(f"the model expects images of shape {tuple(model.input_shape)}, "
                         f"the training data has {x.shape[1:]}")
    if hasattr(model, "output_shape"):
        k = int(np.prod(model.output_shape(tuple(x.shape[1:]))))
        if classes is not None and len(classes) != k:
            raise ValueError(f"the model has {k} outputs but the data has {len(classes)} classes "
                             f"({', '.join(classes)}): build it with num_classes={len(classes)}")
        check_labels(y, k)
    if optimizer is not None:
        mine = {id(p) for p in model.params.values()}
        if any(id(p) not in mine for p in getattr(optimizer, "params", {}).values()):
            raise ValueError(f"the optimizer updates arrays that are not this model's parameters "
                             f"(built for another model?): create it with this model, e.g. "
                             f"{type(optimizer).__name__}(model, lr=...)")
    if augment is not None and not callable(augment):
        raise ValueError(f"augment must be None or a function of a uint8 batch, e.g. "
                         f"Augmenter(), got {augment!r}")
    try:
        callbacks = list(callbacks)
    except TypeError:
        raise ValueError(f"callbacks must be a list of Callback objects, got "
                         f"{type(callbacks).__name__}") from None
    for cb in callbacks:
        missing = [h for h in ("on_epoch_begin", "on_batch_end", "on_epoch_end")
                   if not callable(getattr(cb, h, None))]
        if missing:
            raise ValueError(f"callback {cb!r} has no {', '.join(missing)}: subclass "
                             f"minicnn.training.Callback and override the hooks you need")
    return callbacks


def check_input_shape(model, images):
    """Refuse images of another shape than the model was trained on (its metadata says)."""
    shape = (getattr(model, "metadata", None) or {}).get("input_shape")
    if shape is not None and tuple(images.shape[1:]) != tuple(shape):
        raise ValueError(f"the model was trained on images of shape {tuple(shape)} (C, H, W), got "
                         f"{tuple(images.shape[1:])}: decode them as it was trained "
                         f"(load_image(path, image_size, color)), or pass file paths")


def raw_pixels(images):
    """True when ``images`` (any numeric dtype) hold raw pixels: whole numbers 0..255."""
    return (np.issubdtype(images.dtype, np.number) and bool(np.all(np.isfinite(images)))
            and images.min() >= 0 and images.max() <= 255
            and np.array_equal(images, np.round(images)))


def check_raw_floats(images, preprocessing):
    """Refuse float images that are raw pixels (whole numbers 0..255) when the model standardises
    uint8 input: scored as they are, they would skip that standardisation."""
    if preprocessing is None or images.dtype == np.uint8 or not np.issubdtype(images.dtype,
                                                                             np.floating):
        return
    if raw_pixels(images) and images.max() > 1:
        raise ValueError(f"these {images.dtype} images are whole numbers 0..255, raw pixels, and "
                         f"the model standardises its input: pass them as uint8 "
                         f"(images.astype(np.uint8)) to have that done, or pass "
                         f"preprocessed=True if they really are network input")
