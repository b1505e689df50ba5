"""``minicnn sweep`` on a tiny space and a tiny synthetic dataset (seconds).

Proves: a grid gives one run per configuration and repeat, each in its own folder, and a table and
figure; one-at-a-time lists the report's kind of search (the baseline, then one knob at a time);
a killed sweep resumes without rerunning finished trials (a torn last line is ignored); a failing
trial is recorded as failed and the sweep goes on; the same seed gives the same table; Optuna's
TPE path counts its budget in the study and resumes it; the CLI runs a JSON config, and the
example TOML configs are valid. With ``--workers 2`` the trials run in two processes and train
exactly the weights one process trains; Ctrl-C saves the running trials, a killed worker is
reported (not a hang) and the next run finishes the sweep. ``warmup`` is a trial setting. The
summary's total time counts every process of a resumed run.
"""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from helpers import need
import minicnn
from minicnn.cli import main
from minicnn.sweep import check_config, load_config, markdown_table, aggregate, read_results
from minicnn.sweep import run_sweep
from minicnn.optim import DEFAULT_LR
from minicnn.sweep.config import points
from minicnn.sweep.report import write_summary
from minicnn.training import History

ROOT = os.path.join(os.path.dirname(__file__), os.pardir)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two classes told apart by a bright top or bottom half (a flip keeps the class), 16x16."""
    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    for label, cls in enumerate(("bottom", "top")):
        os.makedirs(root / cls)
        for i in range(12):
            img = rng.integers(0, 80, (16, 16)).astype(np.uint8)
            rows = slice(0, 8) if label else slice(8, 16)
            img[rows] += 120
            Image.fromarray(img).save(root / cls / f"{i}.png")
    return str(root)


def _config(folder, **over):
    c = {"name": "tiny", "strategy": "grid", "seed": 0, "repeats": 2,
         "data": {"source": folder, "image_size": 16, "val_fraction": 0.25},
         "fixed": {"model": "mini_resnet", "image_size": 16, "filters": 2, "epochs": 1,
                   "batch_size": 8, "augment": False},
         "space": {"kernel_size": [3, 5], "lr": [0.01, 0.001]}}
    c.update(over)
    return check_config(c)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MINICNN_CACHE_DIR", str(tmp_path / "cache"))


def test_grid_runs_every_configuration_and_repeat(folder, tmp_path):
    records = run_sweep(_config(folder), tmp_path / "s", log=lambda _: None)
    assert len(records) == 4 * 2 and all(r["status"] == "ok" for r in records)
    assert {(r["point"]["kernel_size"], r["point"]["lr"]) for r in records} == {
        (3, 0.01), (3, 0.001), (5, 0.01), (5, 0.001)}
    for r in records:
        assert os.path.isfile(tmp_path / "s" / r["run_dir"] / "best.npz")
        assert 0 <= r["val_accuracy"] <= 1 and r["seed"] == r["repeat"]
    summary = (tmp_path / "s" / "summary.md").read_text()
    assert summary.count("\n| ") == 1 + 4                     # header + one row per configuration
    assert (tmp_path / "s" / "summary.png").stat().st_size > 0


@pytest.mark.parametrize("setting, values", [("ema", [None, 0.9]),
                                            ("label_smoothing", [0.0, 0.1]),
                                            ("mixup", [None, 0.2])])
def test_training_settings_are_trial_settings(folder, tmp_path, setting, values):
    records = run_sweep(_config(folder, repeats=1, space={setting: values}), tmp_path / "s",
                        log=lambda _: None)
    assert [r["status"] for r in records] == ["ok", "ok"]
    saved = [minicnn.load(tmp_path / "s" / r["run_dir"] / "last.npz").metadata["training"][setting]
             for r in records]
    assert saved == [r["point"][setting] for r in records] and sorted(map(str, saved)) == sorted(
        map(str, values))


def test_one_at_a_time_is_the_baseline_then_one_knob_each():
    c = check_config({"strategy": "one_at_a_time", "space": {
        "kernel_size": [3, 5], "width": [1.0, 0.5, 2.0], "stride": [1, 2],
        "optimizer": ["adam", "sgd", "rmsprop"]}})
    pts = points(c)
    assert len(pts) == 1 + 1 + 2 + 1 + 2
    assert pts[0] == {"kernel_size": 3, "width": 1.0, "stride": 1, "optimizer": "adam"}
    assert all(sum(p[k] != pts[0][k] for k in p) == 1 for p in pts[1:])


def test_resume_skips_finished_trials(folder, tmp_path):
    out = tmp_path / "s"
    run_sweep(_config(folder), out, log=lambda _: None)
    lines = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text("\n".join(lines[:5]) + '\n{"trial": "torn')  # killed
    reran = []
    records = run_sweep(_config(folder), out, log=lambda r: reran.append(r)
                        if isinstance(r, dict) else None)
    assert len(reran) == 3 and len(records) == 8
    assert {(r["trial"], r["repeat"]) for r in reran} == {
        (json.loads(line)["trial"], json.loads(line)["repeat"]) for line in lines[5:]}
    again = []
    run_sweep(_config(folder), out, log=lambda r: again.append(r) if isinstance(r, dict) else None)
    assert again == []                                         # nothing left to do


def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(folder, tmp_path):
    c = _config(folder, repeats=1, space={"optimizer": ["adam", "bogus"], "kernel_size": [3, 4]})
    records = run_sweep(c, tmp_path / "s", log=lambda _: None)
    assert len(records) == 4
    status = {(r["point"]["optimizer"], r["point"]["kernel_size"]): r["status"] for r in records}
    assert status == {("adam", 3): "ok", ("adam", 4): "failed", ("bogus", 3): "failed",
                      ("bogus", 4): "failed"}
    errors = [r["error"] for r in records if r["status"] == "failed"]
    assert any("kernel_size" in e for e in errors) and any("bogus" in e for e in errors)
    rows = aggregate(records)
    assert rows[0]["status"] == "ok" and "failed" in markdown_table(rows, ["optimizer"])


def test_total_training_time_counts_every_process_of_a_resumed_run(folder, tmp_path):
    """A run resumed after a kill trains in several processes: its epoch times add up, while
    wall_time is only the last process's. The summary's total is the epochs' time."""
    c = _config(folder, repeats=1, space={"optimizer": ["adam", "bogus"]})
    records = run_sweep(c, tmp_path / "s", log=lambda _: None)
    ok, failed = [r for r in records if r["status"] == "ok"], [r for r in records
                                                                if r["status"] != "ok"]
    assert len(ok) == 1 and len(failed) == 1 and ok[0]["train_time"] > 0
    resumed = [{**ok[0], "train_time": 5400.0, "wall_time": 60.0}] + failed   # 90 min, last 1
    text = write_summary(resumed, c, str(tmp_path / "s"))
    assert "90.0 min of training in total" in text             # the failed run adds nothing


