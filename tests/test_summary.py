"""model.summary(): the table's numbers are the model's numbers.

Proves: the total equals the sum of every parameter array's size, and the Params column adds up
to it; a convolution's FLOPs are 2 * C_in * KH * KW per output value (+1 for the bias);
nested containers appear indented under dotted names; the FLOPs column adds up to the total;
without an input shape the table still lists parameters.
"""
import numpy as np
import pytest

import minicnn as mc


def small_resnet():
    return mc.Sequential([
        mc.Conv2D(1, 8, 3, padding=1, rng=0), mc.BatchNorm2D(8), mc.ReLU(),
        mc.ResidualBlock.basic(8, 16, stride=2, rng=1),
        mc.GlobalAvgPool2D(), mc.Dense(16, 4, rng=2)], input_shape=(1, 16, 16))


def _column(text, title):
    """Integers in the right-aligned column ``title`` ("Params" or "FLOPs"); blank cells skipped."""
    lines = text.split("\n")
    header = lines[2]
    end = header.index(title) + len(title)            # right-aligned: every cell ends here
    rows = lines[4:lines.index(lines[1], 4)]          # between the 2nd and 3rd "=====" rules
    cells = [row[:end].split("  ")[-1].strip() for row in rows]
    return [int(c.replace(",", "")) for c in cells if c]


def test_params_total_equals_sum_of_arrays():
    model = small_resnet()
    text = model.summary(print_fn=None)
    total = sum(p.size for p in model.params.values())
    assert f"Total params: {total:,}" in text
    assert sum(_column(text, "Params")) == total


def test_flops_of_a_known_conv():
    conv = mc.Conv2D(3, 8, 3, padding=1, rng=0)
    text = mc.Sequential([conv]).summary(input_shape=(3, 32, 32), print_fn=None)
    expected = (2 * 3 * 3 * 3 + 1) * 8 * 32 * 32     # (2*C_in*KH*KW + bias) per output value
    assert expected == 450_560
    assert "450,560" in text and "(8, 32, 32)" in text


def test_flops_column_adds_up_and_nesting_is_indented():
    model = small_resnet()
    text = model.summary(print_fn=None)
    assert sum(_column(text, "FLOPs")) == model.flops((1, 16, 16))
    assert f"FLOPs per image: {model.flops((1, 16, 16)):,}" in text
    lines = text.split("\n")
    assert any(line.startswith("3 (ResidualBlock)") for line in lines)
    assert any(line.startswith("  3.main (Sequential)") for line in lines)
    assert any(line.startswith("    3.shortcut.0 (Conv2D)") and "(16, 8, 8)" in line for line in lines)


def test_printing_and_unknown_input_shape():
    printed = []
    model = mc.Sequential([mc.Dense(4, 3, rng=0)])
    text = model.summary(print_fn=printed.append)
    assert printed == [text]
    assert "Total params: 15" in text and "FLOPs per image" not in text and "?" in text
    nbytes = 15 * 4
    assert f"Weight memory (params + buffers, float32): {nbytes} B" in text


def test_buffers_are_counted_separately():
    text = mc.Sequential([mc.BatchNorm2D(5)]).summary(input_shape=(5, 2, 2), print_fn=None)
    assert "Total params: 10" in text and "Non-trainable values (buffers): 10" in text
    with pytest.raises(ValueError):
        mc.Sequential([mc.Dense(4, 3)]).summary(input_shape=(5,), print_fn=None)
