"""Where a training step's time goes: milliseconds per layer type, for each model and size.

One step is what ``fit`` runs per batch: standardise the uint8 batch, augment it, forward,
softmax cross-entropy, backward, Adam. Every layer's ``forward`` and ``backward`` is wrapped
with a timer that charges its exclusive time (minus its children's) to a category: the
convolution by the algorithm it ran (im2col / winograd, and the 7x7 stem apart), batch norm,
ReLU, pooling, dense, dropout, flatten, and the residual blocks' own time (the add and the
shortcut bookkeeping). The first conv skips its input gradient, as ``fit`` does.

    python benchmarks/profile_step.py                          # all models, 64 and 150
    python benchmarks/profile_step.py --models mini_resnet --sizes 64 --algorithm im2col

Times are the median over ``--steps`` steps after a warm-up step; a busy machine inflates them.
"""
import argparse
import collections
import os
import sys

import minicnn  # noqa: F401  first, as a user's script would: its thread defaults must precede NumPy
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import CLOCK, describe, load_average, runtime_info, set_threads, use_cpu_clock, write_json  # noqa: E402


def category(layer):
    """The profile row a layer's own time goes to."""
    name = type(layer).__name__
    if name == "Conv2D":
        k = "x".join(map(str, layer.kernel_size))
        if layer.kernel_size != (3, 3) or layer.stride != (1, 1):
            return f"conv {k} s{layer.stride[0]} (im2col)"
        kernel = getattr(layer.cache[2], "__name__", "") if layer.cache else ""    # the module that ran
        return "conv 3x3 (" + ("winograd" if "winograd" in kernel else "im2col") + ")"
    return {"ResidualBlock": "residual add (block's own)"}.get(name, name)


class Profiler:
    """Wraps every layer's forward/backward; ``totals[category]`` = exclusive seconds."""

    def __init__(self, model):
        self.totals, self._stack = collections.defaultdict(float), []
        self._wrap(model)

    def _wrap(self, layer):
        for _, child in layer.children():
            self._wrap(child)
        for method in ("forward", "backward"):
            setattr(layer, method, self._timed(layer, getattr(layer, method)))

    def _timed(self, layer, fn):
        def run(*args, **kwargs):
            # the category is decided after forward ran (the conv's algorithm depends on the shape)
            self._stack.append(0.0)
            t = CLOCK["fn"]()
            out = fn(*args, **kwargs)
            dt = CLOCK["fn"]() - t
            children = self._stack.pop()
            self.totals[category(layer)] += dt - children
            if self._stack:
                self._stack[-1] += dt
            return out
        return run

    def timed(self, name, fn, *args):
        t = CLOCK["fn"]()
        out = fn(*args)
        self.totals[name] += CLOCK["fn"]() - t
        return out


def profile(model_name, size, batch, steps, algorithm):
    from minicnn import Adam, models, softmax_cross_entropy
    from minicnn.data import Augmenter
    from minicnn.data.preprocess import Standardizer
    from minicnn.layers import set_conv_algorithm
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch, 1, size, size), dtype=np.uint8)
    labels = rng.integers(0, 4, batch)
    model = set_conv_algorithm(models.build(model_name, (1, size, size), 4, seed=0), algorithm)
    first = next(layer for layer in _leaves(model) if type(layer).__name__ == "Conv2D")
    first.needs_input_grad = False
    opt, std, aug = Adam(model, lr=1e-3), Standardizer("dataset").fit(images), Augmenter(rng=0)
    prof = Profiler(model)
    per_step = []
    for step in range(steps + 1):
        prof.totals.clear()
        t = CLOCK["fn"]()
        x = prof.timed("standardise", std.transform, images)
        x = prof.timed("augment", aug, x)
        logits = model.forward(x, training=True)
        _, dlogits = prof.timed("loss", softmax_cross_entropy, logits, labels)
        model.backward(dlogits)
        prof.timed("optimizer (Adam)", opt.step)
        if step:                                            # the first step warms up
            per_step.append(dict(prof.totals, step=CLOCK["fn"]() - t))
    keys = sorted({k for s in per_step for k in s}, key=lambda k: -np.median([s.get(k, 0) for s in per_step]))
    return {k: 1e3 * float(np.median([s.get(k, 0.0) for s in per_step])) for k in keys}


def _leaves(layer):
    children = layer.children()
    if not children:
        yield layer
    for _, child in children:
        yield from _leaves(child)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["mini_resnet", "cnn5", "mini_vgg"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[64, 150])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5, help="timed steps (median kept)")
    ap.add_argument("--algorithm", default="auto", choices=["auto", "im2col", "winograd"])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--json", metavar="FILE", help="write all numbers to FILE")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time by process CPU time, not wall time (a shared machine; use --threads 1)")
    args = ap.parse_args(argv)
    set_threads(args.threads)
    if args.cpu_time:
        use_cpu_clock()
    print(describe(runtime_info()), f"| load average at start {load_average()}")
    results = {"runtime": runtime_info(), "algorithm": args.algorithm, "batch": args.batch_size,
               "clock": CLOCK["name"],
               "load_average_at_start": load_average(), "profiles": {}}
    for model in args.models:
        for size in args.sizes:
            ms = profile(model, size, args.batch_size, args.steps, args.algorithm)
            results["profiles"][f"{model}@{size}"] = dict(ms)
            total = ms.pop("step")
            print(f"\n{model}@{size}, algorithm={args.algorithm}: step {total:.1f} ms "
                  f"({CLOCK['name']} clock, median of {args.steps})")
            print("| part | ms | % of step |\n|---|---:|---:|")
            for k, v in ms.items():
                print(f"| {k} | {v:.1f} | {100 * v / total:.0f} |")
    results["load_average_at_end"] = load_average()
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