def test_same_seed_same_table(folder, tmp_path):
    c = _config(folder, strategy="random", trials=3, repeats=1,
                space={"lr": {"low": 1e-3, "high": 1e-1, "log": True}, "kernel_size": [3, 5]})
    tables = []
    for name in ("a", "b"):
        records = run_sweep(c, tmp_path / name, log=lambda _: None)
        assert len(records) == 3
        tables.append(markdown_table(aggregate(records), list(c["space"]), with_time=False))
    assert tables[0] == tables[1]
    other = run_sweep({**c, "seed": 1}, tmp_path / "c", log=lambda _: None)
    assert markdown_table(aggregate(other), list(c["space"]), with_time=False) != tables[0]


def test_workers_give_the_same_results_as_one_at_a_time(folder, tmp_path):
    """Two trials at once, each in its own process, train exactly what one process trains."""
    c = _config(folder, space={"kernel_size": [3, 5], "lr": [0.01]})
    one = {(r["trial"], r["repeat"]): r for r in run_sweep(c, tmp_path / "a", log=lambda _: None)}
    said = []
    two = run_sweep(c, tmp_path / "b", log=said.append, workers=2)
    assert len(two) == len(one) == 4 and all(r["status"] == "ok" for r in two)
    for r in two:
        assert r["val_accuracy"] == one[(r["trial"], r["repeat"])]["val_accuracy"]
        a, b = (minicnn.load(tmp_path / d / r["run_dir"] / "best.npz").params for d in "ab")
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert "4 trials, 2 at a time" in said
    again = []
    run_sweep(c, tmp_path / "b", log=again.append, workers=2)   # resumed: nothing left to run
    assert not [r for r in again if isinstance(r, dict)]
    with pytest.raises(ValueError, match="workers"):
        run_sweep(c, tmp_path / "c", workers=0)


