"""``minicnn predict``: class probabilities for image files, with the checkpoint's preprocessing.

    minicnn predict --checkpoint runs/mini_resnet/best.npz scan1.jpg scan2.png
    minicnn predict --checkpoint a/best.npz --checkpoint b/best.npz --tta scan1.jpg

Several ``--checkpoint``s form an ensemble (mean probabilities); ``--tta`` adds the mirror image.
"""
import json

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


def run(args):
    from minicnn.cli.evaluate import load_members  # lazy: keeps `minicnn --help` quick
    from minicnn.training.inference import predict_ensemble  # lazy: as above

    members = load_members(args.checkpoint, needs=("classes", "image_size"))
    classes = members[0].metadata["classes"]
    probs = predict_ensemble(members, args.images, tta=args.tta)
    width = max(len(p) for p in args.images)
    for path, p in zip(args.images, probs):
        top = int(p.argmax())
        if args.json:
            print(json.dumps({"image": path, "class": classes[top], "probability": float(p[top]),
                              "probabilities": dict(zip(classes, map(float, p)))}))
        else:
            rest = "  ".join(f"{c} {v:.3f}" for c, v in zip(classes, p))
            print(f"{path:<{width}}  {classes[top]} ({p[top]:.3f})   {rest}")
    return 0
