"""``minicnn evaluate``: score a checkpoint (or an ensemble) on a labelled image folder.

    minicnn evaluate --checkpoint runs/cnn5/best.npz --data brain-tumor-mri/Testing
    minicnn evaluate --checkpoint runs/cnn5/best.npz --data DIR --train-data DIR --json
    minicnn evaluate --checkpoint a/best.npz --checkpoint b/best.npz --tta --data DIR

With several ``--checkpoint``s their probabilities are averaged (each model reads the images at its
own size and colour, with its own standardisation); ``--tta`` adds each image's mirror image.

When ``--data`` is the folder a checkpoint was trained on, only the validation split recorded in
its metadata is scored (as ``minicnn report`` does), never an image it trained on: every model that
trained on the folder must have the same split, and one trained on every image (``--val-fraction
0``) is refused, as is a folder changed since training (its split would have moved: the rebuilt
validation images must match the fingerprint the checkpoint recorded, ``val_data``).

Images are decoded at the checkpoint's image size and colour and standardised with its saved
statistics. With ``--train-data``, the accuracy is also reported on only those test images that
the leakage audit finds are not copies of training images (exact or near duplicates).
"""
import json

from minicnn.cli import CLIError


def register(subparsers):
    p = subparsers.add_parser("evaluate", help="accuracy, per-class metrics, confusion matrix",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--checkpoint", required=True, action="append", metavar="FILE",
                   help="a .npz written by train; repeat it for an ensemble (mean probabilities)")
    p.add_argument("--tta", action="store_true",
                   help="test-time augmentation: average each image with its left-right mirror")
    p.add_argument("--data", required=True, metavar="DIR",
                   help="test images <DIR>/<class>/*.jpg (or a Kaggle root: its Testing/)")
    p.add_argument("--train-data", metavar="DIR",
                   help="the training folder: also report accuracy without its copies")
    p.add_argument("--batch-size", type=int, default=64, metavar="N",
                   help="images per forward pass (memory, not results)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def load_members(paths, needs=("classes", "image_size", "color")):
    """Load each --checkpoint; every one must carry ``needs`` in its metadata."""
    from minicnn.training import load_checkpoint  # lazy: keeps `minicnn --help` quick
    members = [load_checkpoint(p) for p in paths]
    for path, m in zip(paths, members):
        missing = [k for k in needs if k not in m.metadata]
        if missing:
            raise CLIError(f"{path} has no {', '.join(missing)} in its metadata "
                           f"(a checkpoint written by minicnn train / fit is needed)")
    return members


def recorded_validation(paths, members, test_dir):
    """The ``metadata["split"]`` the members trained on ``test_dir`` share, or None if none did."""
    from minicnn.data import held_out, trained_on  # lazy: keeps `minicnn --help` quick

    mine = [(p, m.metadata["split"]) for p, m in zip(paths, members)
            if trained_on(m.metadata.get("split"), test_dir)]
    for path, split in mine:
        if not held_out(split):
            raise CLIError(f"{path} was trained on every image of {test_dir} (--val-fraction 0): "
                           f"none is unseen; evaluate it on another folder (e.g. Testing)")
    keys = ("val_fraction", "seed", "mirrors_kept_together")
    if len({tuple(s.get(k) for k in keys) for _, s in mine}) > 1:
        raise CLIError(f"{mine[0][0]} and the other checkpoints trained on {test_dir} hold out "
                       f"different validation splits: no image is unseen by all of them")
    return mine[0][1] if mine else None


def run(args):
    import numpy as np  # lazy: keeps `minicnn --help` quick
    from minicnn.data import (  # lazy: as above
        align_classes, data_dir, leaked_test_mask, load_folder, recorded_split, trained_on)
    from minicnn.training import format_report  # lazy: keeps `minicnn --help` quick
    from minicnn.training.inference import predict_ensemble  # lazy: as above
    from minicnn.training.metrics import score  # lazy: as above
    from minicnn.viz.report import check_unchanged  # lazy: as above

    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be at least 1, got {args.batch_size}")

    members = load_members(args.checkpoint)
    classes = members[0].metadata["classes"]
    test_dir = data_dir(args.data, split="Testing")
    split = recorded_validation(args.checkpoint, members, test_dir)
    if split is not None and args.train_data:
        raise CLIError(f"{test_dir} is the folder the checkpoints trained on, and only its "
                       f"validation split (no copies of training images) is scored: "
                       f"drop --train-data")
    sets = {}

    def images(image_size, color, crop=False):         # each member's size and colour, once
        ds = load_folder(test_dir, image_size=image_size, color=color, crop=crop)
        if split is not None:                          # never an image a member trained on
            _, ds, _ = recorded_split(ds, split)
            for path, m in zip(args.checkpoint, members):  # still the split each one recorded?
                if (trained_on(m.metadata.get("split"), test_dir) and (image_size, color, crop)
                        == tuple(m.metadata.get(k, False) for k in ("image_size", "color", "crop"))):
                    check_unchanged(ds, m.metadata, path)
        ds = align_classes(ds, classes)
        sets[(image_size, color, crop)] = ds
        return ds.images
    probs = predict_ensemble(members, images, batch_size=args.batch_size, tta=args.tta)
    ds = next(iter(sets.values()))
    if any(d.paths != ds.paths for d in sets.values()):
        raise CLIError("the image folder read differently at the models' sizes; "
                       "is an image unreadable?")
    exclude = None
    if args.train_data:   # the leakage audit: exact or near copies of training images
        exclude = leaked_test_mask(data_dir(args.train_data), test_dir)
        if len(exclude) != len(ds):
            raise CLIError(f"the audit read {len(exclude)} test images, evaluate {len(ds)}; "
                           f"is an image in {test_dir} unreadable?")
    result = score(np.log(np.maximum(probs, 1e-300)), ds.labels, classes, exclude)
    result.pop("probs")
    result["checkpoint"] = args.checkpoint[0] if len(args.checkpoint) == 1 else args.checkpoint
    result["tta"] = args.tta
    result["validation_split"] = split
    if args.json:
        print(json.dumps(result))
    else:
        where = args.data if split is None else (
            f"the validation split of {args.data} ({split['val_fraction']:.0%}, seed "
            f"{split['seed']}, {len(ds)} images no model trained on)")
        print(f"{' + '.join(args.checkpoint)}{' with TTA' if args.tta else ''} on {where}")
        print(format_report(result))
    return 0
