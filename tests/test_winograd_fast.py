"""The fast Winograd path computes what its reference computes, and Conv2D(algorithm=...) uses it.

1. ``winograd_fast`` equals ``winograd_ref`` (forward, dx, dW, db; float32 and float64; tiles
   2 and 4) for odd sizes, padding 0 to 3, batch 1, one input channel and wide channels, with
   the batch in one chunk, in bands of one tile row, or split between worker threads, and with
   backward's weight gradient using forward's transformed input or transforming x again; the
   input gradient uses the transformed filters forward kept (no second filter transform), or
   makes them again after a forward that kept nothing.
2. ``Conv2D(algorithm="winograd")`` passes the float64 gradient check and matches PyTorch.
3. The option is part of the layer's config (saved with a model; configs without it load as
   "auto"), "auto" follows ``winograd_rule.auto_tile``, and a 5x5 or strided Winograd
   layer is a clear ValueError.
"""
import numpy as np
import pytest

import minicnn
from minicnn import Conv2D, Sequential, models
from minicnn.layers import set_conv_algorithm
from minicnn.gradcheck import check_layer
from minicnn.kernels import conv_fast, winograd_fast as fast, winograd_ref as ref, winograd_rule as rule
from helpers import WINOGRAD_SHAPES as SHAPES, assert_conv_matches_torch, conv3x3_data

WIDE = [(2, 40, 6, 7, 24, 1), (1, 16, 5, 5, 48, 0)]
TOL = {np.float32: 2e-5, np.float64: 1e-12}


@pytest.fixture(params=["one-chunk", "tile-row-bands", "threaded", "threaded-positions",
                        "threaded-positions-bands-recompute-V", "recompute-V"])
def chunking(request, monkeypatch):
    """How the batch is cut: whole, in bands of one tile row (V kept from forward by chunk),
    between 3 worker threads (the filter transforms' blocks and the weight gradient's batch
    split between them, or its tile positions: whole chunks, or bands and x transformed again), or whole with backward
    transforming x again."""
    if request.param == "tile-row-bands":
        monkeypatch.setattr(fast, "CHUNK_BYTES", 1)
    if request.param.endswith("recompute-V"):
        monkeypatch.setattr(fast, "KEEP_V_BYTES", 0)
    if request.param.startswith("threaded"):
        monkeypatch.setattr(conv_fast, "PARALLEL_MIN_ELEMENTS", 0)
        monkeypatch.setattr(conv_fast, "THREADS", 3)
        monkeypatch.setattr(fast, "SPLIT_POSITIONS_BYTES", 0 if "positions" in request.param else 1 << 40)
        monkeypatch.setattr(fast, "PARALLEL_FILTER_BYTES", 0)          # filter transforms shared too
    if "bands" in request.param:
        monkeypatch.setattr(fast, "CHUNK_BYTES", 1)
    return request.param


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", ref.TILES)
@pytest.mark.parametrize("shape", SHAPES + WIDE)
def test_fast_equals_reference(shape, m, dtype, chunking):
    x, Wt, b, dout = conv3x3_data(shape, dtype)
    p = shape[-1]
    y_r, saved_r = ref.conv_forward(x, Wt, b, 1, p, tile=m)
    y, saved = fast.conv_forward(x, Wt, b, 1, p, tile=m)
    got = (y,) + fast.conv_backward(dout, saved, Wt, 1, p, tile=m)
    want = (y_r,) + ref.conv_backward(dout, saved_r, Wt, 1, p, tile=m)
    for name, ours, theirs in zip(("y", "dx", "dW", "db"), got, want):
        assert ours.dtype == dtype and ours.shape == theirs.shape, name
        scale = max(1.0, float(np.max(np.abs(theirs))))
        assert np.max(np.abs(ours - theirs)) <= TOL[dtype] * scale, name
    assert fast.conv_backward(dout, saved, Wt, 1, p, need_dx=False, tile=m)[0] is None
    y_nb, _ = fast.conv_forward(x, Wt, None, 1, p, tile=m)
    assert np.allclose(y_nb + b.reshape(1, -1, 1, 1), y, atol=TOL[dtype] * 10)


