"""The model-based search: Optuna's TPE sampler proposes each configuration from the results so far.

Optuna (``pip install minicnn[optuna]``) is imported only here. The study lives in a database:
by default a local SQLite file ``<out>/optuna.db`` (no server); ``storage`` may be any URL Optuna
takes, e.g. ``postgresql://user@host/db``, so that several machines run ``minicnn sweep`` with the
same config and storage and share one study (Optuna's own distributed mode).

The budget counts finished trials (complete or failed) in the study, so a resumed sweep asks only
for the rest. A configuration TPE proposes again is not retrained: its results.jsonl records are
reused. A trial stopped by Ctrl-C is told to the study as failed with the attribute
``interrupted``, and not counted.
"""
import os

from minicnn.sweep.config import trial_id


def _suggest(trial, key, spec):
    if isinstance(spec, list):
        # Optuna stores categorical choices as JSON-able scalars: index lists through str
        choices = [v if isinstance(v, (int, float, str, bool)) else str(v) for v in spec]
        picked = trial.suggest_categorical(key, choices)
        return spec[choices.index(picked)]
    if isinstance(spec["low"], int) and isinstance(spec["high"], int) and not spec.get("log"):
        return trial.suggest_int(key, spec["low"], spec["high"])
    return trial.suggest_float(key, spec["low"], spec["high"], log=bool(spec.get("log")))


def run_optuna(config, out_dir, storage, score_point, log):
    """Ask, train, tell until the study holds ``config["trials"]`` finished trials.

    score_point(point) trains (or looks up) every repeat of a point and returns the mean
    accuracy, or None when a repeat failed; it raises only when the sweep is interrupted.
    """
    import optuna  # lazy: the optional `optuna` extra; the rest of minicnn never needs it
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = storage or "sqlite:///" + os.path.abspath(os.path.join(out_dir, "optuna.db"))
    study = optuna.create_study(study_name=config["name"], storage=storage, direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=config["seed"]),
                                load_if_exists=True)
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)
    budget = config["trials"] or 10
    while True:
        n = sum(t.state in finished and not t.user_attrs.get("interrupted")
                for t in study.get_trials(deepcopy=False))
        if n >= budget:
            return study
        trial = study.ask()
        point = {k: _suggest(trial, k, spec) for k, spec in config["space"].items()}
        trial.set_user_attr("trial", trial_id(point))
        log(f"[optuna {n + 1}/{budget}] {trial_id(point).rsplit('-', 1)[0]}")
        try:
            score = score_point(point)
        except BaseException:                 # Ctrl-C: not a result, not counted in the budget
            trial.set_user_attr("interrupted", True)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        if score is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, score)
