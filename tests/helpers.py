"""Shared test helpers (one module; test files import from here, never from each other).

``need(module)``: import an optional dependency or skip the test cleanly. In CI,
``MINICNN_REQUIRE_OPTIONAL=1`` (set by ``.ci/run``) turns the skip into a failure, so a test that
needs ``onnx``, ``optuna``, ``playwright`` or Chromium can never pass by not running.

The layer contract checker (``CONTRACT_CHECKS``, ``check_contract``): what every layer and
container must do, written once. ``tests/test_contract.py`` runs it on every layer; a layer's
own test file adds what is special about it. Also input makers (``away_from_kink``,
``distinct_values``) and the small data/figure helpers several test files share.
``every_layer_models()``: small models holding every layer type, with random state (the export
tests run them through ONNX and PyTorch).
"""
import copy
import importlib
import json
import os
import pathlib
import shlex
import subprocess
import sys
from functools import lru_cache

import numpy as np
import pytest
from PIL import Image

import minicnn as mc
from minicnn.data import Dataset
from minicnn.gradcheck import check_layer
from minicnn.serialization import save_model


def require_or_skip(what, hint):
    """Skip with ``hint``; fail instead when the environment says optional parts must be present."""
    if os.environ.get("MINICNN_REQUIRE_OPTIONAL") == "1":
        pytest.fail(f"MINICNN_REQUIRE_OPTIONAL=1 but {what} is missing ({hint})")
    pytest.skip(f"{what} is missing ({hint})")


def need(module, hint=None):
    """Import ``module`` and return it; skip (or, in CI, fail) when it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError:
        require_or_skip(f"the optional module {module!r}", hint or f"pip install {module}")


ROOT = pathlib.Path(__file__).resolve().parent.parent   #: the repository


@lru_cache(maxsize=None)
def run_command(command, kernels=None):
    """stdout of ``command`` ("python examples/x.py" or "minicnn ..."), run from the repository root
    with this checkout's minicnn and the kernel backend ``kernels`` (None: the default); it must
    exit with 0. Cached: each command runs once per test session."""
    args = shlex.split(command)
    if args[0] == "python":
        args[0] = sys.executable
    elif args[0] == "minicnn":
        args[:1] = [sys.executable, "-m", "minicnn"]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("MINICNN_KERNELS", None)
    if kernels:
        env["MINICNN_KERNELS"] = kernels
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{command} failed:\n{done.stderr[-2000:]}"
    return done.stdout


# ---- inputs -------------------------------------------------------------------------------
def away_from_kink(rng, shape):
    """Random values with |x| >= 0.1, so a finite-difference step never crosses ReLU's kink at 0."""
    x = rng.standard_normal(shape)
    return np.where(x >= 0, x + 0.1, x - 0.1)


def distinct_values(rng, shape):
    """A shuffled grid of values 0.05 apart: no ties, and a 1e-6 step never changes a max-pool winner."""
    return rng.permutation(np.prod(shape)).reshape(shape) * 0.05 - 1.0


# ---- the layer contract -------------------------------------------------------------------
def layers_in(layer):
    """The layer and all its descendants (containers' children, recursively)."""
    out = [layer]
    for _, child in layer.children():
        out += layers_in(child)
    return out


def perturb(layer, rng):
    """Move parameters off their initial values (zero biases, unit gammas) and give BatchNorm
    running statistics that are not 0 and 1, so every term of forward and backward takes part."""
    for p in layer.params.values():
        p += (0.1 * rng.standard_normal(p.shape)).astype(p.dtype)
    for name, b in layer.buffers.items():
        b[...] = rng.uniform(0.5, 1.5, b.shape) if name.endswith("var") else rng.normal(0, 0.3, b.shape)
    return layer


class Frozen:
    """``layer`` with its random generators (Dropout's) rewound before every forward, so a
    gradient check's many forwards all draw the same masks."""

    def __init__(self, layer):
        self.layer = layer
        gens = [g for m in layers_in(layer) for g in vars(m).values() if isinstance(g, np.random.Generator)]
        self.states = [(g, copy.deepcopy(g.bit_generator.state)) for g in gens]

    params = property(lambda self: self.layer.params)
    grads = property(lambda self: self.layer.grads)

    def forward(self, x, training=False):
        for g, state in self.states:
            g.bit_generator.state = copy.deepcopy(state)
        return self.layer.forward(x, training=training)

    def backward(self, dout):
        return self.layer.backward(dout)


def snapshot(obj):
    """A deep copy of a cache (arrays, tuples, lists, dicts; anything else, e.g. the kernel module
    a layer used, is kept as it is) to compare with later."""
    if isinstance(obj, np.ndarray):
        return obj.copy()
    if isinstance(obj, (tuple, list)):
        return type(obj)(snapshot(v) for v in obj)
    if isinstance(obj, dict):
        return {k: snapshot(v) for k, v in obj.items()}
    return obj


