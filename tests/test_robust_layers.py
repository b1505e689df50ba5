"""Robustness of the core (issue 13): threads, NaN in max pooling, invalid hyper-parameters.

Proves: four Python threads predicting with one model at once neither abort the process (the
Numba workqueue layer is not thread-safe; minicnn serialises its parallel kernels) nor get
answers different from a single thread's; MaxPool2D returns NaN for a window holding a NaN
anywhere (the fast kernel, the reference and PyTorch agree, winner included); optimizers refuse
a NaN or infinite learning rate; layers refuse ``True`` where a size is expected.
"""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import minicnn as mc
from minicnn.kernels import pool_fast, pool_ref
from minicnn.optim import RMSprop

THREADS_SCRIPT = textwrap.dedent("""
    import threading
    import numpy as np
    import minicnn as mc
    from minicnn.training import predict
    model = mc.Sequential([mc.Conv2D(1, 8, 3, padding=1, rng=0), mc.BatchNorm2D(8), mc.ReLU(),
                           mc.MaxPool2D(2), mc.GlobalAvgPool2D(), mc.Dense(8, 3, rng=1)])
    x = np.random.default_rng(0).standard_normal((8, 1, 64, 64)).astype(np.float32)
    expected = predict(model, x)          # BatchNorm and MaxPool take their parallel kernels here
    bad = []
    def work():
        for _ in range(6):
            if not np.array_equal(predict(model, x), expected):
                bad.append(1)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("same" if not bad else "different")
""")


def test_threads_share_one_model():
    """Was: SIGABRT "Numba workqueue threading layer ... Concurrent access", 10 runs out of 10."""
    out = subprocess.run([sys.executable, "-c", THREADS_SCRIPT], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "same"


NAN = np.nan


@pytest.mark.parametrize("window, value, winner", [
    ([1.0, NAN, NAN, 0.0], NAN, 2),     # several NaNs: the last one wins (PyTorch's rule)
    ([NAN, 5.0, 3.0, 0.0], NAN, 0),     # NaN first: it stays
    ([1.0, 5.0, NAN, 7.0], NAN, 2),     # NaN in the middle: was 7.0 (the NaN was skipped)
    ([1.0, 5.0, 5.0, 2.0], 5.0, 1),     # no NaN: the first maximum, as before
])
@pytest.mark.parametrize("kernel", ["fast", "reference"])
def test_maxpool_propagates_nan(window, value, winner, kernel):
    x = np.array(window, dtype=np.float32).reshape(1, 1, 2, 2)
    if kernel == "fast":
        y, argmax = pool_fast.maxpool_forward(x, (2, 2), (2, 2), (0, 0))
    else:
        y, argmax = pool_ref.maxpool_forward(x, (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(y.ravel(), [value])
    assert argmax.ravel()[0] == winner


@pytest.mark.parametrize("parallel", [False, True])
def test_maxpool_nan_fast_equals_reference_and_torch(torch, monkeypatch, rng, parallel):
    monkeypatch.setattr(pool_fast, "PARALLEL_MIN_SIZE", 0 if parallel else 1 << 40)
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    x[rng.random(x.shape) < 0.08] = np.nan
    layer = mc.MaxPool2D(3, 2, 1)
    y = layer.forward(x)
    y_ref, _ = pool_ref.maxpool_forward(x, (3, 3), (2, 2), (1, 1))
    np.testing.assert_array_equal(y, y_ref)              # NaN == NaN for assert_array_equal
    yt = torch.nn.functional.max_pool2d(torch.tensor(x), 3, 2, 1).numpy()
    np.testing.assert_array_equal(y, yt)
    assert np.isnan(y).any()


@pytest.mark.parametrize("make", [mc.Adam, mc.SGD, RMSprop])
@pytest.mark.parametrize("kwargs", [{"lr": np.nan}, {"lr": np.inf}, {"lr": -1e-3},
                                    {"weight_decay": np.nan}, {"weight_decay": np.inf},
                                    {"lr": True}, {"lr": "0.1"}])
def test_optimizers_refuse_non_finite_hyperparameters(make, kwargs):
    with pytest.raises(ValueError, match="finite number"):
        make(mc.Dense(2, 3), **kwargs)


def test_adam_refuses_nan_eps_and_betas():
    with pytest.raises(ValueError):
        mc.Adam(mc.Dense(2, 3), eps=np.nan)
    with pytest.raises(ValueError):
        mc.Adam(mc.Dense(2, 3), betas=(np.nan, 0.999))
    with pytest.raises(ValueError):
        mc.SGD(mc.Dense(2, 3), momentum=np.nan)


@pytest.mark.parametrize("kwargs", [{"eps": np.nan}, {"eps": np.inf}, {"alpha": np.nan},
                                    {"alpha": 1.0}, {"momentum": np.nan}, {"momentum": 1.0}])
def test_rmsprop_refuses_bad_alpha_eps_momentum(kwargs):
    with pytest.raises(ValueError):
        RMSprop(mc.Dense(2, 3), **kwargs)


@pytest.mark.parametrize("make", [lambda: mc.Dense(True, 3), lambda: mc.Dense(3, True),
                                  lambda: mc.BatchNorm2D(True), lambda: mc.MaxPool2D(True),
                                  lambda: mc.MaxPool2D(2, stride=True)])
def test_sizes_refuse_bool(make):
    with pytest.raises(ValueError, match="True"):
        make()
