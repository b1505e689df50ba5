"""Mixup (``minicnn.data.mixup``, ``fit(mixup=alpha)``, ``minicnn train --mixup``).

What this proves:
- ``mix_batch`` blends the batch with a shuffled copy of itself by the same lam as its labels,
  lam is a Beta(alpha, alpha) draw folded onto [0.5, 1], and the label that weighs more is ``y``;
- the loss the loop takes, lam * CE(y) + (1 - lam) * CE(y2), is the cross-entropy against the
  blended one-hot labels, loss and gradient (with and without label smoothing);
- ``fit`` takes exactly that step (one step of plain SGD, redone by hand from the epoch's
  generator, gives the same weights; the step without mixup does not), validates on the plain
  images and labels, and a run with mixup resumed after epoch 1 ends bit-identical to one that
  was not interrupted;
- the setting is saved with the checkpoint, a run is not resumed with another value, a
  checkpoint from before the setting existed resumes as no mixup, and bad values are refused.
"""
import numpy as np
import pytest

import minicnn as mc
from minicnn.cli import main
from minicnn.data.mixup import check_mixup, mix_batch
from minicnn.losses import softmax_cross_entropy
from minicnn.training import fit
from minicnn.training.run import reseed
from helpers import drop_training_setting, train_command
from test_label_smoothing import linear_model
from test_training import TRAIN, VAL, tiny_model


def test_mix_batch_by_hand():
    x = np.arange(5 * 2, dtype=np.float32).reshape(5, 2)
    y = np.array([0, 1, 2, 3, 0])
    mixed, y1, y2, lam = mix_batch(x, y, 0.4, np.random.default_rng(7))
    ref = np.random.default_rng(7)                            # the same draws, in the same order
    draw = ref.beta(0.4, 0.4)
    perm = ref.permutation(5)
    assert lam == max(draw, 1 - draw) and 0.5 <= lam <= 1
    np.testing.assert_allclose(mixed, lam * x + (1 - lam) * x[perm], rtol=1e-6)
    assert mixed.dtype == np.float32
    assert np.array_equal(y1, y) and np.array_equal(y2, y[perm])


