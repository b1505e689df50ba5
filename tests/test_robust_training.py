"""Training runs under interruption, wrong resumes, bad settings and hostile folders (issue 13).

Proves, on the tiny 3-class problem of test_training.py:
- Ctrl-C anywhere (first batch of epoch 1, mid-epoch, after an epoch's end, between writing
  best.npz and last.npz), then ``resume=True``, ends bit-identical to an uninterrupted run;
- resuming with other data, other classes or another batch size is refused;
- a diverging run (Adam at lr 1e6: huge but finite losses) stops with "diverged" and keeps no
  diverged checkpoint; an empty validation set, an unwritable output folder and a folder that
  already holds a run are refused before the first epoch;
- checkpoints get mode 0666 & ~umask; temporary files of killed saves are removed; a symlink
  planted at the old predictable temporary name or at history.json is never followed;
- ``minicnn train`` into an existing run folder, or with too few images for a validation split,
  is a one-line error before training.
"""
import json
import os
import stat
import subprocess

import numpy as np
import pytest

import minicnn as mc
from minicnn.cli import main
from minicnn.data import Dataset
from minicnn.training import Callback, fit
from minicnn.training import checkpoint as ckpt
from test_training import VAL, TRAIN, CtrlC, numbers, run, tiny_model


class Counter(Callback):
    def __init__(self):
        self.batches = 0

    def on_batch_end(self, batch, logs):
        self.batches += 1


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return run(epochs=4, out_dir=tmp_path_factory.mktemp("full"), lr_schedule="cosine")


def assert_same_run(a, b):
    (model_a, hist_a), (model_b, hist_b) = a, b
    assert numbers(hist_a) == numbers(hist_b)
    for key, value in model_a.params.items():
        np.testing.assert_array_equal(model_b.params[key], value)
    for key, value in model_a.buffers.items():
        np.testing.assert_array_equal(model_b.buffers[key], value)


@pytest.mark.parametrize("at", [(1, 0), (2, 3), (3, None), (4, 5)])
def test_ctrl_c_then_resume_is_exact(tmp_path, uninterrupted, at):
    """Was: the weights of the interrupted epoch's first batches were kept, so the result
    depended on when Ctrl-C came."""
    model, history = run(epochs=4, out_dir=tmp_path, lr_schedule="cosine", callbacks=[CtrlC(*at)])
    assert history.stop_reason == "interrupted"
    assert history.epochs == at[0] - (at[1] is not None)
    last = mc.load(tmp_path / "last.npz")
    for key, value in model.params.items():            # memory and disk: the same complete epoch
        np.testing.assert_array_equal(last.params[key], value)
    assert_same_run(uninterrupted, run(epochs=4, out_dir=tmp_path, lr_schedule="cosine",
                                       resume=True))