@pytest.mark.parametrize("threaded", [False, True])
def test_backward_uses_the_filters_forward_kept(monkeypatch, threaded):
    """Forward keeps U = G W G^T for the input gradient: backward transforms only dU back to dW.
    After a forward that kept nothing (for_backward=False), backward makes U again: same numbers."""
    if threaded:                                           # the positions split between workers
        monkeypatch.setattr(conv_fast, "PARALLEL_MIN_ELEMENTS", 0)
        monkeypatch.setattr(conv_fast, "THREADS", 3)
        monkeypatch.setattr(fast, "SPLIT_POSITIONS_BYTES", 0)
    x, Wt, b, dout = conv3x3_data(WIDE[0], np.float64)
    y, saved = fast.conv_forward(x, Wt, b, 1, 1)
    made = []
    transform = fast.filter_transform
    monkeypatch.setattr(fast, "filter_transform", lambda *a: made.append(a[2].shape) or transform(*a))
    got = fast.conv_backward(dout, saved, Wt, 1, 1)
    assert made == []                                      # U came from forward
    y2, bare = fast.conv_forward(x, Wt, b, 1, 1, for_backward=False)
    assert bare[2] == {} and np.array_equal(y2, y)
    again = fast.conv_backward(dout, bare, Wt, 1, 1)
    assert made and made[-1] == saved[2]["U"].shape        # made again, the same shape ...
    for ours, theirs in zip(again, got):                   # ... and the same gradients
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def winograd_layer(shape, dtype=np.float64, **kwargs):
    N, C, H, W, C_out, p = shape
    layer = Conv2D(C, C_out, 3, padding=p, dtype=dtype, rng=0, algorithm="winograd", **kwargs)
    layer.params["b"][...] = np.random.default_rng(1).standard_normal(C_out)
    return layer, np.random.default_rng(2).standard_normal((N, C, H, W)).astype(dtype)


@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[1], SHAPES[4], WIDE[1]])
def test_gradient_check(shape):
    layer, x = winograd_layer(shape)
    errors = check_layer(layer, x, seed=3)
    print(shape, errors)
    assert set(errors) == {"x", "W", "b"} and max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[2], WIDE[0]])
def test_matches_pytorch(torch, shape, dtype, tol):
    assert_conv_matches_torch(torch, *winograd_layer(shape, dtype), tol)


def test_algorithm_config_and_save_load(tmp_path):
    model = Sequential([Conv2D(3, 4, 3, padding=1, algorithm="winograd", rng=0),
                        Conv2D(4, 4, 3, padding=1, algorithm="im2col", rng=1)])
    assert [layer.get_config()["algorithm"] for layer in model.layers] == ["winograd", "im2col"]
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    model.save(tmp_path / "m.npz")
    loaded = minicnn.load(tmp_path / "m.npz")
    assert [layer.algorithm for layer in loaded.layers] == ["winograd", "im2col"]
    assert np.array_equal(loaded.forward(x), model.forward(x))
    old = Conv2D(3, 4, 3).get_config()
    del old["algorithm"]                                         # a checkpoint from before the option
    assert Conv2D.from_config(old).algorithm == "auto"