def same(a, b):
    """Structural equality of two caches, arrays compared element by element (NaN == NaN)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(same(p, q) for p, q in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def check_gradients(make, x, training, tol):
    """float64 gradient check (random upstream gradient) of x and every parameter, in one mode."""
    layer = make(np.float64)
    errors = check_layer(Frozen(layer), x, seed=1, training=training)
    assert set(errors) == {"x"} | set(layer.params), errors
    assert max(errors.values()) < tol, errors


def check_backward_is_pure(make, x, training, tol=None):
    """backward leaves dout, x and every cache untouched, overwrites the grads in the very arrays
    the optimizers hold (params too keep their identity), and gives the same answer twice."""
    layer = Frozen(make(np.float64))
    params, grads = dict(layer.params), dict(layer.grads)
    x_before = x.copy()
    y = layer.forward(x, training=training)
    dout = np.random.default_rng(2).standard_normal(y.shape)
    dout_before = dout.copy()
    caches = [snapshot(m.cache) for m in layers_in(layer.layer)]
    dx = layer.backward(dout)
    first = {k: g.copy() for k, g in layer.grads.items()}
    for g in layer.grads.values():
        g[...] = 1e3                                      # stale values a backward must overwrite
    again = layer.backward(dout)
    assert np.array_equal(dout, dout_before), "backward wrote into dout"
    assert np.array_equal(x, x_before), "forward or backward wrote into x"
    for m, before in zip(layers_in(layer.layer), caches):
        assert same(m.cache, before), f"{type(m).__name__}.backward changed its cache"
    assert dx.shape == x.shape and np.array_equal(dx, again), "backward twice, two answers"
    for k in first:
        assert np.array_equal(layer.grads[k], first[k]), f"grads[{k!r}] accumulated, not overwritten"
        assert layer.grads[k] is grads[k] and layer.params[k] is params[k], f"{k!r} was rebound"


def check_config(make, x, training=False, tol=None):
    """``from_config(get_config())`` rebuilds the layer: same config (JSON), same outputs."""
    layer = perturb(make(np.float64), np.random.default_rng(3))
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config, "get_config() must be JSON-friendly"
    clone = type(layer).from_config(config)
    assert clone.get_config() == config and repr(clone) == repr(layer)
    assert list(clone.params) == list(layer.params) and list(clone.buffers) == list(layer.buffers)
    for k, v in {**layer.params, **layer.buffers}.items():
        {**clone.params, **clone.buffers}[k][...] = v
    assert np.array_equal(clone.forward(x), layer.forward(x))


def check_save_load(make, x, tmp_path, training=False, tol=None):
    """save_model / minicnn.load: same class, dtype, config, params, buffers and outputs."""
    for dtype in (np.float32, np.float64):
        layer = perturb(make(dtype), np.random.default_rng(4))
        path = tmp_path / f"{np.dtype(dtype).name}.npz"
        save_model(layer, path)
        loaded = mc.load(path)
        assert type(loaded) is type(layer) and loaded.dtype == layer.dtype
        assert loaded.get_config() == layer.get_config()
        for k, v in {**layer.params, **layer.buffers}.items():
            got = {**loaded.params, **loaded.buffers}[k]
            assert got.dtype == v.dtype and np.array_equal(got, v), k
        xd = x.astype(dtype)
        assert np.array_equal(loaded.forward(xd), layer.forward(xd))


def check_dtypes(make, x, training, tol=None):
    """params, grads, buffers, outputs and dx are in the layer's dtype, whatever the input's;
    a dtype other than float32/float64 is refused."""
    for dtype, other in ((np.float32, np.float64), (np.float64, np.float32)):
        layer = Frozen(make(dtype))
        y = layer.forward(x.astype(other), training=training)
        dx = layer.backward(np.ones(y.shape, other))
        arrays = {**layer.params, **layer.grads, **layer.layer.buffers, "y": y, "dx": dx}
        for k, a in arrays.items():
            assert a.dtype == dtype, f"{k}: {a.dtype}, layer dtype {np.dtype(dtype).name}"
    with pytest.raises(ValueError, match="float32 or float64"):
        make(np.int32)


def check_errors(make, x, any_rank=False, training=False, tol=None):
    """Bad input is a ValueError saying what was expected and what came; backward before any
    forward, or after one under ``no_grad()`` (which keeps no cache), is a BackwardError; a dout
    of the wrong shape names the expected one."""
    layer = make(np.float32)
    with pytest.raises(mc.BackwardError, match="before forward"):
        layer.backward(np.ones((1,), np.float32))
    bad = [(x.astype(np.int64), r"floating-point.*got dtype int64"),
           (x.tolist(), r"NumPy array.*got list"),
           (x[:0], r"empty batch")]
    if not any_rank:
        bad.append((x[0], r"got shape " + str(x[0].shape).replace("(", r"\(").replace(")", r"\)")))
    for value, message in bad:
        for mode in (False, True):
            with pytest.raises(ValueError, match=message):
                layer.forward(value, training=mode)
    with mc.no_grad():                                    # no cache kept, so no backward
        y = layer.forward(x.astype(np.float32))
    assert all(m.cache is None for m in layers_in(layer)), "a cache kept under no_grad()"
    with pytest.raises(mc.BackwardError, match="no_grad"):
        layer.backward(np.ones(y.shape, np.float32))
    assert np.array_equal(layer.forward(x.astype(np.float32)), y)
    y = layer.forward(x.astype(np.float32), training=training)
    wrong = np.ones((y.shape[0] + 1,) + y.shape[1:], np.float32)
    with pytest.raises(ValueError, match=r"expects dout of shape " + str(y.shape).replace("(", r"\(")
                       .replace(")", r"\)") + r".*got"):
        layer.backward(wrong)


#: every check, by name: what test_contract.py parametrizes over
CONTRACT_CHECKS = {"gradients": check_gradients, "backward_is_pure": check_backward_is_pure,
                   "config": check_config, "dtypes": check_dtypes}


def check_contract(make, x, tmp_path, tol=1e-7, any_rank=False):
    """Every check on one layer: ``make(dtype)`` builds it, ``x`` is a float64 input batch."""
    for training in (True, False):
        for check in CONTRACT_CHECKS.values():
            check(make, x, training=training, tol=tol)
    check_save_load(make, x, tmp_path)
    check_errors(make, x, any_rank=any_rank)


# ---- small data and figures shared by several test files ------------------------------------
def tiny_data(n=48, size=8, seed=0):
    """n uint8 images (1, size, size): class k has mean brightness 60 + 60k, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    noise = rng.integers(-40, 40, (n, 1, size, size))
    images = (60 + 60 * labels[:, None, None, None] + noise).astype(np.uint8)
    return Dataset(images, labels, ["dark", "grey", "bright"])


