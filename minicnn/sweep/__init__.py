"""``minicnn sweep``: the report's tuning study as one command.

    from minicnn.sweep import load_config, run_sweep
    records = run_sweep(load_config("examples/sweep_cnn5.toml"), "runs/sweep/cnn5")

Modules: config (read and check a TOML/JSON config; list a grid / random / one-at-a-time
search), values (the [fixed] and [data] values refused before any training), trial (one trial:
a ``fit`` in its own folder, failures as records), runner (the trials in order or in worker
processes; results.jsonl; resume), tpe (Optuna's TPE sampler, optional), report (the Markdown
table and the figure).
See docs/tuning.md.
"""
from minicnn.sweep.config import check as check_config
from minicnn.sweep.config import load as load_config
from minicnn.sweep.report import aggregate, markdown_table
from minicnn.sweep.runner import RESULTS, read_results, run_sweep
from minicnn.sweep.trial import SweepInterrupted

__all__ = ["load_config", "check_config", "run_sweep", "read_results", "aggregate",
           "markdown_table", "SweepInterrupted", "RESULTS"]
