"""The whole stack learns: a tiny CNN memorises 20 random images with random labels.

This is the first thing to try when a network will not train. If forward, backward, loss and
optimizer fit together, a model with more parameters than examples can learn any labelling of
a handful of examples, so training accuracy must reach 100% within a few hundred Adam steps.
A sign error anywhere in a backward pass, or an optimizer that does not update in place, fails it.
"""
import numpy as np

import minicnn as mc


def test_tiny_cnn_memorises_20_random_examples():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 4, size=20)
    model = mc.Sequential([
        mc.Conv2D(1, 8, 3, padding=1, rng=rng), mc.BatchNorm2D(8), mc.ReLU(),   # (8, 8, 8)
        mc.MaxPool2D(2),                                                     # (8, 4, 4)
        mc.Flatten(), mc.Dense(8 * 4 * 4, 4, rng=rng)])                      # (4,)
    opt = mc.Adam(model, lr=1e-2)
    losses = []
    for step in range(200):
        loss, dlogits = mc.softmax_cross_entropy(model.forward(x, training=True), y)
        model.backward(dlogits)
        opt.step()
        losses.append(loss)
        if np.mean(model.forward(x).argmax(axis=1) == y) == 1.0:  # inference mode: running stats
            break
    accuracy = np.mean(model.forward(x).argmax(axis=1) == y)
    assert accuracy == 1.0, (step, losses[-1])
    assert losses[-1] < losses[0] / 2
