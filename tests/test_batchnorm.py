"""BatchNorm2D: per-channel normalisation over (N, H, W), then gamma * xhat + beta.

Proves: the gradient check passes for x, gamma and beta (random upstream gradient, batch of
several samples: with an all-ones dout the true dx is exactly 0 and half the formula would go
untested); running statistics follow the PyTorch momentum rule with the unbiased variance;
inference uses the running statistics, and is then a fixed affine map whose backward is one
multiply; the fused Numba kernels equal the NumPy reference; and outputs, gradients and running
statistics match torch.nn.BatchNorm2d. (The layer contract: ``tests/test_contract.py``.)
"""
import numpy as np
import pytest

from minicnn import BatchNorm2D
from minicnn.gradcheck import check_layer
from minicnn.kernels import norm_fast, norm_ref


def make_bn(rng, c=3, dtype=np.float64):
    bn = BatchNorm2D(c, dtype=dtype)
    bn.params["gamma"][:] = rng.uniform(0.5, 2.0, c)  # not 1 and 0, so both take part
    bn.params["beta"][:] = rng.standard_normal(c)
    return bn


def test_gradient_check(rng):
    x = rng.standard_normal((4, 3, 5, 4)) * 2.0 + 1.0
    # check_layer draws dout from default_rng(seed); the rng fixture is default_rng(0) too, so with
    # seed=0 dout would be (x - 1) / 2, an affine function of x per channel, whose true dx is 0.
    errors = check_layer(make_bn(rng), x, seed=1)
    assert set(errors) == {"x", "gamma", "beta"}
    assert max(errors.values()) < 1e-7, errors


def test_output_is_normalised_per_channel(rng):
    x = rng.standard_normal((8, 4, 6, 6)) * np.array([1, 5, 0.5, 3])[:, None, None] + 7.0
    y = BatchNorm2D(4, dtype=np.float64).forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-3)  # eps makes it a bit below 1


def test_running_stats_by_hand(rng):
    bn = BatchNorm2D(2, momentum=0.1, dtype=np.float64)
    x = rng.standard_normal((3, 2, 4, 4)) + 2.0
    bn.forward(x, training=True)
    m = 3 * 4 * 4
    mean = x.mean(axis=(0, 2, 3))
    unbiased_var = x.var(axis=(0, 2, 3)) * m / (m - 1)
    np.testing.assert_allclose(bn.buffers["running_mean"], 0.9 * 0 + 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.buffers["running_var"], 0.9 * 1 + 0.1 * unbiased_var, rtol=1e-12)


def test_inference_is_a_fixed_affine_map(rng):
    bn = make_bn(rng, c=2)
    bn.buffers["running_mean"][:] = [1.0, -2.0]
    bn.buffers["running_var"][:] = [4.0, 0.25]
    x = rng.standard_normal((2, 2, 3, 3))
    y = bn.forward(x, training=False)
    g, b = bn.params["gamma"], bn.params["beta"]
    s = np.sqrt(np.array([4.0, 0.25]) + 1e-5)[:, None, None]
    expected = g[:, None, None] * (x - np.array([1.0, -2.0])[:, None, None]) / s + b[:, None, None]
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    np.testing.assert_array_equal(bn.buffers["running_mean"], [1.0, -2.0])  # untouched
    dout = rng.standard_normal(x.shape)       # the statistics are constants now: no mean or
    dx = bn.backward(dout)                    # variance paths, dx is dout times gamma / s
    np.testing.assert_allclose(dx, dout * g[:, None, None] / s, rtol=1e-12)
    np.testing.assert_allclose(bn.grads["gamma"], (dout * (expected - b[:, None, None]) / g[:, None, None])
                               .sum(axis=(0, 2, 3)), rtol=1e-10)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("parallel", [False, True])
def test_fast_kernels_match_numpy_reference(rng, monkeypatch, dtype, tol, parallel):
    monkeypatch.setattr(norm_fast, "PARALLEL_MIN_SIZE", 0 if parallel else 10**12)  # pick the driver
    bn = make_bn(rng, c=5, dtype=dtype)
    x = (rng.standard_normal((6, 5, 7, 9)) * 3 + 2).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    y = bn.forward(x, training=True)
    dx = bn.backward(dout)
    g, b = bn.params["gamma"].astype(np.float64), bn.params["beta"].astype(np.float64)
    y_ref, mean, var = norm_ref.batchnorm_forward(x.astype(np.float64), g, b, bn.eps)
    dx_ref, dg_ref, db_ref = norm_ref.batchnorm_backward(dout.astype(np.float64), x.astype(np.float64),
                                                         mean, var, g, bn.eps)
    np.testing.assert_allclose(y, y_ref, atol=tol * 10)
    np.testing.assert_allclose(dx, dx_ref, atol=tol * 10)
    np.testing.assert_allclose(bn.grads["gamma"], dg_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(bn.grads["beta"], db_ref, rtol=tol, atol=tol)


def test_matches_pytorch(torch, rng):
    c = 4
    bn = make_bn(rng, c=c)
    x = rng.standard_normal((5, c, 6, 7)) * 2 + 0.5
    dout = rng.standard_normal(x.shape)
    y = bn.forward(x, training=True)
    dx = bn.backward(dout)

    tbn = torch.nn.BatchNorm2d(c, momentum=0.1, eps=1e-5).double().train()
    with torch.no_grad():
        tbn.weight.copy_(torch.tensor(bn.params["gamma"]))
        tbn.bias.copy_(torch.tensor(bn.params["beta"]))
    xt = torch.tensor(x, requires_grad=True)
    yt = tbn(xt)
    yt.backward(torch.tensor(dout))
    close = dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(y, yt.detach().numpy(), **close)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **close)
    np.testing.assert_allclose(bn.grads["gamma"], tbn.weight.grad.numpy(), **close)
    np.testing.assert_allclose(bn.grads["beta"], tbn.bias.grad.numpy(), **close)
    np.testing.assert_allclose(bn.buffers["running_mean"], tbn.running_mean.numpy(), **close)
    np.testing.assert_allclose(bn.buffers["running_var"], tbn.running_var.numpy(), **close)

    x2 = rng.standard_normal((2, c, 3, 3))  # inference after the step: running statistics
    np.testing.assert_allclose(bn.forward(x2), tbn.eval()(torch.tensor(x2)).detach().numpy(), **close)
