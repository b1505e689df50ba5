"""``minicnn report``: every figure for one checkpoint, and a Markdown page showing them.

    minicnn report --checkpoint runs/mini_resnet/best.npz
    minicnn report --checkpoint runs/cnn5/best.npz --data brain-tumor-mri/Testing --out cnn5_test

Without --data (or with the folder it trained on) the checkpoint is scored on the validation
split it was selected on, rebuilt from its metadata; another folder is scored whole. Writes
curves.png (from the history.json beside the checkpoint), confusion.png, feature_maps.png,
gradcam.png, gradcam_classes.png, mistakes.png and report.md into --out (default: a report/
folder beside the checkpoint).
"""
import os

from minicnn.atomic import make_folder  # small, no heavy imports
from minicnn.cli import CLIError


def register(subparsers):
    p = subparsers.add_parser("report", help="figures + Markdown report for a checkpoint",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--checkpoint", required=True, metavar="FILE", help="a .npz written by train")
    p.add_argument("--data", metavar="DIR", help="labelled images <DIR>/<class>/*.jpg (default: "
                   "the checkpoint's validation split)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: <checkpoint dir>/report)")
    p.add_argument("--gradcam-per-class", type=int, default=1, metavar="N",
                   help="Grad-CAM images per class")
    p.set_defaults(func=run)


def run(args):
    from minicnn.training import load_checkpoint  # lazy: keeps `minicnn --help` quick
    from minicnn.viz.report import evaluation_data, write_report  # lazy: keeps `minicnn --help` quick

    if args.gradcam_per_class < 1:
        raise CLIError(f"--gradcam-per-class must be at least 1, got {args.gradcam_per_class}")
    model = load_checkpoint(args.checkpoint)
    missing = [k for k in ("classes", "image_size", "color") if k not in model.metadata]
    if missing:
        raise CLIError(f"{args.checkpoint} has no {', '.join(missing)} in its metadata "
                       f"(report needs a checkpoint written by minicnn train / fit)")
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), "report")
    make_folder(out)                   # one line if --out is a file, before the evaluation
    dataset, where = evaluation_data(model.metadata, args.data)
    path = write_report(model, dataset, out, checkpoint=args.checkpoint, data_description=where,
                        n_gradcam=args.gradcam_per_class)
    print(f"wrote {path} and its figures (evaluated on {where})")
    return 0
