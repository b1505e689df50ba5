"""Label smoothing (``softmax_cross_entropy(..., label_smoothing=eps)``, ``fit(label_smoothing=)``,
``minicnn train --label-smoothing``).

What this proves:
- the targets are (1 - eps) * onehot + eps / K, written out by hand, and the loss and gradient
  are exactly the soft-label cross-entropy against them (eps = 0 changes nothing);
- the gradient matches a float64 numerical gradient, and PyTorch's
  ``cross_entropy(label_smoothing=)`` agrees on the loss and the gradient (class indices and soft labels);
- ``fit`` trains against the smoothed targets (one step of plain SGD, done by hand, gives the
  same weights; without smoothing it does not) and validates against the true labels;
- the setting is saved with the checkpoint, a run is not resumed with another value, a
  checkpoint from before the setting existed resumes as eps = 0, and bad values are refused.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn.cli import main
from minicnn.gradcheck import numerical_gradient, rel_error
from minicnn.losses import smooth_labels, softmax_cross_entropy
from minicnn.training import fit
from helpers import drop_training_setting, train_command
from test_training import TRAIN, VAL, tiny_model


def test_targets_by_hand():
    y = np.eye(4)[[1, 3]]
    np.testing.assert_allclose(smooth_labels(y, 0.1), [[0.025, 0.925, 0.025, 0.025],
                                                       [0.025, 0.025, 0.025, 0.925]], rtol=1e-15)
    assert smooth_labels(y, 0.0) is y


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.5])
def test_equals_soft_label_cross_entropy(rng, eps):
    logits = rng.standard_normal((6, 4)) * 3
    labels = rng.integers(0, 4, size=6)
    soft = (1 - eps) * np.eye(4)[labels] + eps / 4
    loss, d = softmax_cross_entropy(logits, labels, label_smoothing=eps)
    loss_soft, d_soft = softmax_cross_entropy(logits, soft)
    assert loss == pytest.approx(loss_soft, rel=1e-14)
    np.testing.assert_allclose(d, d_soft, rtol=0, atol=1e-15)
    if eps:
        assert loss != pytest.approx(softmax_cross_entropy(logits, labels)[0], rel=1e-6)


@pytest.mark.parametrize("soft", [False, True])
def test_gradient_check(rng, soft):
    logits = rng.standard_normal((5, 4)) * 3
    labels = rng.dirichlet(np.ones(4), size=5) if soft else rng.integers(0, 4, size=5)
    _, dlogits = softmax_cross_entropy(logits, labels, label_smoothing=0.2)
    numeric = numerical_gradient(
        lambda: softmax_cross_entropy(logits, labels, label_smoothing=0.2)[0], logits)
    assert rel_error(dlogits, numeric) < 1e-7


@pytest.mark.parametrize("soft", [False, True])
def test_matches_pytorch(torch, rng, soft):
    logits = rng.standard_normal((8, 5)) * 4
    labels = rng.dirichlet(np.ones(5), size=8) if soft else rng.integers(0, 5, size=8)
    z = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(z, torch.tensor(labels), label_smoothing=0.15)
    ref.backward()
    loss, dlogits = softmax_cross_entropy(logits, labels, label_smoothing=0.15)
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(dlogits, z.grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), True, "0.1", None])
def test_bad_values_are_refused(bad):
    with pytest.raises(ValueError, match="label_smoothing must be a number in"):
        softmax_cross_entropy(np.zeros((2, 3)), [0, 1], label_smoothing=bad)
    with pytest.raises(ValueError, match="label_smoothing must be a number in"):
        fit(tiny_model(), TRAIN, VAL, epochs=1, verbose=False, label_smoothing=bad)


def linear_model():
    """Flatten -> Dense: no dropout, so one step of fit can be redone by hand."""
    return mc.Sequential([mc.Flatten(), mc.Dense(64, 3, rng=0)], input_shape=(1, 8, 8))


@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_fit_trains_against_smoothed_targets_and_validates_plain(eps):
    x, y = TRAIN.images.astype(np.float32) / 255, TRAIN.labels     # float: used as is
    xv, yv = VAL.images.astype(np.float32) / 255, VAL.labels
    model, by_hand = linear_model(), linear_model()
    history = fit(model, (x, y), (xv, yv), epochs=1, batch_size=len(x), standardize=None,
                  optimizer=mc.SGD(model, lr=0.5), verbose=False, label_smoothing=0.3)
    loss, d = softmax_cross_entropy(by_hand.forward(x, training=True), y, label_smoothing=eps)
    by_hand.backward(d)
    mc.SGD(by_hand, lr=0.5).step()
    same = all(np.allclose(model.params[k], v, rtol=1e-5, atol=1e-7)
               for k, v in by_hand.params.items())
    assert same == (eps == 0.3)                      # fit took the smoothed step, not the plain one
    assert history.history["loss"][0] == pytest.approx(loss, rel=1e-5) or eps == 0.0
    plain = softmax_cross_entropy(model.forward(xv), yv)[0]
    assert history.history["val_loss"][0] == pytest.approx(plain, rel=1e-5)
    assert model.metadata["training"]["label_smoothing"] == 0.3


def train(tmp_path, **kwargs):
    model = tiny_model()
    return fit(model, TRAIN, VAL, epochs=2, batch_size=8, optimizer=mc.Adam(model, lr=0.05),
               out_dir=tmp_path, verbose=False, **kwargs)


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_resume_refuses_another_value(tmp_path, eps):
    train(tmp_path, label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"cannot resume.*label smoothing \(label_smoothing 0.1 "
                                         rf"then, {eps} now\)"):
        fit(tiny_model(), TRAIN, VAL, epochs=3, batch_size=8, out_dir=tmp_path, resume=True,
            verbose=False, label_smoothing=eps)


def test_a_checkpoint_from_before_the_setting_resumes_as_zero(tmp_path):
    train(tmp_path)
    drop_training_setting(tmp_path / "last.npz", "label_smoothing")     # as old runs lack it
    history = fit(tiny_model(), TRAIN, VAL, epochs=3, batch_size=8, out_dir=tmp_path, resume=True,
                  verbose=False)
    assert history.epochs == 3


def test_cli_label_smoothing(tmp_path, monkeypatch, capsys):
    args = train_command(tmp_path, monkeypatch, epochs=1)
    assert main(args + ["--label-smoothing", "0.1"]) == 0
    assert mc.load(tmp_path / "run" / "best.npz").metadata["training"]["label_smoothing"] == 0.1
    for bad in ("1", "-0.1", "nan"):
        assert main(args + ["--label-smoothing", bad, "--out", str(tmp_path / "bad")]) != 0
        assert "--label-smoothing must lie in [0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()                       # refused before any folder