def test_a_failing_trial_in_a_worker_is_recorded(folder, tmp_path):
    c = _config(folder, repeats=1, space={"kernel_size": [3, 4]})
    records = run_sweep(c, tmp_path / "s", log=lambda _: None, workers=2)
    status = {r["point"]["kernel_size"]: r["status"] for r in records}
    assert status == {3: "ok", 4: "failed"}
    assert "kernel_size" in next(r["error"] for r in records if r["status"] == "failed")


def _start_sweep(config_path, out):
    """`minicnn sweep --workers 2` in a session of its own (Ctrl-C goes to its process group)."""
    env = {**os.environ, "PYTHONPATH": os.path.abspath(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "minicnn", "sweep", str(config_path), "--out",
                             str(out), "--workers", "2"], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_an_epoch(out, proc):
    """Until a running trial saves an epoch (both workers are past their start-up by then)."""
    since, deadline = time.time(), time.time() + 300
    while not [f for f in out.glob("trials/*/r*/history.json") if f.stat().st_mtime > since]:
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)


def _children(pid):
    kids = []
    for stat in os.listdir("/proc"):
        try:
            fields = open(f"/proc/{stat}/stat").read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid):
            kids.append(int(stat))
    return kids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the workers")
def test_ctrl_c_and_a_killed_worker_with_workers_lose_nothing(folder, tmp_path):
    c = _config(folder, space={"lr": [0.01, 0.001]})
    c["fixed"]["epochs"] = 300
    path = tmp_path / "c.json"
    path.write_text(json.dumps(c))
    out = tmp_path / "out"
    proc = _start_sweep(path, out)
    _wait_for_an_epoch(out, proc)
    os.killpg(proc.pid, signal.SIGINT)                  # Ctrl-C in the terminal
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, (stdout, stderr[-2000:])
    assert "run the same command again to resume" in stdout
    assert len(read_results(out / "results.jsonl")) < 4
    assert list(out.glob("trials/*/r*/last.npz"))        # the running trials saved their epoch

    other = tmp_path / "other"            # a short trial and a long one: when the short one
    path2 = tmp_path / "c2.json"          # is done, one worker idles while the other trains
    path2.write_text(json.dumps({**c, "repeats": 1, "space": {"epochs": [2, 300]}}))
    proc = _start_sweep(path2, other)
    deadline = time.time() + 300
    while not read_results(other / "results.jsonl"):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)
    workers = [k for k in _children(proc.pid) if "spawn_main" in open(f"/proc/{k}/cmdline").read()]
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)                  # killed, as by the out-of-memory killer
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "worker process died" in stderr, (stdout, stderr[-2000:])
    assert "while training epochs=300" in stderr         # names the trial it was running
    assert not [k for k in workers if os.path.exists(f"/proc/{k}") and open(
        f"/proc/{k}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]   # none left behind

    proc = _start_sweep(path, out)                       # and the next run finishes the sweep
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-2000:]
    records = read_results(out / "results.jsonl")
    assert len(records) == 4 and all(r["status"] == "ok" for r in records)
    for r in records:
        history = History.read(out / r["run_dir"] / "history.json")
        assert history.epochs == 300


def test_warmup_is_a_trial_setting(folder, tmp_path):
    c = _config(folder, repeats=1, fixed={**_config(folder)["fixed"], "epochs": 3},
                space={"warmup": [0, 2]})
    records = {r["point"]["warmup"]: r for r in run_sweep(c, tmp_path / "s", log=lambda _: None)}
    meta = {w: minicnn.load(tmp_path / "s" / r["run_dir"] / "last.npz").metadata
            for w, r in records.items()}
    lr = {w: History.read(tmp_path / "s" / r["run_dir"] / "history.json").history["lr"]
          for w, r in records.items()}
    assert lr[0][0] == pytest.approx(1e-3) and lr[2][0] == pytest.approx(1e-3 / 3)
    assert [meta[w]["recipe"]["warmup"] for w in (0, 2)] == [0, 2]
    bad = run_sweep(_config(folder, repeats=1, fixed={**c["fixed"], "schedule": "step"},
                            space={"warmup": [1]}), tmp_path / "t", log=lambda _: None)
    assert bad[0]["status"] == "failed" and "warmup" in bad[0]["error"]
    negative = run_sweep(_config(folder, repeats=1, space={"warmup": [-1]}), tmp_path / "u",
                         log=lambda _: None)
    assert negative[0]["status"] == "failed" and "warmup >= 0" in negative[0]["error"]


def test_optuna_tpe_budget_and_resume(folder, tmp_path):
    optuna = need("optuna", "pip install minicnn[optuna]")
    c = _config(folder, strategy="optuna", trials=3, repeats=1,
                space={"lr": {"low": 1e-3, "high": 1e-1, "log": True}, "kernel_size": [3, 5]})
    run_sweep(c, tmp_path / "s", log=lambda _: None)
    storage = "sqlite:///" + str(tmp_path / "s" / "optuna.db")
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert len(study.trials) == 3 and study.best_value == max(
        r["val_accuracy"] for r in read_results(tmp_path / "s" / "results.jsonl"))
    run_sweep({**c, "trials": 4}, tmp_path / "s", log=lambda _: None)      # resume: one more
    assert len(optuna.load_study(study_name="tiny", storage=storage).trials) == 4


def test_cli_runs_a_json_config(folder, tmp_path, capsys):
    c = _config(folder, repeats=1, space={"lr": [0.01]})
    path = tmp_path / "c.json"
    path.write_text(json.dumps(c))
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 0
    assert "val " in capsys.readouterr().out
    assert len(read_results(tmp_path / "out" / "results.jsonl")) == 1
    path.write_text(json.dumps({**c, "space": {"depth": [1]}}))
    assert main(["sweep", str(path)]) == 1
    assert "unknown trial setting(s) depth" in capsys.readouterr().err


def test_the_example_config_is_valid():
    c = load_config(os.path.join(ROOT, "examples", "sweep_cnn5.toml"))
    assert c["fixed"]["model"] == "cnn5" and len(points(c)) == 7
    confirm = load_config(os.path.join(ROOT, "examples", "sweep_cnn5_confirm.toml"))
    assert points(confirm) == [{"stride": 1, "width": 1.0}, {"stride": 2, "width": 1.0},
                               {"stride": 1, "width": 0.5}]
    epochs = load_config(os.path.join(ROOT, "examples", "sweep_mini_resnet_epochs.toml"))
    assert epochs["fixed"]["model"] == "mini_resnet" and epochs["repeats"] == 3
    assert points(epochs) == [{"epochs": 40}, {"epochs": 80}]
    cnn5 = load_config(os.path.join(ROOT, "examples", "sweep_cnn5_epochs.toml"))
    assert points(cnn5) == [{"epochs": 24}, {"epochs": 40}] and cnn5["repeats"] == 2


def test_the_cnn5_epochs_sweep_is_the_example_recipe(monkeypatch):
    """Its 24-epoch trial on repeat 0 is examples/train_cnn5.py as shipped: the same settings."""
    monkeypatch.syspath_prepend(os.path.join(ROOT, "examples"))
    import train_cnn5 as example
    s = load_config(os.path.join(ROOT, "examples", "sweep_cnn5_epochs.toml"))["fixed"]
    assert (s["lr"], s["warmup"], s["dropout"], s["batch_size"], s["augment"]) == (
        example.LR, example.WARMUP, example.DROPOUT, example.BATCH_SIZE, example.AUGMENT)
    assert example.EPOCHS == 24 and example.WIDTH == s.get("width", 1.0) == 1.0
    assert example.WEIGHT_DECAY == s["weight_decay"] and s["optimizer"] == "adam"


def test_the_full_report_search_varies_the_example_recipe(monkeypatch):
    """examples/sweep_cnn5_report_full.toml: its baseline is examples/train_cnn5.py as shipped
    (Adam at its default lr, 1e-3), then the report's four knobs one at a time."""
    monkeypatch.syspath_prepend(os.path.join(ROOT, "examples"))
    import train_cnn5 as example
    c = load_config(os.path.join(ROOT, "examples", "sweep_cnn5_report_full.toml"))
    s, pts = c["fixed"], points(c)
    assert (DEFAULT_LR[pts[0]["optimizer"]], s["warmup"], s["dropout"], s["batch_size"], s["augment"],
            s["epochs"], s["weight_decay"], s["lr"]) == (example.LR, example.WARMUP, example.DROPOUT,
                                                         example.BATCH_SIZE, example.AUGMENT, example.EPOCHS,
                                                         example.WEIGHT_DECAY, None)
    assert pts[0] == {"stride": 1, "optimizer": "adam", "width": example.WIDTH, "kernel_size": 3}
    changed = [{k for k in p if p[k] != pts[0][k]} for p in pts[1:]]
    assert changed == [{"stride"}, {"optimizer"}, {"optimizer"}, {"width"}, {"width"}, {"kernel_size"}]
    assert c["repeats"] == 2 and c["data"]["limit"] is None
