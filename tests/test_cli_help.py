"""``minicnn <command> --help`` documents every option and shows its default; tests stay out of
the user's cache.

Walks the parser of every sub-command (so a command added later is held to the same rule): each
option and positional argument has a help text, and each option whose default is a value (not
None, not a flag's False) shows it in ``--help``, either written in the text or added by
``minicnn.cli.HelpFormatter`` as "(default: 32)".
"""
import argparse
import os

import pytest

from minicnn.cli import build_parser
from minicnn.data import cache


def subcommands():
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(sub.choices.items())


def arguments(parser):
    return [a for a in parser._actions if not isinstance(a, (argparse._HelpAction,
                                                             argparse._VersionAction))]


def test_there_are_commands_to_check():
    names = [name for name, _ in subcommands()]
    assert {"train", "evaluate", "predict", "summary", "audit", "report", "compare"} <= set(names)


@pytest.mark.parametrize("name,parser", subcommands())
def test_every_option_has_help_and_shows_its_default(name, parser):
    text = " ".join(parser.format_help().split())            # one line, single spaces
    for action in arguments(parser):
        label = "/".join(action.option_strings) or action.dest
        assert action.help and action.help.strip(), f"minicnn {name} {label} has no help text"
        if action.option_strings and not any(action.default is v for v in (None, False)):
            shown = parser._get_formatter()._get_help_string(action) % vars(action)
            assert "default" in shown, f"minicnn {name} {label}: --help does not show its default"
            assert " ".join(shown.split()) in text


def test_the_top_level_options_have_help():
    for action in arguments(build_parser()):
        if not isinstance(action, argparse._SubParsersAction):
            assert action.help, action.option_strings


def test_defaults_are_printed(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "images per step (default: 32)" in out and "(default: 0.9)" in out


def test_tests_use_a_private_cache():
    """conftest.py points MINICNN_CACHE_DIR into pytest's temporary folder for every test."""
    home = os.path.join(os.path.expanduser("~"), ".cache", "minicnn")
    assert os.path.abspath(cache.default_cache_dir()) != os.path.abspath(home)
    assert "minicnn-cache" in cache.default_cache_dir()
