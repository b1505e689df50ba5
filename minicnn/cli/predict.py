"""``minicnn predict``: class probabilities for image files, with the checkpoint's preprocessing.

    minicnn predict --checkpoint runs/mini_resnet/best.npz scan1.jpg scan2.png
    minicnn predict --checkpoint a/best.npz --checkpoint b/best.npz --tta scan1.jpg

Several ``--checkpoint``s form an ensemble (mean probabilities); ``--tta`` adds the mirror image.
A file that cannot be read is reported on stderr after the others' results (exit status 1).
"""
import json
import os
import sys

from minicnn.cli import CLIError


def register(subparsers):
    p = subparsers.add_parser("predict", help="top class and probabilities per image",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--checkpoint", required=True, action="append", metavar="FILE",
                   help="a .npz written by train; repeat it for an ensemble (mean probabilities)")
    p.add_argument("--tta", action="store_true",
                   help="test-time augmentation: average each image with its left-right mirror")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (any size or mode)")
    p.add_argument("--json", action="store_true", help="one JSON object per image, one per line")
    p.set_defaults(func=run)


def decode(members, paths):
    """Decode each file as the first member was trained (size, colour, crop): (uint8 images of
    the files that decode, their paths, an error for each file that does not)."""
    import numpy as np  # lazy: keeps `minicnn --help` quick
    from minicnn.data import load_image  # lazy: as above
    meta, pixels, good, bad = members[0].metadata, [], [], []
    for path in paths:
        try:
            if os.path.isdir(path):
                raise CLIError(f"{path} is a folder, not an image file")
            pixels.append(load_image(path, meta["image_size"], meta["color"],
                                     crop=meta.get("crop", False)))
            good.append(path)
        except (CLIError, ValueError, OSError) as e:   # a bad file: say so, go on with the rest
            bad.append(e)
    return (np.stack(pixels) if pixels else None), good, bad


def run(args):
    from minicnn.cli.evaluate import load_members  # lazy: keeps `minicnn --help` quick
    from minicnn.training.inference import check_metadata, predict_ensemble  # lazy: as above

    members = load_members(args.checkpoint, needs=("classes", "image_size"))
    for m in members:                                  # a bad checkpoint is not a bad image
        check_metadata(m.metadata, files=True)
    classes = members[0].metadata["classes"]
    pixels, good, bad = decode(members, args.images)
    same = len({tuple(m.metadata.get(k, False) for k in ("image_size", "color", "crop"))
                for m in members}) == 1             # else each member decodes the files itself
    probs = predict_ensemble(members, pixels if same else good, tta=args.tta) if good else []
    width = max((len(p) for p in good), default=0)
    for path, p in zip(good, probs):
        top = int(p.argmax())
        if args.json:
            print(json.dumps({"image": path, "class": classes[top], "probability": float(p[top]),
                              "probabilities": dict(zip(classes, map(float, p)))}))
        else:
            rest = "  ".join(f"{c} {v:.3f}" for c, v in zip(classes, p))
            print(f"{path:<{width}}  {classes[top]} ({p[top]:.3f})   {rest}")
    for e in bad:
        print(f"minicnn predict: error: {e}", file=sys.stderr)
    return 1 if bad else 0
