"""``model.summary()``: a Keras-like table of layers, output shapes, parameters and FLOPs.

Every row shows the layer's *own* parameters and FLOPs (a container's row shows only what the
container adds itself, e.g. a ResidualBlock's addition), so each column adds up to its total.
Nested containers are indented under their row. FLOPs are per image, a multiply-add counting 2.
"""
import numpy as np


def _human(n, units=(" ", " K", " M", " G", " T"), base=1000.0):
    i = 0
    while abs(n) >= base and i < len(units) - 1:
        n, i = n / base, i + 1
    return f"{n:.0f}{units[i]}" if i == 0 else f"{n:.2f}{units[i]}"


def _rows(layer, input_shape, prefix="", depth=0):
    """[(depth, "path (Class)", output shape or None, own params, own FLOPs or None, is_container)]"""
    if input_shape is None:
        entries = [(name, child, None) for name, child in layer.children()]
    else:
        entries = layer.child_input_shapes(input_shape)
    rows = []
    for name, child, shape in entries:
        is_container = bool(child.children())
        sub = _rows(child, shape, f"{prefix}{name}.", depth + 1) if is_container else []
        out = None if shape is None else tuple(child.output_shape(shape))
        flops = None if shape is None else child.flops(shape) - sum(r[4] for r in sub)  # own share
        params = 0 if is_container else child.num_params()
        rows.append((depth, f"{prefix}{name} ({type(child).__name__})", out, params, flops, is_container))
        rows += sub
    return rows


def summary(model, input_shape=None, print_fn=print):
    """Build the table for ``model`` (per-sample ``input_shape``, default ``model.input_shape``).

    Without any input shape, output shapes and FLOPs are shown as "?". ``print_fn`` receives the
    whole table once (pass ``print_fn=None`` to only return it). Returns the table as a string.
    """
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
    input_shape = None if input_shape is None else tuple(int(d) for d in input_shape)
    if model.children():
        rows = _rows(model, input_shape)
    else:  # a single layer: one row for itself
        out = None if input_shape is None else tuple(model.output_shape(input_shape))
        flops = None if input_shape is None else model.flops(input_shape)
        rows = [(0, f"({type(model).__name__})", out, model.num_params(), flops, False)]

    header = ("Layer (type)", "Output shape", "Params", "FLOPs")
    cells = [("  " * d + name, "?" if out is None else str(out),
              "" if cont and not p else f"{p:,}",
              "?" if f is None else ("" if cont and not f else f"{f:,}"))
             for d, name, out, p, f, cont in rows]
    widths = [max(len(r[i]) for r in cells + [header]) for i in range(4)]

    def fmt(r):
        return f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}"

    rule = "=" * len(fmt(header))
    total = model.num_params()
    n_buffers = int(sum(b.size for b in model.buffers.values()))
    nbytes = sum(a.nbytes for a in list(model.params.values()) + list(model.buffers.values()))
    lines = [f"Model: {type(model).__name__}, input shape (per sample): "
             f"{'unknown' if input_shape is None else input_shape}", rule, fmt(header), rule]
    lines += [fmt(c) for c in cells]
    lines += [rule, f"Total params: {total:,}", f"Trainable params: {total:,}",
              f"Non-trainable values (buffers): {n_buffers:,}"]
    if input_shape is not None:
        flops = model.flops(input_shape)
        lines.append(f"FLOPs per image: {flops:,} ({_human(flops)}FLOPs)")
    lines.append(f"Weight memory (params + buffers, {np.dtype(model.dtype).name}): "
                 f"{_human(nbytes, (' ', ' Ki', ' Mi', ' Gi'), 1024.0)}B")
    text = "\n".join(lines)
    if print_fn is not None:
        print_fn(text)
    return text
