"""``minicnn sweep``: run a tuning study from a TOML or JSON config (grid, random, one at a time, Optuna).

    minicnn sweep examples/sweep_cnn5.toml                       # results in runs/sweep/<name>/
    minicnn sweep CONFIG --out DIR --trials 20                   # a bigger budget
    minicnn sweep CONFIG --workers 2                             # two trials at once
    minicnn sweep CONFIG --storage postgresql://user@host/db     # Optuna: share one study

Each trial is a normal training run in its own folder; results stream to results.jsonl, and
summary.md / summary.png hold the table and the figure. Run the same command again to resume a
killed or interrupted sweep: finished trials are skipped (a folder holding another config's
sweep is refused). The exit code is 1 when every trial failed. See docs/tuning.md.
"""
import os

from minicnn.cli import CLIError


def register(subparsers):
    p = subparsers.add_parser("sweep", help="run a hyperparameter search from a config file",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("config", metavar="CONFIG", help="a .toml or .json sweep config")
    p.add_argument("--out", metavar="DIR", help="results folder (default runs/sweep/<name>)")
    p.add_argument("--trials", type=int, metavar="N", help="override the config's trial budget")
    p.add_argument("--storage", metavar="URL", help="Optuna storage (default: sqlite file in "
                   "the results folder); e.g. postgresql://... for several machines")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="trials run at once, each in its own process with a share of the "
                        "threads (default 1; on 2 cores, 2 keeps both busy)")
    p.add_argument("--verbose", action="store_true", help="print every epoch of every trial")
    p.set_defaults(func=run)


def _say(item):
    if isinstance(item, str):
        print(item, flush=True)
        return
    r = item
    what = (f"val {100 * r['val_accuracy']:.1f}% in {r['train_time']:.0f} s"
            if r["status"] == "ok" else f"FAILED: {r['error']}")
    print(f"    repeat {r['repeat']} (seed {r['seed']}): {what}", flush=True)


def run(args):
    from minicnn.sweep import SweepInterrupted, load_config, run_sweep  # lazy: keeps --help quick
    config = load_config(args.config)
    if args.trials is not None:
        if args.trials < 1:
            raise CLIError(f"--trials must be at least 1, got {args.trials}")
        config["trials"] = args.trials
    if args.storage and config["strategy"] != "optuna":
        raise CLIError(f"--storage is for strategy = \"optuna\"; this config uses "
                       f"{config['strategy']}")
    out = args.out or os.path.join("runs", "sweep", config["name"])
    try:
        records = run_sweep(config, out, storage=args.storage, verbose=args.verbose, log=_say,
                            workers=args.workers)
    except SweepInterrupted as e:
        print(f"sweep interrupted ({e}); run the same command again to resume", flush=True)
        return 130
    print(f"results: {os.path.join(out, 'results.jsonl')}; table: "
          f"{os.path.join(out, 'summary.md')}; figure: {os.path.join(out, 'summary.png')}")
    failed = [r for r in records if r["status"] != "ok"]
    if records and len(failed) == len(records):    # some failures are results; all is an error
        why = (failed[0].get("error") or "").strip().splitlines() or ["see results.jsonl"]
        n = len(records)
        raise CLIError(f"every trial failed ({n} run{'s' * (n > 1)}); the first: {why[0]}")
    return 0