def test_auto_rule_and_errors(monkeypatch):
    assert rule.auto_tile((3, 3), (1, 1), 64, 64, 16, 16) == rule.DEFAULT_TILE
    assert rule.auto_tile((3, 3), (1, 1), 1, 64, 64, 64) is None         # one input channel: im2col
    assert rule.auto_tile((3, 3), (1, 1), 8, 64, 32, 32) is None         # measured: im2col faster
    assert rule.auto_tile((3, 3), (1, 1), 16, 64, 32, 32) == rule.DEFAULT_TILE
    assert rule.auto_tile((3, 3), (1, 1), 256, 256, 16, 16) == rule.DEFAULT_TILE
    assert rule.auto_tile((3, 3), (1, 1), 512, 512, 9, 9) == rule.DEFAULT_TILE   # U: 37.7 MB
    assert rule.auto_tile((3, 3), (1, 1), 512, 1024, 8, 8) is None       # U would be 75.5 MB
    assert rule.auto_tile((3, 3), (1, 1), 512, 512, 4, 4) == 2           # one F(4x4) tile per image
    assert rule.auto_tile((3, 3), (1, 1), 256, 512, 5, 5) == rule.DEFAULT_TILE
    assert rule.auto_tile((3, 3), (1, 1), 1024, 1024, 4, 4) is None      # F(2x2)'s U: 67 MB
    assert rule.auto_tile((3, 3), (2, 2), 64, 64, 16, 16) is None
    assert rule.auto_tile((7, 7), (1, 1), 64, 64, 16, 16) is None
    used = []
    monkeypatch.setattr(fast, "conv_forward", lambda *a, **k: used.append(k) or ref.conv_forward(*a, **k))
    Conv2D(32, 4, 3, padding=1).forward(np.zeros((1, 32, 8, 8), np.float32))
    Conv2D(8, 4, 3, padding=1).forward(np.zeros((1, 8, 8, 8), np.float32))
    Conv2D(32, 4, 3, padding=1, algorithm="im2col").forward(np.zeros((1, 32, 8, 8), np.float32))
    assert used == [{"tile": rule.DEFAULT_TILE, "for_backward": True, "recycle": None}]
    Conv2D(32, 4, 3, padding=1).forward(np.zeros((1, 32, 4, 4), np.float32))
    Conv2D(8, 4, 3, padding=1, algorithm="winograd").forward(np.zeros((1, 8, 3, 3), np.float32))
    assert [k["tile"] for k in used[1:]] == [2, 2]                # small outputs: F(2x2)
    with minicnn.no_grad():                                 # no backward can follow: keep nothing
        Conv2D(32, 4, 3, padding=1).forward(np.zeros((1, 32, 8, 8), np.float32))
    assert used[-1]["for_backward"] is False
    for kwargs, match in [(dict(kernel_size=5), "kernel_size 3 and stride 1, got kernel_size \\(5, 5\\)"),
                          (dict(kernel_size=3, stride=2), "stride \\(2, 2\\)"),
                          (dict(kernel_size=3, algorithm="fft"), "one of .*got 'fft'")]:
        with pytest.raises(ValueError, match=match):
            Conv2D(2, 4, **({"algorithm": "winograd"} | kwargs))


def test_next_forward_writes_over_the_kept_transforms():
    """A layer's next forward reuses the arrays its last one kept for backward (that backward
    is done), and backward still gets the new forward's gradients."""
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal((2, 2, 8, 9, 7)).astype(np.float32)
    layer = Conv2D(8, 5, 3, padding=1, algorithm="winograd", rng=0)
    fresh = Conv2D(8, 5, 3, padding=1, algorithm="winograd", rng=0)
    layer.forward(x1, training=True)
    kept = list(layer.cache[0][2].values())                 # (held here: ids stay unique)
    y = layer.forward(x2, training=True)
    reused = list(layer.cache[0][2].values())
    assert kept and len(reused) == len(kept) and all(a is b for a, b in zip(reused, kept))
    dout = rng.standard_normal(y.shape).astype(np.float32)
    assert np.array_equal(y, fresh.forward(x2, training=True))
    assert np.array_equal(layer.backward(dout), fresh.backward(dout))
    assert np.array_equal(layer.grads["W"], fresh.grads["W"])


def test_set_conv_algorithm_on_a_model():
    model = models.build("mini_resnet", (1, 32, 32), 4, seed=0)
    convs = []

    def walk(layer):
        convs.extend([layer] if isinstance(layer, Conv2D) else [])
        for _, child in layer.children():
            walk(child)
    walk(set_conv_algorithm(model, "winograd"))
    assert {c.algorithm for c in convs if c.kernel_size == (3, 3) and c.stride == (1, 1)} == {"winograd"}
    assert {c.algorithm for c in convs if c.kernel_size != (3, 3) or c.stride != (1, 1)} == {"auto"}
    walk(set_conv_algorithm(model, "im2col"))
    assert all(c.algorithm == "im2col" for c in convs[len(convs) // 2:])
    with pytest.raises(ValueError, match="got 'fast'"):
        set_conv_algorithm(model, "fast")
