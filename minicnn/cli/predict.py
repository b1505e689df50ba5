"""``minicnn predict``: class probabilities for image files, with the checkpoint's preprocessing.

    minicnn predict --checkpoint runs/mini_resnet/best.npz scan1.jpg scan2.png
"""
import json

from minicnn.cli import CLIError


def register(subparsers):
    p = subparsers.add_parser("predict", help="top class and probabilities per image",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--checkpoint", required=True, metavar="FILE", help="a .npz written by train")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (any size or mode)")
    p.add_argument("--json", action="store_true", help="one JSON object per image, one per line")
    p.set_defaults(func=run)


def run(args):
    from minicnn.training import load_checkpoint, predict  # lazy: keeps `minicnn --help` quick

    model = load_checkpoint(args.checkpoint)
    classes = model.metadata.get("classes")
    if not classes or "image_size" not in model.metadata:
        raise CLIError(f"{args.checkpoint} has no classes/image_size in its metadata "
                       f"(predict needs a checkpoint written by minicnn train / fit)")
    probs = predict(model, args.images)
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
