"""The ``minicnn`` command: one sub-command per module in this package.

Each module ``minicnn/cli/<name>.py`` defines ``register(subparsers)``, which adds its parser and
sets ``func=run`` on it; ``run(args)`` returns an exit code. Modules import the library inside
``run`` (a comment marks each such import), so that ``minicnn --help`` does not load the data,
training and plotting modules. Errors a user can cause (bad paths, bad files,
bad values) are raised as ``CLIError`` (or ValueError / OSError) and printed as one line; any
other exception is a bug in minicnn and keeps its traceback. Warnings are printed the same way,
without the library line that raised them. ``--debug`` (or ``MINICNN_DEBUG=1``) shows the
traceback of user errors, and warnings as Python shows them.
"""
import argparse
import importlib
import os
import sys
import warnings

from minicnn import __version__

COMMANDS = ["train", "evaluate", "predict", "summary", "audit", "report", "compare", "sweep",
            "export", "serve"]


class CLIError(Exception):
    """An error to show the user as one line, with a non-zero exit."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows each option's default: "(default: 32)" is added to its help text unless
    the text already speaks of the default, or there is none to show (None, or a flag's False)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or any(action.default is v for v in (None, False, argparse.SUPPRESS)):
            return text
        return super()._get_help_string(action)


def build_parser():
    parser = argparse.ArgumentParser(prog="minicnn", description="Train, evaluate and explain "
                                     "small CNNs on brain MRI with a from-scratch NumPy library.",
                                     formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"minicnn {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of errors "
                        "(also MINICNN_DEBUG=1); by default a bad file or value is one line")
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
    for command in sub.choices.values():
        command.formatter_class = HelpFormatter
    return parser


def debug_wanted(args=None):
    """True with ``--debug`` or MINICNN_DEBUG set to anything but "", "0", "false", "no"."""
    env = os.environ.get("MINICNN_DEBUG", "").strip().lower()
    return bool(getattr(args, "debug", False)) or env not in ("", "0", "false", "no")


def one_line_warnings(command):
    """A ``warnings.showwarning`` for the command line: "minicnn train: warning: ..." on stderr,
    without the source line a library warning shows (a user did nothing wrong in that line)."""
    def show(message, category, filename, lineno, file=None, line=None):
        text = str(message).removeprefix("minicnn: ")
        print(f"minicnn {command}: warning: {text}", file=file or sys.stderr)
    return show


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            if not debug_wanted(args):
                warnings.showwarning = one_line_warnings(args.command)
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if debug_wanted(args):
            raise
        print("minicnn: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, OSError) as e:   # the user's mistake or a bad file: one line
        if debug_wanted(args):
            raise
        print(f"minicnn {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
