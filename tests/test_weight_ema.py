"""Weight averaging (``fit(ema=...)``, ``minicnn train --ema``): the rule, and what fit does with it.

What this proves:
- ``WeightEMA.update`` is the rule in its docstring, written out here in float64: the warmed-up
  decay min(decay, (1 + t) / (10 + t)), parameters and batch-norm statistics alike;
- ``applied()`` lends the model the average and gives its own weights back, also on an error;
- ``fit(ema=...)`` validates the average, writes it to best.npz (loading best.npz and scoring
  it gives the recorded accuracy), returns the model holding it, and keeps the weights being
  trained in last.npz;
- Ctrl-C mid-epoch, then resume: the same average and numbers as a run never interrupted;
- a run is not resumed with another decay (or without one), and bad decays are refused.
"""
import json

import numpy as np
import pytest

import minicnn as mc
from minicnn.cli import main
from minicnn.serialization import load_arrays
from minicnn.training import Callback, evaluate, fit
from minicnn.training.averaging import WeightEMA
from helpers import train_command
from test_training import TRAIN, VAL, CtrlC, numbers, tiny_model


def bn_model(seed=0):
    """Conv -> BatchNorm -> ReLU -> global average pool -> Dense: parameters and buffers."""
    return mc.Sequential([mc.Conv2D(1, 3, 3, padding=1, rng=seed), mc.BatchNorm2D(3), mc.ReLU(),
                          mc.GlobalAvgPool2D(), mc.Dense(3, 3, rng=seed)], input_shape=(1, 8, 8))


def test_update_is_the_documented_rule():
    model = bn_model()
    live = {**model.params, **model.buffers}
    assert any(k.endswith("running_var") for k in live)          # buffers are averaged too
    expected = {k: v.astype(np.float64) for k, v in live.items()}
    ema = WeightEMA(model, decay=0.95)
    rng = np.random.default_rng(0)
    for t in range(1, 41):                                       # past the warm-up (t = 170 / 5)
        for k, v in live.items():
            v += rng.normal(0, 0.1, v.shape).astype(v.dtype)
        ema.update()
        d = min(0.95, (1 + t) / (10 + t))
        for k, v in live.items():
            expected[k] = d * expected[k] + (1 - d) * v.astype(np.float64)
    assert ema.t == 40
    for k in live:
        np.testing.assert_allclose(ema.average[k], expected[k], rtol=1e-5, atol=1e-6)
        assert not np.allclose(ema.average[k], live[k])          # the average lags the weights


def test_applied_lends_the_average_and_gives_the_weights_back():
    model = bn_model()
    ema = WeightEMA(model, decay=0.5)
    own = {k: v.copy() for k, v in model.params.items()}
    ema.average["0.W"][...] = 7.0
    with pytest.raises(RuntimeError):
        with ema.applied():
            assert (model.params["0.W"] == 7.0).all()
            raise RuntimeError("inside the block")
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, own[k])


class Recorder(Callback):
    """The average and the weights after each epoch."""

    def __init__(self, model, ema):
        self.model, self.ema, self.average, self.live = model, ema, {}, {}

    def on_epoch_end(self, epoch, logs):
        self.average[epoch] = {k: v.copy() for k, v in self.ema.average.items()}
        self.live[epoch] = {k: v.copy() for k, v in self.model.params.items()}