def test_ctrl_c_between_best_and_last_is_exact(tmp_path, uninterrupted, monkeypatch):
    real, calls = ckpt.save_checkpoint, []

    def save(model, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 4:                  # epoch 0 last, epoch 1 best + last, epoch 2 best
            raise KeyboardInterrupt           # ... after best.npz, before last.npz
        return real(model, path, *args, **kwargs)
    monkeypatch.setattr(ckpt, "save_checkpoint", save)
    model, history = run(epochs=4, out_dir=tmp_path, lr_schedule="cosine")
    assert history.stop_reason == "interrupted" and history.epochs == 1
    monkeypatch.setattr(ckpt, "save_checkpoint", real)
    assert_same_run(uninterrupted, run(epochs=4, out_dir=tmp_path, lr_schedule="cosine",
                                       resume=True))


@pytest.mark.parametrize("change, match", [
    (lambda: dict(train=Dataset(TRAIN.images[::-1].copy(), TRAIN.labels[::-1].copy(),
                                TRAIN.classes)), "training data"),
    (lambda: dict(train=Dataset(TRAIN.images, TRAIN.labels, ["a", "b", "c"])), "classes"),
    (lambda: dict(batch_size=4), "batch size"),
    (lambda: dict(seed=5), "seed")])
def test_resume_refuses_other_data_or_settings(tmp_path, change, match):
    run(epochs=1, out_dir=tmp_path)
    kwargs = dict(train=TRAIN, batch_size=8, seed=0)
    kwargs.update(change())
    model = tiny_model()
    with pytest.raises(ValueError, match=f"cannot resume.*{match}"):
        fit(model, kwargs.pop("train"), VAL, epochs=2, out_dir=tmp_path, resume=True,
            verbose=False, **kwargs)


def test_diverging_run_stops(tmp_path, capsys):
    model = tiny_model()
    history = fit(model, TRAIN, VAL, epochs=3, batch_size=8, optimizer=mc.Adam(model, lr=1e6),
                  out_dir=tmp_path, verbose=False)
    assert history.stop_reason == "diverged" and history.epochs == 0
    assert "the training loss grew to" in capsys.readouterr().err
    assert not (tmp_path / "best.npz").exists()          # no chance-level "best" checkpoint
    np.testing.assert_array_equal(mc.load(tmp_path / "last.npz").params["0.W"],
                                  tiny_model().params["0.W"])   # rolled back to the start


def test_problems_found_before_the_first_epoch(tmp_path):
    counter = Counter()
    empty = Dataset(np.zeros((0, 1, 8, 8), np.uint8), np.zeros(0, np.int64), TRAIN.classes)
    with pytest.raises(ValueError, match="validation set is empty"):
        fit(tiny_model(), TRAIN, empty, epochs=1, callbacks=[counter], verbose=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError, match="output folder"):
        fit(tiny_model(), TRAIN, VAL, epochs=1, out_dir=tmp_path / "file" / "run",
            callbacks=[counter], verbose=False)
    with pytest.raises(OSError):                          # a folder nobody can write (even root)
        fit(tiny_model(), TRAIN, VAL, epochs=1, out_dir="/proc/self", callbacks=[counter],
            verbose=False)
    run(epochs=1, out_dir=tmp_path / "run")
    with pytest.raises(ValueError, match="already holds a training run"):
        fit(tiny_model(), TRAIN, VAL, epochs=1, out_dir=tmp_path / "run", callbacks=[counter],
            verbose=False)
    with pytest.raises(ValueError, match="early_stopping"):
        fit(tiny_model(), TRAIN, VAL, epochs=1, early_stopping=0, verbose=False)
    assert counter.batches == 0
    _, history = run(epochs=1, out_dir=tmp_path / "run", overwrite=True)
    assert history.epochs == 1


def test_files_are_written_safely(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, out / f"history.json.tmp-{os.getpid()}")   # the old predictable name
    dead = subprocess.Popen(["true"])
    dead.wait()                                           # a pid that no longer runs
    stale = out / f".last.npz.{dead.pid}.abc123.tmp"      # what a SIGKILLed save leaves
    stale.write_bytes(b"partial")
    umask = os.umask(0o022)
    try:
        run(epochs=1, out_dir=out, overwrite=True)
    finally:
        os.umask(umask)
    assert victim.read_text() == "precious"
    assert not stale.exists()
    for name in ("best.npz", "last.npz", "history.json"):
        assert stat.S_IMODE(os.stat(out / name).st_mode) == 0o644, name
    assert [n for n in os.listdir(out) if n.endswith(".tmp")] == []
    os.remove(out / "history.json")
    os.symlink(victim, out / "history.json")              # a link at the target itself
    run(epochs=2, out_dir=out, resume=True)
    assert victim.read_text() == "precious"
    assert not os.path.islink(out / "history.json")
    assert len(json.loads((out / "history.json").read_text())["history"]["loss"]) == 2


def test_cli_refuses_existing_run_and_empty_split(tmp_path, capsys, monkeypatch):
    from test_cli import write_images
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MINICNN_DEBUG", raising=False)
    write_images(tmp_path / "few", 2, seed=0)
    argv = ["train", "--model", "cnn5", "--data", str(tmp_path / "few"), "--image-size", "32",
            "--out", str(tmp_path / "run"), "--quiet"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "validation split is empty" in err and "\n" not in err, err
    (tmp_path / "run" / "best.npz").write_bytes(b"an earlier run's model")
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "already holds a training run" in err and "\n" not in err, err
    assert (tmp_path / "run" / "best.npz").read_bytes() == b"an earlier run's model"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_cli_stops_a_diverging_run_and_checks_out_first(tmp_path, capsys, monkeypatch):
    from test_cli import write_images
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MINICNN_DEBUG", raising=False)
    write_images(tmp_path / "data", 8, seed=0)
    base = ["train", "--model", "mini_resnet", "--data", str(tmp_path / "data"), "--image-size",
            "32", "--quiet", "--epochs", "2"]
    assert main(base + ["--out", str(tmp_path / "run"), "--lr", "10"]) == 1    # was: exit 0
    assert "the training loss grew to" in capsys.readouterr().err       # finite, but far too big
    saved = json.loads((tmp_path / "run" / "history.json").read_text())
    assert saved["stop_reason"] == "diverged" and len(saved["history"]["loss"]) == 1
    (tmp_path / "file").write_text("x")
    assert main(base + ["--out", str(tmp_path / "file" / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert "cannot create the output folder" in err and "\n" not in err, err
