"""The command line under user mistakes (issue 13): one line for a user's error, a traceback for a bug.

Proves: invalid hyper-parameters (--lr nan/inf/0, --weight-decay nan, --early-stopping 0) are
refused before any data is read, as one line on stderr; ``--debug`` and ``MINICNN_DEBUG=1`` show
the traceback of such an error instead; an exception that is not a user error (a bug) is never
swallowed.
"""
import re

import pytest

from minicnn.cli import main
from helpers import train_command


@pytest.fixture(autouse=True)
def no_debug_env(monkeypatch):
    monkeypatch.delenv("MINICNN_DEBUG", raising=False)


@pytest.mark.parametrize("option, value, match", [
    ("--lr", "nan", "--lr must be a finite number > 0"), ("--lr", "inf", "--lr"),
    ("--lr", "0", "--lr"), ("--lr", "-1", "--lr"),
    ("--weight-decay", "nan", "--weight-decay"), ("--weight-decay", "-0.1", "--weight-decay"),
    ("--early-stopping", "0", "--early-stopping must be at least 1"),
    ("--val-fraction", "nan", "--val-fraction"),
    ("--seed", "-1", "--seed must be an integer >= 0"), ("--split-seed", "-2", "--split-seed"),
    ("--max-zoom", "0.3", "--max-zoom takes effect only with --augment"),
    ("--early-stopping 2 --val-fraction", "0", "--val-fraction 0 leaves no validation split"),
    ("--resume --overwrite --epochs", "2", "give one of them")])
def test_train_refuses_bad_values_up_front(capsys, tmp_path, option, value, match):
    assert main(["train", "--model", "cnn5", "--out", str(tmp_path / "run"), *option.split(),
                 value]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and match in err, err
    assert not (tmp_path / "run").exists()


def test_debug_flag_and_env_show_the_traceback(monkeypatch, tmp_path):
    argv = ["predict", "--checkpoint", str(tmp_path / "missing.npz"), "x.png"]
    assert main(argv) == 1
    with pytest.raises(FileNotFoundError):
        main(["--debug"] + argv)
    monkeypatch.setenv("MINICNN_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        main(argv)
    monkeypatch.setenv("MINICNN_DEBUG", "0")
    assert main(argv) == 1


def test_a_bug_keeps_its_traceback(monkeypatch, tmp_path):
    import minicnn.training as training

    def broken(path):
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr(training, "load_checkpoint", broken)
    with pytest.raises(ZeroDivisionError):
        main(["predict", "--checkpoint", str(tmp_path / "m.npz"), "x.png"])


@pytest.mark.parametrize("text", ["[1, 2]", '{"space": [1]}', "{not json"])
def test_a_malformed_sweep_config_is_one_line(tmp_path, capsys, text):
    (tmp_path / "sweep.json").write_text(text)
    assert main(["sweep", str(tmp_path / "sweep.json"), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and err.startswith("minicnn sweep: error"), err


@pytest.mark.parametrize("change, match", [
    (["--lr", "0.01"], r"recipe \(lr 0.001 then, 0.01 now\)"),
    (["--weight-decay", "0.1"], r"recipe \(weight_decay 0.0 then, 0.1 now\)"),
    (["--schedule", "cosine"], r"learning-rate schedule \(lr_schedule constant then, cosine now\)"),
    (["--optimizer", "sgd"], "optimizer"),
    (["--augment"], r"augmentation \(augment None then, \{"),
    (["--standardize", "per_batch"], r"standardisation \(dataset then, per_batch now\)"),
    (["--dense", "10"], r"architecture \(dense 0 then, 10 now\)")])
def test_resume_refuses_other_settings_and_names_them(tmp_path, monkeypatch, capsys, change, match):
    """A resumed run continues the same run (the help's promise): a setting that would make it
    another run is named in one line, and nothing is trained."""
    args = train_command(tmp_path, monkeypatch, epochs=1)
    assert main(args) == 0
    before = (tmp_path / "run" / "last.npz").read_bytes()
    assert main(args + ["--resume", "--epochs", "2"] + change) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "cannot resume" in err, err
    assert re.search(match, err), err
    assert (tmp_path / "run" / "last.npz").read_bytes() == before
    assert main(args + ["--resume", "--epochs", "2"]) == 0            # the same settings: it does


def test_a_skipped_file_is_one_warning_naming_it(tmp_path, monkeypatch, capsys):
    """An undecodable file is skipped with one warning in the command's voice (not twice, not
    with the library line that raised it); --debug leaves warnings as Python shows them."""
    args = train_command(tmp_path, monkeypatch, epochs=1)
    bad = tmp_path / "data" / sorted(p.name for p in (tmp_path / "data").iterdir())[0] / "bad.png"
    bad.write_bytes(b"not a png")
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.startswith("minicnn train: warning: skipped 1 image file(s) in "), err
    assert err.count("could not be decoded") == 1 and "bad.png" in err, err
    assert "UserWarning" not in err and ".py:" not in err, err
    with pytest.warns(UserWarning, match="minicnn: skipped 1 image file"):
        assert main(["--debug"] + args + ["--overwrite"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_a_run_that_blows_up_says_so_in_one_place(tmp_path, monkeypatch, capsys):
    """At --lr 1e30 the weights overflow: the command explains and exits 1, with no NumPy
    overflow warnings printed ahead of the explanation."""
    args = train_command(tmp_path, monkeypatch, epochs=2)
    assert main(args + ["--lr", "1e30"]) == 1
    err = capsys.readouterr().err
    assert "Try a lower learning rate" in err and "warning" not in err, err
