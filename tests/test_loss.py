"""softmax_cross_entropy: the value, the gradient (dlogits = (softmax - onehot) / N), stability.

Proves: the loss equals -mean(log softmax) computed by hand; the returned gradient matches a
numerical gradient (float64); int labels and one-hot labels agree; logits of size 1e4 give finite,
exact answers (the log-sum-exp trick); bad labels raise ValueError; PyTorch agrees.
"""
import numpy as np
import pytest

from minicnn.gradcheck import numerical_gradient, rel_error
from minicnn.losses import softmax, softmax_cross_entropy


def test_matches_hand_computation():
    logits = np.array([[1.0, 2.0, 3.0], [1.0, -1.0, 0.0]])
    labels = np.array([2, 0])
    # by hand: -log(e^z_y / sum_k e^z_k), averaged over the 2 rows
    row0 = -np.log(np.exp(3.0) / (np.exp(1.0) + np.exp(2.0) + np.exp(3.0)))
    row1 = -np.log(np.exp(1.0) / (np.exp(1.0) + np.exp(-1.0) + np.exp(0.0)))
    loss, dlogits = softmax_cross_entropy(logits, labels)
    assert loss == pytest.approx((row0 + row1) / 2, rel=1e-12)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.allclose(dlogits, (p - np.eye(3)[labels]) / 2)


@pytest.mark.parametrize("soft", [False, True])
def test_gradient_check(rng, soft):
    logits = rng.standard_normal((5, 4)) * 3
    labels = rng.dirichlet(np.ones(4), size=5) if soft else rng.integers(0, 4, size=5)
    _, dlogits = softmax_cross_entropy(logits, labels)
    numeric = numerical_gradient(lambda: softmax_cross_entropy(logits, labels)[0], logits)
    assert rel_error(dlogits, numeric) < 1e-7


def test_onehot_labels_equal_int_labels(rng):
    logits = rng.standard_normal((6, 3))
    labels = rng.integers(0, 3, size=6)
    loss_i, d_i = softmax_cross_entropy(logits, labels)
    loss_o, d_o = softmax_cross_entropy(logits, np.eye(3)[labels])
    assert loss_i == pytest.approx(loss_o, rel=1e-14)
    assert np.allclose(d_i, d_o, rtol=0, atol=1e-15)


def test_extreme_logits_stay_finite_and_exact():
    logits = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4]], dtype=np.float32)
    # row 0, label 0: p = 1 -> loss 0.  row 1, label 0: loss = logsumexp - z_0 = (1e4 + log 2) + 1e4
    loss, dlogits = softmax_cross_entropy(logits, np.array([0, 0]))
    assert np.isfinite(loss) and np.all(np.isfinite(dlogits))
    assert loss == pytest.approx((0 + 2e4 + np.log(2)) / 2, rel=1e-6)
    assert np.allclose(dlogits, np.array([[0, 0, 0], [-1, 0.5, 0.5]]) / 2, atol=1e-7)
    assert np.all(np.isfinite(softmax(logits)))


def test_softmax_rows_sum_to_one_and_ignore_shifts(rng):
    z = rng.standard_normal((4, 5))
    assert np.allclose(softmax(z).sum(axis=1), 1)
    assert np.allclose(softmax(z), softmax(z + 1000.0))


def test_dtype_follows_logits(rng):
    _, d32 = softmax_cross_entropy(rng.standard_normal((3, 4)).astype(np.float32), [0, 1, 2])
    assert d32.dtype == np.float32


@pytest.mark.parametrize("logits_shape, labels, match", [
    ((3, 4), np.array([0, 1]), "2 entries but logits has 3 rows"),
    ((3, 4), np.array([0, 4, 1]), "label 4 is out of range for 4 classes"),
    ((3, 4), np.array([0, -1, 1]), "out of range"),
    ((3, 4), np.array([0.0, 1.5, 2.0]), "whole numbers"),
    ((3, 4), np.ones((3, 3)) / 3, r"logits' shape \(3, 4\)"),
    ((3, 4), np.ones((3, 4)), "sum to 1"),
    ((3, 4), np.zeros((3, 4, 1)), "labels must be"),
    ((3,), np.array([0, 1, 2]), "shape"),
])
def test_bad_input_raises_value_error(logits_shape, labels, match):
    with pytest.raises(ValueError, match=match):
        softmax_cross_entropy(np.zeros(logits_shape), labels)


@pytest.mark.parametrize("soft", [False, True])
def test_matches_pytorch(torch, rng, soft):
    logits = rng.standard_normal((8, 5)) * 4
    labels = rng.dirichlet(np.ones(5), size=8) if soft else rng.integers(0, 5, size=8)
    z = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(z, torch.tensor(labels))  # mean over the batch
    ref.backward()
    loss, dlogits = softmax_cross_entropy(logits, labels)
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    assert np.allclose(dlogits, z.grad.numpy(), rtol=1e-10, atol=1e-14)
