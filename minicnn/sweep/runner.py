"""Running a sweep: every trial a normal ``fit`` in its own folder, results streamed to JSON lines.

    result = run_sweep(load("examples/sweep_cnn5.toml"), "runs/sweep/cnn5")

Folder layout:

    <out>/results.jsonl          one line per finished (configuration, repeat): settings, seed,
                                 data, status ("ok" or "failed" with the error), best
                                 val_accuracy, time
    <out>/trials/<id>/r<k>/      the run folder of repeat k (best.npz, last.npz, history.json)
    <out>/summary.md, .png       the table and the figure (``minicnn.sweep.report``)
    <out>/optuna.db              the Optuna study (strategy "optuna", default storage)

Resuming: a configuration-repeat with a line in results.jsonl is never run again; one that was
killed mid-way continues from its last.npz (``fit(resume=True)``). A line records the trial's
settings, seed and data: a folder whose lines differ from what the config gives the same trial
(another config's sweep) is refused, so that no result is reused for settings it was not run
with. Ctrl-C inside a trial stops the sweep with the trial's progress saved; nothing is recorded
for it, so the next run finishes it. A trial that raises (a bad configuration) or diverges (NaN)
is recorded as failed and the sweep goes on. Repeat k uses seed + k for the split and the
weights: each configuration's accuracy is the mean over its repeats, with their spread.
"""
import contextlib
import json
import multiprocessing
import os
import signal
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from minicnn.sweep import config as cfg
from minicnn.sweep.report import write_summary
from minicnn.sweep.trial import Data, SweepInterrupted, attempt, source_name

RESULTS = "results.jsonl"


def read_results(path):
    """The records of results.jsonl, the last one per (trial, repeat); a torn last line is skipped."""
    records = {}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    continue                      # a line cut short by a kill
                records[(r["trial"], r["repeat"])] = r
    return list(records.values())


