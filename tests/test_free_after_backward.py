"""``free_after_backward()``: a model's backward drops each layer's cache once that layer is done.

What this proves: inside it, backward gives the same input gradient and parameter gradients as
outside, and leaves no layer holding its forward's arrays (every cache None, so they can be
freed while backward still runs); a second backward is then a clear BackwardError, not a wrong
answer. Winograd layers keep only their transformed-input arrays for the next forward to write
over. ``fit`` trains this way.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn import models
from minicnn.training import Callback, fit
from helpers import every_layer_models, layers_in


@pytest.mark.parametrize("which", [0, 1])
def test_same_gradients_and_every_cache_dropped(which):
    model = every_layer_models(np.float64)[which]
    x = np.random.default_rng(0).standard_normal((3, 2, 13, 11))
    y = model.forward(x, training=True)
    dout = np.random.default_rng(1).standard_normal(y.shape)
    dx_kept = model.backward(dout)
    grads_kept = {id(g): g.copy() for layer in layers_in(model) for g in layer.grads.values()}
    assert all(layer.cache is not None for layer in layers_in(model) if not layer.children())
    with mc.free_after_backward():
        dx = model.backward(dout)
    assert np.array_equal(dx, dx_kept)
    for layer in layers_in(model):
        for g in layer.grads.values():
            assert np.array_equal(g, grads_kept[id(g)])
    held = [type(layer).__name__ for layer in layers_in(model)
            if layer is not model and layer.cache is not None]
    assert held == []
    with mc.free_after_backward(), pytest.raises(mc.BackwardError, match="second time"):
        model.backward(dout)
    y2 = model.forward(x, training=True)                  # a new forward makes backward possible again
    assert model.backward(np.ones_like(y2)).shape == x.shape


def test_winograd_writes_its_next_forward_into_the_arrays_it_kept():
    layer = mc.Conv2D(16, 16, 3, padding=1, algorithm="winograd", rng=0)
    model = mc.Sequential([layer, mc.ReLU()])
    x = np.random.default_rng(0).standard_normal((2, 16, 9, 9)).astype(np.float32)
    y = model.forward(x, training=True)
    kept = [id(v) for v in layer.cache[0][2].values()]
    assert kept                                            # small: forward kept V for backward
    with mc.free_after_backward():
        model.backward(np.ones_like(y))
    assert layer.cache is None
    model.forward(x, training=True)
    assert [id(v) for v in layer.cache[0][2].values()] == kept


def test_fit_steps_leave_no_cache_behind():
    rng = np.random.default_rng(0)
    data = (rng.integers(0, 256, (24, 1, 16, 16), dtype=np.uint8), np.arange(24) % 2)
    model = models.build("mini_resnet", (1, 16, 16), 2, seed=0)
    seen = []

    class Look(Callback):
        def on_batch_end(self, batch, logs):
            seen.append([type(layer).__name__ for layer in layers_in(model)
                         if layer is not model and layer.cache is not None])

    fit(model, data, None, epochs=1, batch_size=8, callbacks=[Look()], verbose=False)
    assert seen and all(held == [] for held in seen)