IMAGE_CLASSES = ["bright", "dark"]          # sorted, as the loader orders class folders


def write_images(folder, n_per_class, seed, size=20):
    """folder/<class>/img<i>.png: noisy 20x20 grayscale PNGs, dark or bright by class."""
    rng = np.random.default_rng(seed)
    for k, name in enumerate(IMAGE_CLASSES):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            pixels = 180 - 110 * k + rng.integers(-50, 50, (size, size))
            Image.fromarray(pixels.astype(np.uint8)).save(folder / name / f"img{i}.png")
    return folder


def train_command(tmp_path, monkeypatch, epochs):
    """``minicnn train`` arguments for a small Mini-ResNet run on 16 written 20x20 images (with
    its own image cache), into tmp_path/run; append an option to try it."""
    data = write_images(tmp_path / "data", 8, seed=3)
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path / "cache"))
    return ["train", "--model", "mini_resnet", "--data", str(data), "--image-size", "20",
            "--epochs", str(epochs), "--batch-size", "4", "--quiet", "--out", str(tmp_path / "run")]


def assert_png(path, size=None, tolerance=4):
    """``path`` is a PNG, (width, height) within ``tolerance`` px of ``size``, and not blank."""
    with Image.open(path) as im:
        assert im.format == "PNG"
        if size is not None:
            assert abs(im.width - size[0]) <= tolerance and abs(im.height - size[1]) <= tolerance, im.size
        pixels = np.asarray(im.convert("RGB"))
    assert pixels.std() > 20, "the image is (almost) one colour"
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50, "too few colours: nothing drawn"