def append_result(path, record):
    """Append one JSON line and flush it to disk before going on."""
    torn = False
    if os.path.isfile(path) and os.path.getsize(path):
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"             # a kill mid-line: start on a fresh line
    with open(path, "a", encoding="utf-8") as f:
        f.write(("\n" if torn else "") + json.dumps(record, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _job(point, repeat, config, out_dir):
    """The record of (point, repeat) before it runs, and its run folder."""
    tid = cfg.trial_id(point)
    run_dir = os.path.join(out_dir, "trials", tid, f"r{repeat}")
    return {"trial": tid, "repeat": repeat, "seed": config["seed"] + repeat, "point": point,
            "settings": cfg.trial_settings(config, point), "data": _data(config),
            "run_dir": os.path.relpath(run_dir, out_dir)}, run_dir


def _data(config):
    return {**config["data"], "source": source_name(config["data"])}


def _differences(old, new, defaults, prefix=""):
    """["epochs = 1 (this config: 2)", ...]: the keys whose values differ, a missing one taken as
    its default (a line written before that setting existed)."""
    return [f"{prefix}{k} = {json.dumps(old.get(k, defaults.get(k)))} (this config: "
            f"{json.dumps(new.get(k, defaults.get(k)))})" for k in sorted(set(old) | set(new))
            if old.get(k, defaults.get(k)) != new.get(k, defaults.get(k))]


def check_same_sweep(done, config, out_dir):
    """Refuse ``out_dir`` when a finished line's settings, seed or data are not what ``config``
    gives its trial: resuming would reuse another config's results as this one's."""
    for r in sorted(done.values(), key=lambda r: (r["trial"], r["repeat"])):
        job = json.loads(json.dumps(_job(r["point"], r["repeat"], config, out_dir)[0]))
        differ = (_differences(r["settings"], job["settings"], cfg.TRAINING)
                  + _differences({"seed": r["seed"]}, {"seed": job["seed"]}, {})
                  + _differences(r.get("data", job["data"]), job["data"], cfg.DATA, "data."))
        if differ:
            raise ValueError(f"{out_dir} holds a sweep of another config: its trial "
                             f"{r['trial'].rsplit('-', 1)[0]} (repeat {r['repeat']}) ran with "
                             f"{'; '.join(differ)}; give another results folder (--out) for "
                             f"this config, or delete that one")


def _finish(record, out_dir, done, log):
    append_result(os.path.join(out_dir, RESULTS), record)
    done[(record["trial"], record["repeat"])] = record
    log(record)
    return record


def evaluate_point(point, config, data, out_dir, done, log, verbose=False):
    """Run every repeat of ``point`` not in ``done``; append records; return the point's records."""
    records = []
    for r in range(config["repeats"]):
        record, run_dir = _job(point, r, config, out_dir)
        if (record["trial"], r) in done:
            records.append(done[(record["trial"], r)])
            continue
        record.update(attempt(record["settings"], data, r, record["seed"], run_dir, verbose))
        records.append(_finish(record, out_dir, done, log))
    return records


_WORKER_DATA = None


def _worker_start(data_spec, seed):
    """A worker process: its own copy of the data; Ctrl-C reaches it only while a trial runs."""
    global _WORKER_DATA
    _WORKER_DATA = Data(data_spec, seed)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_trial(settings, repeat, seed, run_dir):
    signal.signal(signal.SIGINT, signal.default_int_handler)   # fit saves the epoch and stops
    try:
        return attempt(settings, _WORKER_DATA, repeat, seed, run_dir)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _threads_each(workers):
    """Environment for worker processes: the parent's thread count shared out among them."""
    import numba   # the parent's thread count (NUMBA_NUM_THREADS or the cores)
    n = str(max(1, numba.config.NUMBA_NUM_THREADS // workers))
    keys = ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(dict.fromkeys(keys, n))          # read by each worker as it starts
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_parallel(pts, config, out_dir, done, log, workers):
    """Every (point, repeat) not in ``done``, ``workers`` trials at a time, each in its own process.

    The threads are shared out (2 cores, 2 workers: 1 thread each, both cores busy through the
    parts of a step that a second thread barely speeds up). Results are appended here, in the
    order trials finish; each
    trial's own numbers do not depend on the order. Ctrl-C: running trials save their epoch, the
    rest are not started, and SweepInterrupted is raised.
    """
    jobs = [_job(p, r, config, out_dir) for p in pts for r in range(config["repeats"])]
    jobs = [(rec, d) for rec, d in jobs if (rec["trial"], rec["repeat"]) not in done]
    if not jobs:
        return
    context = multiprocessing.get_context("spawn")     # a fresh process reads the thread counts
    with _threads_each(workers), ProcessPoolExecutor(
            min(workers, len(jobs)), context, initializer=_worker_start,
            initargs=(config["data"], config["seed"])) as pool:
        pending, running = list(jobs), {}

        def start_next():                               # no more in flight than workers: a
            rec, run_dir = pending.pop(0)               # trial not started is never queued
            running[pool.submit(_worker_trial, rec["settings"], rec["repeat"], rec["seed"],
                                run_dir)] = rec

        for _ in range(min(workers, len(jobs))):
            start_next()
        log(f"{len(jobs)} trials, {len(running)} at a time")
        try:
            while running:
                for future in wait(running, return_when=FIRST_COMPLETED)[0]:
                    fields = future.result()    # raises first: the trial stays in running
                    record = {**running.pop(future), **fields}
                    finished = len(jobs) - len(pending) - len(running)
                    log(f"[{finished}/{len(jobs)} done] {record['trial'].rsplit('-', 1)[0]}")
                    _finish(record, out_dir, done, log)
                    if pending:
                        start_next()
        except (KeyboardInterrupt, SweepInterrupted) as e:   # running trials save and stop
            raise SweepInterrupted(str(e) or "Ctrl-C") from None
        except BrokenProcessPool:                # killed (out of memory?): say so, do not hang
            # the pool terminates its workers, but misses one that was starting as another
            # died, and then waits for it forever (seen on Python 3.11): terminate them all
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()
            names = ", ".join(sorted({rec["trial"] for rec in running.values()}))
            raise ChildProcessError(f"a sweep worker process died (killed, or out of memory) "
                                    f"while training {names}; run the same command again to "
                                    f"resume (with fewer --workers if memory ran out)") from None


def point_score(records):
    """Mean best val_accuracy over a point's repeats; None when any repeat failed."""
    if not records or any(r["status"] != "ok" for r in records):
        return None
    return float(np.mean([r["val_accuracy"] for r in records]))


def run_sweep(config, out_dir, storage=None, verbose=False, log=print, workers=1):
    """Run (or resume) the sweep described by ``config`` (``minicnn.sweep.config.check``'d).

    workers: trials run at once, each in its own process (grid, random, one_at_a_time; Optuna
    shares a study between processes through ``storage`` instead). Returns the list of records
    (results.jsonl). Raises SweepInterrupted on Ctrl-C in a trial; the summary is written in
    every case.
    """
    if workers < 1 or workers > 1 and config["strategy"] == "optuna":
        raise ValueError(f"workers must be at least 1, and 1 for strategy \"optuna\" (run the "
                         f"command once per worker with the same --storage); got {workers}")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"output folder {out_dir} is a file, not a folder")
    done = {(r["trial"], r["repeat"]): r for r in read_results(os.path.join(out_dir, RESULTS))}
    check_same_sweep(done, config, out_dir)
    os.makedirs(out_dir, exist_ok=True)
    data = Data(config["data"], config["seed"])
    try:
        if config["strategy"] == "optuna":
            from minicnn.sweep.tpe import run_optuna   # lazy: Optuna is an optional extra
            run_optuna(config, out_dir, storage, lambda point: point_score(
                evaluate_point(point, config, data, out_dir, done, log, verbose)), log)
        elif workers > 1:
            run_parallel(cfg.points(config), config, out_dir, done, log, workers)
        else:
            pts = cfg.points(config)
            for i, point in enumerate(pts, 1):
                log(f"[{i}/{len(pts)}] {cfg.trial_id(point).rsplit('-', 1)[0]}")
                evaluate_point(point, config, data, out_dir, done, log, verbose)
    finally:
        write_summary(read_results(os.path.join(out_dir, RESULTS)), config, out_dir)
    return read_results(os.path.join(out_dir, RESULTS))
