"""``minicnn evaluate``: score a checkpoint on a labelled image folder.

    minicnn evaluate --checkpoint runs/cnn5/best.npz --data brain-tumor-mri/Testing
    minicnn evaluate --checkpoint runs/cnn5/best.npz --data DIR --train-data DIR --json

Images are decoded at the checkpoint's image size and colour and standardised with its saved
statistics. With ``--train-data``, the accuracy is also reported on only those test images that
the leakage audit finds are not copies of training images (exact or near duplicates).
"""
import json

from minicnn.cli import CLIError


def register(subparsers):
    p = subparsers.add_parser("evaluate", help="accuracy, per-class metrics, confusion matrix",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--checkpoint", required=True, metavar="FILE", help="a .npz written by train")
    p.add_argument("--data", required=True, metavar="DIR",
                   help="test images <DIR>/<class>/*.jpg (or a Kaggle root: its Testing/)")
    p.add_argument("--train-data", metavar="DIR",
                   help="the training folder: also report accuracy without its copies")
    p.add_argument("--batch-size", type=int, default=64, metavar="N")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args):
    from minicnn.data import align_classes, data_dir, leaked_test_mask, load_folder  # lazy: keeps `minicnn --help` quick
    from minicnn.training import evaluate, format_report, load_checkpoint  # lazy: keeps `minicnn --help` quick

    model = load_checkpoint(args.checkpoint)
    meta = model.metadata
    missing = [k for k in ("classes", "image_size", "color") if k not in meta]
    if missing:
        raise CLIError(f"{args.checkpoint} has no {', '.join(missing)} in its metadata "
                       f"(evaluate needs a checkpoint written by minicnn train / fit)")
    test_dir = data_dir(args.data, split="Testing")
    ds = align_classes(load_folder(test_dir, image_size=meta["image_size"], color=meta["color"]),
                       meta["classes"])
    exclude = None
    if args.train_data:   # the leakage audit: exact or near copies of training images
        exclude = leaked_test_mask(data_dir(args.train_data), test_dir)
        if len(exclude) != len(ds):
            raise CLIError(f"the audit read {len(exclude)} test images, evaluate {len(ds)}; "
                           f"is an image in {test_dir} unreadable?")
    result = evaluate(model, ds, batch_size=args.batch_size, exclude=exclude)
    result.pop("probs")
    result["checkpoint"] = args.checkpoint
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.checkpoint} on {args.data}")
        print(format_report(result))
    return 0
