"""Single models vs test-time augmentation vs ensembles, on the validation split of the checkpoints.

    python examples/tta_ensemble.py                                    # docs/checkpoints/*
    python examples/tta_ensemble.py --checkpoint a/best.npz --checkpoint b/best.npz

Rebuilds the validation split the checkpoints were selected on (the bundled 64x64 data, the
duplicate-aware 8:2 split of the seed in their metadata; the Testing split is never touched),
then prints a Markdown table: each model alone, with flip TTA, and every ensemble of two or more,
with and without TTA. Probabilities are computed once per model and view, then averaged.
"""
import argparse
import itertools
import os

import numpy as np

from minicnn.data import leak_free_split, load_bundled
from minicnn.training import load_checkpoint, predict

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
DEFAULT = [os.path.join(ROOT, "docs", "checkpoints", m, "best.npz")
           for m in ("cnn5", "mini_vgg", "mini_resnet")]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", action="append", help="default: the shipped checkpoints")
    args = p.parse_args()
    models = [load_checkpoint(c) for c in args.checkpoint or DEFAULT]
    split = models[0].metadata["split"]
    if any(m.metadata.get("split", {}).get("seed") != split["seed"] for m in models):
        raise SystemExit("the checkpoints were selected on different splits")
    _, val, _ = leak_free_split(load_bundled(), split["val_fraction"], split["seed"])
    names = [m.metadata["model_name"] for m in models]
    plain = [predict(m, val.images) for m in models]                   # (N, K) each
    mirror = [predict(m, val.images[..., ::-1]) for m in models]       # the flipped view

    def acc(probs):
        return 100 * float((probs.argmax(axis=1) == val.labels).mean())
    print(f"validation split: {len(val)} images (seed {split['seed']})\n")
    print("| models | plain | flip TTA |\n|---|---:|---:|")
    for r in range(1, len(models) + 1):
        for combo in itertools.combinations(range(len(models)), r):
            p0 = np.mean([plain[i] for i in combo], axis=0)
            p1 = np.mean([(plain[i] + mirror[i]) / 2 for i in combo], axis=0)
            print(f"| {' + '.join(names[i] for i in combo)} | {acc(p0):.1f}% | {acc(p1):.1f}% |")


if __name__ == "__main__":
    main()
