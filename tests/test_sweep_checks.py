"""What ``minicnn sweep`` refuses, and when it says it failed (tiny synthetic data, seconds).

Proves: a results folder is resumed only by the config that filled it (a changed [fixed] value,
data or seed is refused before any training; more [space] values extend the sweep); data.image_size
and fixed.image_size are one size (either sets both, two values are refused); values every trial
would fail on are refused when the config is read, naming the key, with the messages docs/tuning.md
quotes; the command exits 1 when every trial failed (not when some did); a directory, a TOML
syntax error, an unknown top-level key and an --out that is a file each get a message that says so.
"""
import json

import pytest

import minicnn
from minicnn.cli import main
from minicnn.sweep import check_config, load_config, read_results, run_sweep
from test_sweep import _config, folder  # noqa: F401 (folder: the 16x16 two-class fixture)


def _quiet(config, out):
    return run_sweep(config, out, log=lambda _: None)


def _small(folder, **over):
    """One configuration, one repeat, one epoch."""
    return _config(folder, **{"repeats": 1, "space": {"lr": [0.01]}, **over})


def test_a_folder_of_another_config_is_refused_and_more_choices_extend_it(folder, tmp_path):
    out = tmp_path / "s"
    c = _small(folder)
    _quiet(c, out)
    before = (out / "results.jsonl").read_text()
    for changed, says in [({"fixed": {**c["fixed"], "epochs": 2}}, "epochs = 1 (this config: 2)"),
                          ({"data": {**c["data"], "val_fraction": 0.5}},
                           "data.val_fraction = 0.25 (this config: 0.5)"),
                          ({"seed": 3}, "seed = 0 (this config: 3)")]:
        with pytest.raises(ValueError, match="holds a sweep of another config") as e:
            _quiet({**c, **changed}, out)
        assert says in str(e.value) and "--out" in str(e.value)
    assert (out / "results.jsonl").read_text() == before          # nothing trained, nothing lost
    records = _quiet(_small(folder, space={"lr": [0.01, 0.001]}), out)   # one more choice
    assert len(records) == 2 and (out / "results.jsonl").read_text().startswith(before)