def every_layer_models(dtype=None, seed=0):
    """Two small models that between them hold every layer and container of minicnn.

    Per-sample input (2, 13, 11): odd, non-square, so a swapped H/W or pad would show.
    A: Conv2D (non-square kernel, stride and padding), BatchNorm2D, ReLU, MaxPool2D (padded,
       overlapping), ResidualBlock.basic with a projection shortcut, a ResidualBlock with an
       identity shortcut and no activation, Dropout, GlobalAvgPool2D, Flatten of (N, C), Dense.
    B: Conv2D without padding, MaxPool2D with a non-square kernel and stride, Flatten of
       (N, C, H, W), Dense, ReLU, Dropout, Dense.
    Every parameter and running statistic is moved off its initial value (``perturb``: fresh
    ones are 0 and 1, which would hide a swapped mean and variance or a missing bias).
    """
    import minicnn as mc
    dtype = np.float32 if dtype is None else dtype
    rng = np.random.default_rng(seed)
    a = mc.Sequential([
        mc.Conv2D(2, 6, (3, 5), stride=(2, 1), padding=(1, 2), dtype=dtype, rng=rng),   # (6, 7, 11)
        mc.BatchNorm2D(6, eps=1e-3, dtype=dtype), mc.ReLU(dtype=dtype),
        mc.MaxPool2D(3, stride=2, padding=1, dtype=dtype),                              # (6, 4, 6)
        mc.ResidualBlock.basic(6, 8, stride=2, dtype=dtype, rng=rng),                   # (8, 2, 3)
        mc.ResidualBlock(mc.Sequential([mc.Conv2D(8, 8, 3, padding=1, bias=False, dtype=dtype, rng=rng),
                                        mc.BatchNorm2D(8, dtype=dtype)])),
        mc.Dropout(0.3, dtype=dtype), mc.GlobalAvgPool2D(dtype=dtype),                  # (8,)
        mc.Flatten(dtype=dtype), mc.Dense(8, 5, dtype=dtype, rng=rng)], input_shape=(2, 13, 11))
    b = mc.Sequential([
        mc.Conv2D(2, 4, 3, dtype=dtype, rng=rng), mc.ReLU(dtype=dtype),                 # (4, 11, 9)
        mc.MaxPool2D((2, 3), stride=(1, 2), padding=1, dtype=dtype),                    # (4, 12, 5)
        mc.Flatten(dtype=dtype), mc.Dense(240, 16, dtype=dtype, rng=rng), mc.ReLU(dtype=dtype),
        mc.Dropout(0.5, dtype=dtype), mc.Dense(16, 3, dtype=dtype, rng=rng)], input_shape=(2, 13, 11))
    return [perturb(a, rng), perturb(b, rng)]



def assert_conv_matches_torch(torch, layer, x, tol, seed=4):
    """Conv2D ``layer`` on ``x`` gives torch.nn.Conv2d's output and gradients (same weights) to
    ``tol`` relative to the largest value; dtypes are kept."""
    dtype = x.dtype
    t = torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                        padding=layer.padding).to(getattr(torch, dtype.name))
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(layer.params["W"]))
        t.bias.copy_(torch.from_numpy(layer.params["b"]))
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = t(tx)
    y = layer.forward(x, training=True)
    dout = np.random.default_rng(seed).standard_normal(y.shape).astype(dtype)
    ty.backward(torch.from_numpy(dout))
    dx = layer.backward(dout)
    for name, ours, theirs in (("output", y, ty), ("dx", dx, tx.grad), ("dW", layer.grads["W"], t.weight.grad),
                               ("db", layer.grads["b"], t.bias.grad)):
        theirs = theirs.detach().numpy()
        assert ours.dtype == dtype, name
        assert np.max(np.abs(ours - theirs)) <= tol * max(1.0, np.max(np.abs(theirs))), name


#: 3x3 stride-1 convolutions for the Winograd tests: (N, C_in, H, W, C_out, padding) with odd
#: sizes, padding 0 to 3, batch 1 and one input channel
WINOGRAD_SHAPES = [(2, 3, 7, 5, 4, 1), (1, 1, 6, 9, 2, 0), (2, 2, 5, 5, 3, 3), (2, 4, 9, 8, 5, 1),
                   (1, 2, 3, 3, 2, 0), (2, 2, 4, 7, 3, (2, 0))]


def conv3x3_data(shape, dtype=np.float64, seed=0):
    """x, W, b and a random dout for one of WINOGRAD_SHAPES."""
    N, C, H, W, C_out, p = shape
    rng = np.random.default_rng(seed)
    ph, pw = (p, p) if np.ndim(p) == 0 else p
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    Wt = rng.standard_normal((C_out, C, 3, 3)).astype(dtype)
    b = rng.standard_normal(C_out).astype(dtype)
    dout = rng.standard_normal((N, C_out, H + 2 * ph - 2, W + 2 * pw - 2)).astype(dtype)
    return x, Wt, b, dout


def drop_training_setting(path, key):
    """Remove ``metadata["training"][key]`` from the checkpoint at ``path``, in place: a checkpoint
    as written before that setting existed."""
    from minicnn.serialization import load_arrays, save_arrays
    arrays = load_arrays(path)
    header = json.loads(str(arrays["__minicnn__"]))
    del header["metadata"]["training"][key]
    arrays["__minicnn__"] = np.array(json.dumps(header))
    save_arrays(path, arrays)
