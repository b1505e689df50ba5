"""Grad-CAM: the gradient it uses is right, and it points at the part of the image that decides.

1. ``CAMPass.gradient`` -- minicnn's backward run through an *inference-mode* forward (BatchNorm
   on running statistics, Dropout off, residual blocks) -- equals finite differences of the
   logit with respect to the feature map, in float64.
2. A known case: squares on noise, bright square = class 0, dark square = class 1, placed in a
   random quadrant. A tiny CNN trained for a few seconds learns it; Grad-CAM for the predicted
   class must put most of its heat (> 70%; a quadrant is 25% of the image) in the square's quadrant.
   The same holds for hand-set weights, with no training at all.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn.gradcheck import numerical_gradient, rel_error
from minicnn.viz.gradcam import CAMPass, find_layer, grad_cam, upsample_bilinear
from minicnn.viz.walk import flat_layers

S = 16  # image side; quadrants are 8x8


def squares(n, rng):
    """Noise images (n, 1, 16, 16) with one 4x4 square in a random quadrant.

    Returns x, labels (0 = bright square, 1 = dark square), quadrant (0 TL, 1 TR, 2 BL, 3 BR).
    """
    x = rng.normal(0.0, 0.3, (n, 1, S, S))
    labels, quadrant = rng.integers(0, 2, n), rng.integers(0, 4, n)
    for i in range(n):
        r, c = (quadrant[i] // 2) * 8 + rng.integers(1, 4), (quadrant[i] % 2) * 8 + rng.integers(1, 4)
        x[i, 0, r:r + 4, c:c + 4] += 2.0 if labels[i] == 0 else -2.0
    return x.astype(np.float32), labels, quadrant


def heat_in_quadrant(heat, quadrant):
    """Share of each heatmap's total inside the given quadrant: (N,)."""
    share = []
    for h, q in zip(heat, quadrant):
        r, c = (q // 2) * 8, (q % 2) * 8
        share.append(h[r:r + 8, c:c + 8].sum() / max(h.sum(), 1e-12))
    return np.array(share)


def test_gradient_through_inference_forward_matches_finite_differences():
    rng = np.random.default_rng(0)
    f64 = dict(dtype=np.float64)
    model = mc.Sequential([
        mc.Conv2D(2, 4, 3, padding=1, rng=rng, **f64), mc.BatchNorm2D(4, **f64), mc.ReLU(**f64),
        mc.ResidualBlock.basic(4, 4, rng=rng, **f64),            # identity shortcut
        mc.ResidualBlock.basic(4, 6, stride=2, rng=rng, **f64),  # projection shortcut
        mc.Dropout(0.5, rng=rng, **f64), mc.GlobalAvgPool2D(**f64), mc.Dense(6, 3, rng=rng, **f64)])
    for name, buf in model.buffers.items():                      # BatchNorm stats that are not 0/1
        buf[...] = rng.uniform(0.5, 1.5, buf.shape) if "var" in name else rng.normal(0, 0.3, buf.shape)
    x = rng.normal(size=(2, 2, 6, 6))
    p = CAMPass(model, x, layer="0")                            # A = the first conv's output
    analytic = [p.gradient(c) for c in range(3)]               # before the forwards below,
    tail = [layer for _, layer in flat_layers(model)[1:]]       # which replace the layers' caches
    A = p.activation.copy()

    def total_logit(c):                                         # images are independent at
        a = A                                                   # inference, so d(sum_n y_nc)/dA
        for layer in tail:                                      # holds every image's gradient
            a = layer.forward(a, training=False)
        return a[:, c].sum()

    for c in range(3):
        numeric = numerical_gradient(lambda: total_logit(c), A)
        assert rel_error(analytic[c], numeric) < 1e-6


def test_upsample_bilinear():
    assert np.allclose(upsample_bilinear(np.full((3, 5), 2.0), (12, 20)), 2.0)   # constants stay
    a = np.arange(6.0).reshape(2, 3)
    assert np.allclose(upsample_bilinear(a, (2, 3)), a)                          # same size = copy
    up = upsample_bilinear(np.array([[0.0, 1.0]]), (1, 4))                      # pixel centres
    assert np.allclose(up, [[0.0, 0.25, 0.75, 1.0]])


def test_default_layer_is_the_last_conv_unit():
    layers = flat_layers(mc.Sequential([mc.Conv2D(1, 2, 3), mc.BatchNorm2D(2), mc.ReLU(),
                                        mc.Conv2D(2, 2, 3), mc.ReLU(), mc.GlobalAvgPool2D(),
                                        mc.Dense(2, 2)]))
    assert find_layer(layers) == 4                               # the ReLU after the second conv
    assert find_layer(layers, "3") == find_layer(layers, 3) == find_layer(layers, layers[3][1]) == 3
    with pytest.raises(ValueError, match="no layer"):
        find_layer(layers, "nine")


def detector_model():
    """Hand-set weights: channel 0 fires on bright 3x3 patches, channel 1 on dark ones."""
    conv = mc.Conv2D(1, 2, 3, padding=1)
    conv.params["W"][0], conv.params["W"][1] = 1 / 9, -1 / 9
    conv.params["b"][:] = -1.0                                   # fire only well above the noise
    dense = mc.Dense(2, 2)
    dense.params["W"][:] = 100 * np.eye(2)                       # class k = detector k
    dense.params["b"][:] = 0.0
    return mc.Sequential([conv, mc.BatchNorm2D(2), mc.ReLU(), mc.GlobalAvgPool2D(), dense])


def test_hand_set_detectors_light_up_the_square():
    x, labels, quadrant = squares(32, np.random.default_rng(1))
    heat, probs = grad_cam(detector_model(), x)
    assert (probs.argmax(axis=1) == labels).all()
    share = heat_in_quadrant(heat, quadrant)
    for k in (0, 1):
        assert share[labels == k].min() > 0.9


def test_trained_model_looks_at_the_square_for_both_classes():
    rng = np.random.default_rng(0)
    model = mc.Sequential([
        mc.Conv2D(1, 8, 3, padding=1, rng=rng), mc.BatchNorm2D(8), mc.ReLU(),
        mc.Conv2D(8, 8, 3, padding=1, rng=rng), mc.BatchNorm2D(8), mc.ReLU(),
        mc.GlobalAvgPool2D(), mc.Dense(8, 2, rng=rng)])
    x, y, _ = squares(192, rng)
    opt = mc.Adam(model, lr=0.01)
    for epoch in range(4):
        for i in np.split(rng.permutation(len(x)), 6):
            _, dlogits = mc.softmax_cross_entropy(model.forward(x[i], training=True), y[i])
            model.backward(dlogits)
            opt.step()
    xt, yt, qt = squares(40, rng)
    stats = {k: v.copy() for k, v in model.buffers.items()}
    heat, probs = grad_cam(model, xt)                          # default layer: the last ReLU
    assert (probs.argmax(axis=1) == yt).mean() >= 0.9
    share = heat_in_quadrant(heat, qt)
    for k in (0, 1):
        assert share[yt == k].mean() > 0.7, f"class {k}: heat in the square's quadrant {share[yt == k]}"
    assert share.min() > 0.5
    assert all(np.array_equal(model.buffers[k], v) for k, v in stats.items())  # inference only
