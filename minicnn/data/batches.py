"""Mini-batches, reshuffled every epoch by a seeded generator.

    rng = np.random.default_rng(0)
    for epoch in range(epochs):
        for xb, yb in iterate_batches(x, y, 32, shuffle=True, rng=rng):   # new order each epoch
            ...

Batches are views/copies of the data as given: nothing here augments or standardises.
"""
import numpy as np

from minicnn.kernels.shapes import positive_int


def iterate_batches(x, y, batch_size, shuffle=True, rng=None, drop_last=False):
    """x: (N, ...), y: (N, ...) -> yields (x[idx], y[idx]) for consecutive blocks of a
    permutation (shuffle=True, drawn from rng: a Generator, an int seed, or None) or of 0..N-1.

    The last batch holds the remainder (N % batch_size) unless drop_last=True.
    """
    n = len(x)
    if len(y) != n:
        raise ValueError(f"x and y must have the same length, got {n} and {len(y)}")
    batch_size = positive_int(batch_size, "batch_size")
    if shuffle:
        gen = np.random.default_rng(rng)      # a Generator comes back as is (see docs/maintaining.md)
        order = gen.permutation(n)
    else:
        order = np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        yield x[idx], y[idx]


def training_batches(images, labels, batch_size, standardizer, augmenter=None, rng=None,
                     drop_last=False):
    """The training path: uint8 (N, C, H, W) -> yields (float32 xb, yb), shuffled by rng,
    standardised, then augmented when an ``Augmenter`` is given (the only place it is applied)."""
    for xb, yb in iterate_batches(images, labels, batch_size, True, rng, drop_last):
        xb = standardizer.transform(xb)
        yield (augmenter(xb) if augmenter is not None else xb), yb


def eval_batches(images, labels, batch_size, standardizer):
    """The validation / test path: in order, standardised, never augmented (no such argument)."""
    for xb, yb in iterate_batches(images, labels, batch_size, shuffle=False):
        yield standardizer.transform(xb), yb
