"""The training loop on tiny generated data: it learns, it is reproducible, and it survives faults.

What this proves, each on a 3-class problem a small conv net solves in a few epochs (the class
sets the image's brightness):
- the loss falls and History records one number per epoch for every key;
- the same seed gives the same numbers (and another seed does not);
- best.npz holds the weights of the best validation epoch, not the last;
- a resumed run continues at the right epoch and ends exactly where an uninterrupted one does
  (shuffling, augmentation, dropout and Adam state all carried over);
- a non-finite loss stops training cleanly: the model and last.npz keep the last good epoch;
- Ctrl-C (KeyboardInterrupt from a callback) returns with the model and last.npz at the end of
  the last complete epoch, and history.json written (tests/test_robust_training.py: exactly);
- early stopping and the learning-rate schedules do what they say;
- fit skips the input gradient of a first Conv2D while it trains, and puts the flag back
  afterwards (also after Ctrl-C or an error).
"""
import json
import os

import numpy as np
import pytest

import minicnn as mc
from minicnn.data import Augmenter, Dataset
from minicnn.training import Callback, History, fit, get_schedule
from helpers import tiny_data


def tiny_model(seed=0):
    """Conv -> ReLU -> Dropout -> global average pool -> Dense: 91 parameters."""
    return mc.Sequential([mc.Conv2D(1, 4, 3, padding=1, rng=seed), mc.ReLU(),
                          mc.Dropout(0.2, rng=seed), mc.GlobalAvgPool2D(),
                          mc.Dense(4, 3, rng=seed)], input_shape=(1, 8, 8))


TRAIN, VAL = tiny_data(48, seed=0), tiny_data(24, seed=1)


def run(epochs=4, seed=0, **kwargs):
    model = tiny_model(seed)
    kwargs.setdefault("optimizer", mc.Adam(model, lr=0.05))
    history = fit(model, TRAIN, VAL, epochs=epochs, batch_size=8, seed=seed, verbose=False,
                  **kwargs)
    return model, history


def numbers(history):
    """The History without the wall-clock times (those differ from run to run)."""
    return {k: v for k, v in history.history.items() if k != "epoch_time"}


def test_loss_falls_and_history_has_every_key():
    _, history = run(epochs=6)
    h = history.history
    assert h["loss"][-1] < 0.5 * h["loss"][0]
    assert h["val_accuracy"][-1] > 0.9
    assert all(len(h[k]) == 6 for k in History(h).history)
    assert history.stop_reason is None


def test_same_seed_same_numbers(tmp_path):
    augment = dict(augment=Augmenter(rng=0), lr_schedule="cosine")
    (m1, h1), (m2, h2) = run(**augment), run(**augment)
    assert numbers(h1) == numbers(h2)
    for key, value in m1.params.items():
        np.testing.assert_array_equal(value, m2.params[key])
    _, h3 = run(seed=1, **augment)
    assert numbers(h3) != numbers(h1)


class Sabotage(Callback):
    """Wreck the output layer at the start of epoch ``at``; copy the weights after each epoch."""

    def __init__(self, model, at):
        self.model, self.at, self.weights = model, at, {}

    def on_epoch_begin(self, epoch, logs):
        if epoch == self.at:
            self.model.params["4.W"][...] *= -1          # flips the class ranking

    def on_epoch_end(self, epoch, logs):
        self.weights[epoch] = {k: v.copy() for k, v in self.model.params.items()}


def test_best_checkpoint_keeps_the_best_epoch(tmp_path):
    model = tiny_model()
    spy = Sabotage(model, at=5)
    history = fit(model, TRAIN, VAL, epochs=5, batch_size=8, optimizer=mc.Adam(model, lr=0.05),
                  lr_schedule=lambda e: 0.05 if e < 4 else 0.0, out_dir=tmp_path,
                  callbacks=[spy], verbose=False)
    acc = history.history["val_accuracy"]
    assert acc[4] < max(acc)                             # the last epoch is not the best
    best = mc.load(tmp_path / "best.npz")
    assert best.metadata["epoch"] == history.best_epoch == int(np.argmax(acc)) + 1
    assert best.metadata["val_accuracy"] == max(acc)
    for key, value in spy.weights[history.best_epoch].items():
        np.testing.assert_array_equal(best.params[key], value)
    last = mc.load(tmp_path / "last.npz")
    assert last.metadata["epoch"] == 5
    np.testing.assert_array_equal(last.params["4.W"], model.params["4.W"])
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved["history"]["val_accuracy"] == acc


class CtrlC(Callback):
    """Raise KeyboardInterrupt (as Ctrl-C would) after batch ``at_batch`` of epoch ``at_epoch``,
    or at the end of that epoch when ``at_batch`` is None."""

    def __init__(self, at_epoch, at_batch=None):
        self.at, self.epoch = (at_epoch, at_batch), 0

    def on_epoch_begin(self, epoch, logs):
        self.epoch = epoch

    def on_batch_end(self, batch, logs):
        if (self.epoch, batch) == self.at:
            raise KeyboardInterrupt

    def on_epoch_end(self, epoch, logs):
        if (epoch, None) == self.at:
            raise KeyboardInterrupt


def test_resume_matches_an_uninterrupted_run(tmp_path):
    kw = dict(augment=Augmenter(rng=0), lr_schedule="cosine")
    full_model, full = run(epochs=4, out_dir=tmp_path / "full", **kw)
    run(epochs=4, out_dir=tmp_path / "split", callbacks=[CtrlC(2)], **kw)    # stops after 2
    model, resumed = run(epochs=4, out_dir=tmp_path / "split", resume=True, **kw)
    assert resumed.epochs == 4
    assert numbers(resumed) == numbers(full)
    for key, value in full_model.params.items():
        np.testing.assert_array_equal(model.params[key], value)
    assert mc.load(tmp_path / "split" / "last.npz").metadata["epoch"] == 4


