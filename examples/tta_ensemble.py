"""Single models vs test-time augmentation vs ensembles, on the validation split of the checkpoints.

    python examples/tta_ensemble.py                                    # docs/checkpoints/*
    python examples/tta_ensemble.py --checkpoint a/best.npz --checkpoint b/best.npz

Rebuilds the validation split the checkpoints were selected on (the duplicate-aware 8:2 split of
the seed in their metadata, of the bundled 64x64 data or of the folder they were trained on; the
Testing split is never touched), then prints a Markdown table: each model alone, with flip TTA,
and every ensemble of two or more, with and without TTA. Models of different input sizes are
fine: each reads the validation images at its own size (the split is the same at every size:
``minicnn.data.split.duplicate_groups``). Probabilities are computed once per model and view,
then averaged.

Below the table: what picking the best row is worth on images the pick did not see
(``minicnn.training.selection_holdout``: chosen on a random half of the validation images, scored
on the other half, 20 times both ways). With many rows, the best one's figure is partly luck.
``--mistakes FILE.png`` draws the validation images that most of the models get wrong.
"""
import argparse
import itertools
import os

import numpy as np

from minicnn import models
from minicnn.training import load_checkpoint, predict, selection_holdout
from minicnn.viz.gallery import plot_misclassified
from minicnn.viz.report import evaluation_data

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
DEFAULT = [os.path.join(ROOT, "docs", "checkpoints", m, "best.npz")
           for m in ("cnn5", "mini_vgg", "mini_resnet")]


def label(model):
    """'cnn5', or 'cnn5 (filters 32-256, stride 2)' for knobs that differ from the defaults (and
    the input size, the crop, the training seed when it is not 0, the weight average's decay, the
    label smoothing and the mixup: runs of one recipe)."""
    arch = model.metadata["architecture"]
    default = models.build(arch["name"], arch["input_shape"], arch["num_classes"]).metadata
    changed = [k for k in models.KNOBS if k in arch and arch[k] != default["architecture"].get(k)]
    text = [f"filters {arch[k][0]}-{max(arch[k])}" if k == "filters" else f"{k} {arch[k]}"
            for k in changed]
    size = arch["input_shape"][-1]
    text += [f"{size}x{size}"] if size != 64 else []
    text += ["cropped"] if model.metadata.get("crop") else []
    text += [f"seed {model.metadata['seed']}"] if model.metadata.get("seed") not in (None, 0) else []
    training = model.metadata.get("training") or {}
    text += [f"ema {training['ema']}"] if training.get("ema") else []
    text += [f"label smoothing {training['label_smoothing']}"] if training.get(
        "label_smoothing") else []
    text += [f"mixup {training['mixup']}"] if training.get("mixup") else []
    return arch["name"] + (f" ({', '.join(text)})" if text else "")


def validation_images(model):
    """The validation split ``model`` was selected on, at its own input size and colour (as
    ``minicnn report`` rebuilds it), and its files relative to the data folder."""
    val, _ = evaluation_data(model.metadata)
    root = model.metadata["split"].get("data", "bundled")
    return val, [os.path.relpath(p, root) if os.path.isabs(p) else p for p in val.paths]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", action="append", help="default: the shipped checkpoints")
    p.add_argument("--mistakes", metavar="FILE.png", help="draw the images a majority of the "
                   "models get wrong (at the first model's input size), with the ensemble's answer")
    args = p.parse_args()
    members = [load_checkpoint(c) for c in args.checkpoint or DEFAULT]
    split = members[0].metadata["split"]
    if any(m.metadata.get("split", {}).get("seed") != split["seed"] for m in members):
        raise SystemExit("the checkpoints were selected on different splits")
    vals = [validation_images(m) for m in members]
    val, files = vals[0]
    if any(f != files for _, f in vals):
        raise SystemExit("the checkpoints' validation splits hold different images")
    names = [label(m) for m in members]
    names = [n if names.count(n) == 1 else f"{n} [{os.path.basename(os.path.dirname(c))}]"
             for n, c in zip(names, map(os.path.abspath, args.checkpoint or DEFAULT))]
    plain = [predict(m, v.images) for m, (v, _) in zip(members, vals)]            # (N, K) each
    mirror = [predict(m, v.images[..., ::-1]) for m, (v, _) in zip(members, vals)]  # flipped
    print(f"validation split: {len(val)} images (seed {split['seed']})\n")
    print("| models | plain | flip TTA |\n|---|---:|---:|")
    right = {}                                                   # (combo, tta) -> (N,) bool
    for r in range(1, len(members) + 1):
        for combo in itertools.combinations(range(len(members)), r):
            p0 = np.mean([plain[i] for i in combo], axis=0)
            p1 = np.mean([(plain[i] + mirror[i]) / 2 for i in combo], axis=0)
            r0, r1 = (p.argmax(axis=1) == val.labels for p in (p0, p1))          # (N,) bool each
            right[combo, False], right[combo, True] = r0, r1
            print(f"| {' + '.join(names[i] for i in combo)} | {100 * r0.mean():.1f}% | {100 * r1.mean():.1f}% |")
    print()
    singles = [right[(i,), False] for i in range(len(members))]
    for what, rows in (("single model, plain", singles), ("row of the table", list(right.values()))):
        h = selection_holdout(np.array(rows))
        print(f"best {what} of {len(rows)}: {100 * h['best_in_sample']:.1f}% on these images; "
              f"picked on half of them, {100 * h['mean']:.1f}% (sd {100 * h['std']:.1f}) on the other half")
    if args.mistakes:
        wrong = len(members) - np.sum(singles, axis=0)          # (N,) how many models miss each image
        hard = np.flatnonzero(wrong > len(members) / 2)
        hard = hard[np.argsort(-wrong[hard], kind="stable")]
        everyone = np.mean(plain, axis=0)
        print(f"{len(hard)} images are wrong for a majority of the {len(members)} models "
              f"({int(np.sum(wrong == len(members)))} for all of them): {args.mistakes}")
        plot_misclassified(val.images[hard], val.labels[hard], everyone[hard], members[0].metadata["classes"],
                           args.mistakes, max_images=max(1, len(hard)), columns=6,
                           title="Wrong for most of the models (the ensemble's answer)")


if __name__ == "__main__":
    main()