def test_the_cli_refuses_a_changed_fixed_setting(folder, tmp_path, capsys):
    path, out = tmp_path / "c.json", tmp_path / "out"
    c = _small(folder)
    path.write_text(json.dumps(c))
    assert main(["sweep", str(path), "--out", str(out)]) == 0
    path.write_text(json.dumps({**c, "fixed": {**c["fixed"], "epochs": 2}}))
    capsys.readouterr()
    assert main(["sweep", str(path), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "holds a sweep of another config" in captured.err and "repeat 0" not in captured.out
    assert [r["epochs_run"] for r in read_results(out / "results.jsonl")] == [1]


def test_data_image_size_alone_sets_the_trials_size(folder, tmp_path):
    fixed = {k: v for k, v in _config(folder)["fixed"].items() if k != "image_size"}
    c = check_config({"repeats": 1, "data": {"source": folder, "image_size": 24,
                                             "val_fraction": 0.25},
                      "fixed": fixed, "space": {"lr": [0.01]}})
    assert c["fixed"]["image_size"] == c["data"]["image_size"] == 24
    (record,) = _quiet(c, tmp_path / "s")
    model = minicnn.load(tmp_path / "s" / record["run_dir"] / "best.npz")
    assert model.metadata["image_size"] == 24 and record["settings"]["image_size"] == 24
    assert "\"image_size\": 24" in (tmp_path / "s" / "summary.md").read_text()
    only_fixed = check_config({"fixed": {"image_size": 32}, "space": {"lr": [0.01]}})
    assert only_fixed["data"]["image_size"] == 32


def test_two_image_sizes_are_refused(folder):
    with pytest.raises(ValueError, match="data.image_size = 16 and fixed.image_size = 64 "
                                         "disagree"):
        check_config({"data": {"image_size": 16}, "fixed": {"image_size": 64},
                      "space": {"lr": [0.01]}})
    with pytest.raises(ValueError, match="leave data.image_size out"):
        check_config({"data": {"image_size": 16}, "space": {"image_size": [16, 24]}})
    varied = check_config({"space": {"image_size": [16, 24]}})   # each trial its own size
    assert varied["data"]["image_size"] is None
    assert check_config(json.loads(json.dumps(varied))) == varied  # checked twice: the same


@pytest.mark.parametrize("table, key, value, says", [
    ("fixed", "epochs", -1, "fixed.epochs must be a whole number >= 1, got -1"),
    ("fixed", "batch_size", "big", "fixed.batch_size must be a whole number >= 1, got 'big'"),
    ("data", "source", "/nonexistent",
     "data.source '/nonexistent' does not exist; give \"bundled\" or a class-per-folder"),
    ("fixed", "mixup", -1, "fixed.mixup must be a Beta parameter alpha > 0"),
    ("fixed", "label_smoothing", 1.5, "fixed.label_smoothing must be a number in [0, 1)"),
    ("fixed", "lr", 0, "fixed.lr must be a number > 0"),
    ("fixed", "optimizer", "bogus", "fixed.optimizer must be one of adam, sgd, rmsprop"),
    ("fixed", "augment", {"max_shift": 2}, "fixed.augment: max_shift must lie in"),
    ("data", "val_fraction", 0, "data.val_fraction must be a number in (0, 1)"),
])
def test_a_value_every_trial_would_fail_on_is_refused_when_read(table, key, value, says):
    with pytest.raises(ValueError) as e:
        check_config({table: {key: value}, "space": {"kernel_size": [3]}})
    assert says in str(e.value)


def test_a_space_choice_is_left_to_its_trial():
    """[space] replaces a [fixed] value, so only the choices' own trials can fail on them."""
    c = check_config({"fixed": {"epochs": -1}, "space": {"epochs": [1], "optimizer": ["bogus"]}})
    assert c["space"]["optimizer"] == ["bogus"]


def test_every_trial_failing_exits_1_and_some_failing_exits_0(folder, tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(_small(folder, space={"kernel_size": [4, 6]})))
    assert main(["sweep", str(path), "--out", str(tmp_path / "bad")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(
        "minicnn sweep: error: every trial failed (2 runs); the first: ValueError: "), err
    assert (tmp_path / "bad" / "summary.md").is_file()         # the table is still written
    path.write_text(json.dumps(_small(folder, space={"kernel_size": [3, 4]})))
    assert main(["sweep", str(path), "--out", str(tmp_path / "some")]) == 0


def test_messages_name_what_is_wrong(tmp_path, capsys):
    def error(*argv):
        assert main(["sweep", *map(str, argv)]) == 1
        return capsys.readouterr().err.strip()
    assert error(tmp_path) == f"minicnn sweep: error: sweep config {tmp_path} is a directory, " \
                              f"not a file"
    (tmp_path / "syntax.toml").write_text("name = x y\n")
    assert f"sweep config {tmp_path / 'syntax.toml'}: Invalid value" in error(
        tmp_path / "syntax.toml")
    (tmp_path / "top.toml").write_text("bogus = 3\n[space]\nlr = [0.01]\n")
    assert "unknown top-level key(s) bogus; a sweep config takes name, strategy, trials, seed, " \
           "repeats and the tables [data], [fixed], [space]" in error(tmp_path / "top.toml")
    (tmp_path / "below.toml").write_text("[space]\nlr = [0.01]\nrepeats = 2\n")
    assert "go above the first [table] header" in error(tmp_path / "below.toml")
    (tmp_path / "ok.toml").write_text("[space]\nlr = [0.01]\n")
    (tmp_path / "afile.txt").write_text("")
    assert error(tmp_path / "ok.toml", "--out", tmp_path / "afile.txt") == (
        f"minicnn sweep: error: output folder {tmp_path / 'afile.txt'} is a file, not a folder")
    assert load_config(tmp_path / "ok.toml")["space"] == {"lr": [0.01]}
