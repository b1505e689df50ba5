"""The ``minicnn`` command: one sub-command per module in this package.

Each module ``minicnn/cli/<name>.py`` defines ``register(subparsers)``, which adds its parser and
sets ``func=run`` on it; ``run(args)`` returns an exit code. Modules import the library inside
``run`` (a comment marks each such import), so that ``minicnn --help`` does not load the data,
training and plotting modules. Errors a user can cause (bad paths, bad files,
bad values) are raised as ``CLIError`` (or ValueError / OSError) and printed as one line.
"""
import argparse
import importlib
import sys

from minicnn import __version__

COMMANDS = ["train", "evaluate", "predict", "summary", "audit", "report", "compare", "serve"]


class CLIError(Exception):
    """An error to show the user as one line, with a non-zero exit."""


def build_parser():
    parser = argparse.ArgumentParser(prog="minicnn", description="Train, evaluate and explain "
                                     "small CNNs on brain MRI with a from-scratch NumPy library.")
    parser.add_argument("--version", action="version", version=f"minicnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"minicnn.cli.{name}")
        except ModuleNotFoundError as e:  # a command still being written
            if e.name != f"minicnn.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("minicnn: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, OSError) as e:
        print(f"minicnn {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
