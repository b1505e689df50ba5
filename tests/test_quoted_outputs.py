"""Quoted output is tested output: what README.md and docs/*.md show a program printing, it prints.

A quote is marked in the markdown by an HTML comment naming the command, right before the
fenced block (the comment does not show on GitHub):

    <!-- output: python examples/quickstart.py -->
    ```
    epoch 1: train loss 1.106   val accuracy 0.930
    ```

and an example script may end with its own output as a comment, ``# Output (python X):``
followed by lines ``#   ...``. The test runs each command once, from the repository root with this
checkout's minicnn (``minicnn ...`` runs as ``python -m minicnn ...``), and compares:

- without a ``...`` line, the quote is the whole output, line for line;
- a line ``...`` stands for lines left out: the pieces between must appear in the output in
  that order, each as consecutive lines;
- normalisation: trailing spaces are ignored, and durations (``12.3s``, ``0.5 ms``, ``3 min``)
  compare as ``<time>``, since timings change from run to run.

When a quote goes stale the failure shows the real output; paste it in. Commands listed in SLOW
(longer than a few seconds) run only with ``-m slow``.
"""
import re

import pytest

from helpers import ROOT, run_command

DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
MARKED = re.compile(r"^<!-- output: ([^\n]+?) -->[ \t]*\n```[\w-]*\n(.*?)^```", re.S | re.M)
TIME = re.compile(r"\b\d+(\.\d+)?\s?(ms|s|min)\b")
SLOW = {"python examples/train_mini_resnet.py", "python examples/train_cnn5.py",
        "python examples/train_mini_vgg.py"}


def normalise(text):
    lines = [TIME.sub("<time>", line.rstrip()) for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def quotes():
    """[(where, command, quoted text)] from the markdown files and the examples' comments."""
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for m in MARKED.finditer(text):
            line = text[:m.start()].count("\n") + 1
            found.append((f"{path.relative_to(ROOT)}:{line}", m.group(1).strip(), m.group(2)))
    for path in sorted((ROOT / "examples").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        m = re.search(r"^# Output \((.+?)\):\n((?:#.*\n?)+)", text, re.M)
        if m:
            body = "\n".join(line[4:] for line in m.group(2).splitlines())  # drop "#   "
            found.append((str(path.relative_to(ROOT)), m.group(1).strip(), body))
    return found


def find(piece, lines, start):
    """Index >= start where ``piece`` occurs in ``lines`` as consecutive lines, or -1."""
    for i in range(start, len(lines) - len(piece) + 1):
        if lines[i:i + len(piece)] == piece:
            return i
    return -1


def mismatch(quote, output):
    """None if ``quote`` is true of ``output`` (rules in the module docstring), else why not."""
    quote, lines = normalise(quote), normalise(output)
    if "..." not in quote:
        return None if quote == lines else "the quote is not the whole output"
    pieces, piece = [], []
    for line in quote + ["..."]:
        if line == "...":
            pieces, piece = pieces + [piece] * bool(piece), []
        else:
            piece.append(line)
    at = 0
    for piece in pieces:
        i = find(piece, lines, at)
        if i < 0:
            return f"not in the output (in this order): {piece[0]!r} ..."
        at = i + len(piece)
    return None


CASES = quotes()


@pytest.mark.parametrize("where, command, quote", [
    pytest.param(*q, marks=[pytest.mark.slow] if q[1] in SLOW else []) for q in CASES],
    ids=[f"{w} {c}" for w, c, _ in CASES])
def test_quote_is_the_real_output(where, command, quote):
    output = run_command(command)
    why = mismatch(quote, output)
    assert why is None, f"{where}: the quote of `{command}` is stale: {why}. Real output:\n{output}"


def test_the_quotes_are_marked():
    """The quotes the README teaches with are under test (a lost marker would skip them)."""
    marked = {(w.split(":")[0], c) for w, c, _ in CASES}
    for where, command in [("README.md", "python examples/quickstart.py"),
                           ("docs/core.md", "python examples/quickstart.py"),
                           ("docs/core.md", "python examples/gradcheck_walkthrough.py"),
                           ("examples/gradcheck_walkthrough.py", "python examples/gradcheck_walkthrough.py"),
                           ("examples/quickstart.py", "python examples/quickstart.py"),
                           ("docs/training.md", "minicnn summary --model cnn5")]:
        assert (where, command) in marked, f"{where} no longer marks its quote of `{command}`"


def test_the_comparison_can_fail():
    out = "a\nb 1.5s\nc\nd\n"
    assert mismatch("a\nb 2s\nc\nd", out) is None                 # timings normalised
    assert mismatch("a\n...\nc\nd", out) is None and mismatch("b 3 ms\n...\nd", out) is None
    assert mismatch("a\nb\nc\nd", out) is not None                 # a changed line
    assert mismatch("a\nc", out) is not None                       # a whole quote must be whole
    assert mismatch("c\n...\na", out) is not None                  # order matters
