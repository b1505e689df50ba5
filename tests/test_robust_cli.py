"""The command line under user mistakes (issue 13): one line for a user's error, a traceback for a bug.

Proves: invalid hyper-parameters (--lr nan/inf/0, --weight-decay nan, --early-stopping 0) are
refused before any data is read, as one line on stderr; ``--debug`` and ``MINICNN_DEBUG=1`` show
the traceback of such an error instead; an exception that is not a user error (a bug) is never
swallowed.
"""
import pytest

from minicnn.cli import main


@pytest.fixture(autouse=True)
def no_debug_env(monkeypatch):
    monkeypatch.delenv("MINICNN_DEBUG", raising=False)


@pytest.mark.parametrize("option, value, match", [
    ("--lr", "nan", "--lr must be a finite number > 0"), ("--lr", "inf", "--lr"),
    ("--lr", "0", "--lr"), ("--lr", "-1", "--lr"),
    ("--weight-decay", "nan", "--weight-decay"), ("--weight-decay", "-0.1", "--weight-decay"),
    ("--early-stopping", "0", "--early-stopping must be at least 1"),
    ("--val-fraction", "nan", "--val-fraction")])
def test_train_refuses_bad_values_up_front(capsys, tmp_path, option, value, match):
    assert main(["train", "--model", "cnn5", "--out", str(tmp_path / "run"), option, value]) == 1
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