def test_lam_follows_the_folded_beta():
    rng = np.random.default_rng(0)
    lams = np.array([mix_batch(np.zeros((2, 1)), np.zeros(2), 0.2, rng)[3] for _ in range(4000)])
    assert lams.min() >= 0.5 and lams.max() <= 1.0
    draws = np.random.default_rng(1).beta(0.2, 0.2, size=200_000)
    folded = np.maximum(draws, 1 - draws)
    assert abs(lams.mean() - folded.mean()) < 0.01            # about 0.91 for alpha 0.2
    assert abs(np.mean(lams > 0.99) - np.mean(folded > 0.99)) < 0.03


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_two_cross_entropies_are_the_cross_entropy_of_the_blend(rng, eps):
    logits = rng.standard_normal((6, 4)) * 3
    y, y2, lam = rng.integers(0, 4, 6), rng.integers(0, 4, 6), 0.7
    loss1, d1 = softmax_cross_entropy(logits, y, eps)
    loss2, d2 = softmax_cross_entropy(logits, y2, eps)
    blend = lam * np.eye(4)[y] + (1 - lam) * np.eye(4)[y2]
    loss, d = softmax_cross_entropy(logits, blend, eps)
    assert lam * loss1 + (1 - lam) * loss2 == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(lam * d1 + (1 - lam) * d2, d, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("alpha", [None, 0.4])
def test_fit_takes_the_mixup_step_and_validates_plain(alpha):
    x, y = TRAIN.images.astype(np.float32) / 255, TRAIN.labels      # float: used as is
    xv, yv = VAL.images.astype(np.float32) / 255, VAL.labels
    model, by_hand = linear_model(), linear_model()
    history = fit(model, (x, y), (xv, yv), epochs=1, batch_size=len(x), standardize=None,
                  optimizer=mc.SGD(model, lr=0.5), verbose=False, mixup=0.4, seed=3)
    rng = reseed(by_hand, None, 3, 1)                  # epoch 1's generator, as fit makes it
    if alpha is None:
        loss, d = softmax_cross_entropy(by_hand.forward(x, training=True), y)
    else:
        mix_rng = np.random.default_rng(rng.integers(2 ** 62))   # drawn before the shuffle
        order = rng.permutation(len(x))                          # one batch: the whole shuffle
        xm, y1, y2, lam = mix_batch(x[order], y[order], alpha, mix_rng)
        logits = by_hand.forward(xm, training=True)
        blend = lam * np.eye(3)[y1] + (1 - lam) * np.eye(3)[y2]
        loss, d = softmax_cross_entropy(logits, blend)
    by_hand.backward(d)
    mc.SGD(by_hand, lr=0.5).step()
    same = all(np.allclose(model.params[k], v, rtol=1e-5, atol=1e-7)
               for k, v in by_hand.params.items())
    assert same == (alpha is not None)               # fit took the mixup step, not the plain one
    if alpha is not None:
        assert history.history["loss"][0] == pytest.approx(loss, rel=1e-5)
    plain = softmax_cross_entropy(model.forward(xv), yv)[0]
    assert history.history["val_loss"][0] == pytest.approx(plain, rel=1e-5)
    assert model.metadata["training"]["mixup"] == 0.4


def train(tmp_path, epochs=2, resume=False, **kwargs):
    model = tiny_model()
    history = fit(model, TRAIN, VAL, epochs=epochs, batch_size=8, optimizer=mc.Adam(model, lr=0.05),
                  out_dir=tmp_path, verbose=False, resume=resume, **kwargs)
    return model, history


def test_resumed_run_ends_bit_identical(tmp_path):
    straight, h1 = train(tmp_path / "a", epochs=3, mixup=0.2)
    train(tmp_path / "b", epochs=1, mixup=0.2)
    resumed, h2 = train(tmp_path / "b", epochs=3, resume=True, mixup=0.2)
    for k, v in straight.params.items():
        assert np.array_equal(resumed.params[k], v), k
    assert h1.history["loss"] == h2.history["loss"]
    plain, h3 = train(tmp_path / "c", epochs=3)
    assert h3.history["loss"] != h1.history["loss"]           # mixup did change the training


@pytest.mark.parametrize("alpha", [None, 0.4])
def test_resume_refuses_another_value(tmp_path, alpha):
    train(tmp_path, mixup=0.2)
    with pytest.raises(ValueError, match=rf"cannot resume.*mixup \(mixup 0.2 then, {alpha} now\)"):
        train(tmp_path, epochs=3, resume=True, mixup=alpha)


def test_a_checkpoint_from_before_the_setting_resumes_as_none(tmp_path):
    train(tmp_path)
    drop_training_setting(tmp_path / "last.npz", "mixup")     # as old runs lack it
    _, history = train(tmp_path, epochs=3, resume=True)
    assert history.epochs == 3


@pytest.mark.parametrize("bad", [0, -0.2, float("nan"), float("inf"), True, "0.2"])
def test_bad_values_are_refused(bad):
    with pytest.raises(ValueError, match="mixup must be None or a Beta parameter"):
        check_mixup(bad)
    with pytest.raises(ValueError, match="mixup must be None or a Beta parameter"):
        fit(tiny_model(), TRAIN, VAL, epochs=1, verbose=False, mixup=bad)


def test_cli_mixup(tmp_path, monkeypatch, capsys):
    args = train_command(tmp_path, monkeypatch, epochs=1)
    assert main(args + ["--mixup", "0.2"]) == 0
    assert mc.load(tmp_path / "run" / "best.npz").metadata["training"]["mixup"] == 0.2
    for bad in ("0", "-1", "nan", "inf"):
        assert main(args + ["--mixup", bad, "--out", str(tmp_path / "bad")]) != 0
        assert "--mixup takes a Beta parameter alpha > 0" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()                       # refused before any folder