def test_fit_validates_saves_and_returns_the_average(tmp_path):
    model = tiny_model()
    ema = WeightEMA(model, decay=0.9)
    spy = Recorder(model, ema)
    history = fit(model, TRAIN, VAL, epochs=4, batch_size=8, optimizer=mc.Adam(model, lr=0.05),
                  out_dir=tmp_path, callbacks=[spy], verbose=False, ema=ema)
    assert ema.t == 4 * 6                                        # one update per step
    best = mc.load(tmp_path / "best.npz")
    assert best.metadata["training"]["ema"] == 0.9
    for k, v in spy.average[history.best_epoch].items():
        if k in best.params:
            np.testing.assert_array_equal(best.params[k], v)
    scored = evaluate(best, VAL)                                 # best.npz is what was validated
    assert scored["accuracy"] == best.metadata["val_accuracy"] == max(
        history.history["val_accuracy"])
    assert scored["loss"] == pytest.approx(history.history["val_loss"][history.best_epoch - 1],
                                           rel=1e-6)
    live_model = mc.load(tmp_path / "last.npz")                  # (not the weights trained)
    assert evaluate(live_model, VAL)["loss"] != pytest.approx(history.history["val_loss"][-1],
                                                              rel=1e-3)
    for k, v in model.params.items():                            # fit returns the average
        np.testing.assert_array_equal(v, spy.average[4][k])
    last = mc.load(tmp_path / "last.npz")                        # last.npz: the weights trained
    for k, v in last.params.items():
        np.testing.assert_array_equal(v, spy.live[4][k])
    assert not np.array_equal(last.params["0.W"], model.params["0.W"])


def run(tmp_path, **kwargs):
    model = tiny_model()
    history = fit(model, TRAIN, VAL, epochs=4, batch_size=8, optimizer=mc.Adam(model, lr=0.05),
                  lr_schedule="cosine", out_dir=tmp_path, verbose=False, ema=0.8, **kwargs)
    return model, history


@pytest.mark.parametrize("at", [(1, 2), (2, 3), (3, None)])
def test_ctrl_c_then_resume_gives_the_same_average(tmp_path, at):
    full_model, full = run(tmp_path / "full")
    interrupted, stopped = run(tmp_path / "split", callbacks=[CtrlC(*at)])
    assert stopped.stop_reason == "interrupted"
    saved = load_arrays(tmp_path / "split" / "last.npz")         # the model comes back holding
    for k, v in interrupted.params.items():                      # the last complete epoch's average
        np.testing.assert_array_equal(v, saved["extra/ema/average." + k])
    model, resumed = run(tmp_path / "split", resume=True)
    assert numbers(resumed) == numbers(full)
    for k, v in full_model.params.items():
        np.testing.assert_array_equal(model.params[k], v)


@pytest.mark.parametrize("ema", [None, 0.5])
def test_resume_refuses_another_decay(tmp_path, ema):
    run(tmp_path)                                                # trained with ema=0.8
    model = tiny_model()
    with pytest.raises(ValueError, match="cannot resume.*weight averaging"):
        fit(model, TRAIN, VAL, epochs=5, batch_size=8, out_dir=tmp_path, resume=True,
            verbose=False, ema=ema)


@pytest.mark.parametrize("decay", [0, 1, 1.5, -0.1, float("nan"), True, "0.9"])
def test_bad_decays_are_refused(decay):
    with pytest.raises(ValueError, match="EMA decay"):
        WeightEMA(tiny_model(), decay)
    model = tiny_model()
    with pytest.raises(ValueError, match="EMA decay"):
        fit(model, TRAIN, VAL, epochs=1, verbose=False, ema=decay)


def test_an_average_of_another_model_is_refused():
    with pytest.raises(ValueError, match="another model"):
        fit(tiny_model(), TRAIN, VAL, epochs=1, verbose=False, ema=WeightEMA(tiny_model(), 0.9))


def test_cli_ema(tmp_path, monkeypatch, capsys):
    args = train_command(tmp_path, monkeypatch, epochs=2)
    assert main(args + ["--ema", "0.99"]) == 0
    meta = mc.load(tmp_path / "run" / "best.npz").metadata
    assert meta["training"]["ema"] == 0.99
    history = json.loads((tmp_path / "run" / "history.json").read_text())["history"]
    assert meta["val_accuracy"] == max(history["val_accuracy"])
    for bad in ("1", "0", "nan"):
        assert main(args + ["--ema", bad, "--out", str(tmp_path / "bad")]) != 0
        assert "--ema takes a decay between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()                       # refused before any folder