class Poison(Callback):
    """Put a NaN into the weights after the first batch of epoch ``at``."""

    def __init__(self, model, at):
        self.model, self.at, self.epoch = model, at, 0

    def on_epoch_begin(self, epoch, logs):
        self.epoch = epoch

    def on_batch_end(self, batch, logs):
        if self.epoch == self.at and batch == 0:
            self.model.params["0.W"][0, 0, 0, 0] = np.nan


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    model = tiny_model()
    history = fit(model, TRAIN, VAL, epochs=5, batch_size=8, optimizer=mc.Adam(model, lr=0.05),
                  out_dir=tmp_path, callbacks=[Poison(model, at=3)], verbose=False)
    assert history.stop_reason == "non_finite_loss" and history.epochs == 2
    assert "nan" in capsys.readouterr().err
    last = mc.load(tmp_path / "last.npz")
    assert last.metadata["epoch"] == 2
    for key, value in last.params.items():              # the model was rolled back to epoch 2
        assert np.isfinite(value).all()
        np.testing.assert_array_equal(model.params[key], value)
    assert json.loads((tmp_path / "history.json").read_text())["stop_reason"] == "non_finite_loss"


def test_ctrl_c_saves_checkpoint_and_history_then_resumes(tmp_path, capsys):
    model, history = run(epochs=4, out_dir=tmp_path, callbacks=[CtrlC(2, 1)])
    assert history.stop_reason == "interrupted" and history.epochs == 1
    assert str(tmp_path / "last.npz") in capsys.readouterr().err
    last = mc.load(tmp_path / "last.npz")
    assert last.metadata["epoch"] == 1
    np.testing.assert_array_equal(last.params["0.W"], model.params["0.W"])   # back at epoch 1
    assert len(json.loads((tmp_path / "history.json").read_text())["history"]["loss"]) == 1
    _, resumed = run(epochs=4, out_dir=tmp_path, resume=True)
    assert resumed.epochs == 4 and resumed.stop_reason is None


def test_early_stopping(tmp_path):
    _, history = run(epochs=10, early_stopping=2, lr_schedule=lambda e: 0.05 if e < 2 else 0.0)
    assert history.stop_reason == "early_stopping"
    assert history.epochs == history.best_epoch + 2


def test_schedules():
    cosine = get_schedule("cosine", 1.0, epochs=4)
    assert [round(cosine(e), 4) for e in range(4)] == [1.0, 0.8536, 0.5, 0.1464]
    step = get_schedule("step", 1.0, epochs=6)           # x0.1 every 2 epochs
    assert [round(step(e), 4) for e in range(6)] == [1.0, 1.0, 0.1, 0.1, 0.01, 0.01]
    assert get_schedule(None, 0.3, 5)(4) == 0.3
    with pytest.raises(ValueError, match="unknown learning-rate schedule"):
        get_schedule("linear", 1.0, 5)


def test_lr_is_recorded_per_epoch():
    _, history = run(epochs=3, lr_schedule="step")
    assert history.history["lr"] == pytest.approx([0.05, 0.005, 0.0005])


def test_bad_calls(tmp_path):
    model = tiny_model()
    wrong = Dataset(np.zeros((4, 1, 6, 6), np.uint8), [0, 1, 2, 0], ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"expects images of shape \(1, 8, 8\)"):
        fit(model, wrong, verbose=False)
    with pytest.raises(ValueError, match="needs out_dir"):
        fit(model, TRAIN, resume=True, verbose=False)
    with pytest.raises(FileNotFoundError, match="last.npz does not exist"):
        fit(model, TRAIN, out_dir=tmp_path, resume=True, verbose=False)
    assert not os.listdir(tmp_path)


class FlagSpy(Callback):
    """Record the first layer's needs_input_grad after every batch; then raise ``error`` if given."""

    def __init__(self, model, error=None):
        self.model, self.error, self.seen = model, error, []

    def on_batch_end(self, batch, logs):
        self.seen.append(self.model[0].needs_input_grad)
        if self.error is not None:
            raise self.error


@pytest.mark.parametrize("before", [True, False])
def test_fit_skips_the_input_gradient_and_restores_the_flag(before):
    model = tiny_model()
    model[0].needs_input_grad = before
    spy = FlagSpy(model)
    history = fit(model, TRAIN, VAL, epochs=3, batch_size=8, optimizer=mc.Adam(model, lr=0.05),
                  callbacks=[spy], verbose=False)
    assert len(spy.seen) == 3 * 6 and not any(spy.seen)   # no dx for the images, every batch
    assert model[0].needs_input_grad is before
    assert history.history["loss"][-1] < history.history["loss"][0]   # and it still learns


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("boom")])
def test_flag_is_restored_when_training_stops_early(error):
    model = tiny_model()
    if isinstance(error, KeyboardInterrupt):                  # fit handles Ctrl-C and returns
        assert fit(model, TRAIN, epochs=2, batch_size=8, callbacks=[FlagSpy(model, error)],
                   verbose=False).stop_reason == "interrupted"
    else:                                                     # any other error propagates
        with pytest.raises(RuntimeError, match="boom"):
            fit(model, TRAIN, epochs=2, batch_size=8, callbacks=[FlagSpy(model, error)],
                verbose=False)
    assert model[0].needs_input_grad is True
