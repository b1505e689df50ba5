"""``minicnn train``: train one of the report's models and keep its checkpoints.

    minicnn train --model mini_resnet                     # the bundled 64x64 dataset
    minicnn train --model cnn5 --data brain-tumor-mri/Training --image-size 150 --epochs 30

The data (a class-per-folder directory, or a Kaggle root holding Training/) is split 8:2 into
training and validation, stratified by class, with duplicate images kept on one side. Checkpoints
go to ``--out`` (default runs/<model>/): best.npz, last.npz, history.json.
"""
import math
import os

from minicnn.cli import CLIError

from minicnn.data import COLORS
from minicnn.models import MODEL_NAMES


def register(subparsers):
    p = subparsers.add_parser("train", help="train cnn5, mini_vgg or mini_resnet",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--model", required=True, choices=MODEL_NAMES, help="which architecture")
    p.add_argument("--data", metavar="DIR", help="image folder <DIR>/<class>/*.jpg, or a Kaggle "
                   "root with Training/ (default: the bundled 64x64 dataset)")
    p.add_argument("--image-size", type=int, metavar="N", help="resize images to NxN "
                   "(default 64; the bundled data is 64x64 only)")
    p.add_argument("--color", choices=tuple(COLORS), default="grayscale",
                   help="decode images as one gray channel or three (rgb)")
    p.add_argument("--epochs", type=int, default=10, metavar="N", help="passes over the training split")
    p.add_argument("--batch-size", type=int, default=32, metavar="N", help="images per step")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="seeds the weights, the split, the shuffling and augmentation")
    p.add_argument("--out", metavar="DIR", help="checkpoint folder (default runs/<model>)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay")
    p.add_argument("--schedule", choices=("constant", "cosine", "step"), default="constant",
                   help="learning-rate schedule over the epochs")
    p.add_argument("--augment", action="store_true",
                   help="random flips, shifts and rotations of training batches")
    p.add_argument("--val-fraction", type=float, default=0.2, metavar="F",
                   help="share of each class held out for validation (duplicates kept together)")
    p.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                   help="stop after this many epochs without a better validation accuracy "
                   "(default: train all epochs)")
    p.add_argument("--standardize", choices=("dataset", "per_batch"), default="dataset",
                   help="dataset: per-channel statistics of the training split; "
                        "per_batch: each batch by its own mean/std (the report's way)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.npz (same "
                   "data and settings; refused otherwise)")
    p.add_argument("--overwrite", action="store_true", help="replace the run already in <out> "
                   "(without it, and without --resume, an existing run is an error)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def load_dataset(args):
    """--data (any size) or the bundled dataset (its own size only) -> Dataset."""
    if args.image_size is not None and args.image_size < 1:
        raise CLIError(f"--image-size must be a positive number of pixels, got {args.image_size}")
    if args.data:
        from minicnn.data import load_data  # lazy: keeps `minicnn --help` quick
        return load_data(args.data, args.image_size or 64, args.color)
    from minicnn.data import load_bundled  # lazy: keeps `minicnn --help` quick
    ds = load_bundled()
    if args.image_size not in (None, ds.image_size):
        raise CLIError(f"the bundled dataset is {ds.image_size}x{ds.image_size}; for "
                       f"--image-size {args.image_size} give --data DIR (e.g. the Kaggle folder)")
    if args.color != ds.color:
        raise CLIError(f"the bundled dataset is {ds.color}; for --color {args.color} give --data DIR")
    return ds


def check_args(args):
    """Refuse values that cannot make a sensible run, before any data is loaded."""
    for name in ("epochs", "batch_size", "early_stopping"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if not math.isfinite(args.lr) or args.lr <= 0:
        raise CLIError(f"--lr must be a finite number > 0, got {args.lr}")
    if not math.isfinite(args.weight_decay) or args.weight_decay < 0:
        raise CLIError(f"--weight-decay must be a finite number >= 0, got {args.weight_decay}")
    if not 0 < args.val_fraction < 1:       # also refuses nan
        raise CLIError(f"--val-fraction must lie between 0 and 1, got {args.val_fraction}")


def run(args):
    check_args(args)
    from minicnn.data import Augmenter  # lazy: keeps `minicnn --help` quick
    from minicnn.models import build  # lazy: keeps `minicnn --help` quick
    from minicnn.optim import Adam  # lazy: keeps `minicnn --help` quick
    from minicnn.training import fit  # lazy: keeps `minicnn --help` quick

    from minicnn.training.checkpoint import prepare_out_dir  # lazy: keeps `minicnn --help` quick
    out = args.out or os.path.join("runs", args.model)
    if args.resume and not os.path.isfile(os.path.join(out, "last.npz")):
        raise CLIError(f"cannot resume: {os.path.join(out, 'last.npz')} does not exist")
    if not args.resume:
        prepare_out_dir(out, args.overwrite)   # before loading data: a bad --out fails at once
    ds = load_dataset(args)
    from minicnn.data import leak_free_split  # lazy: keeps `minicnn --help` quick
    train, val, info = leak_free_split(ds, args.val_fraction, args.seed)
    if len(val) == 0 or len(train) == 0:
        raise CLIError(f"the {'validation' if len(val) == 0 else 'training'} split is empty: "
                       f"{len(ds)} images in {len(ds.classes)} classes with --val-fraction "
                       f"{args.val_fraction}; give more images per class")
    model = build(args.model, input_shape=ds.images.shape[1:], num_classes=len(ds.classes),
                  seed=args.seed)
    print(f"{args.model}: {model.num_params():,} parameters, input {tuple(ds.images.shape[1:])}, "
          f"classes {', '.join(ds.classes)}")
    info["data"] = os.path.abspath(args.data) if args.data else "bundled"
    history = fit(model, train, val, epochs=args.epochs, batch_size=args.batch_size,
                  optimizer=Adam(model, lr=args.lr, weight_decay=args.weight_decay),
                  lr_schedule=args.schedule, early_stopping=args.early_stopping,
                  augment=Augmenter(rng=args.seed) if args.augment else None,
                  standardize=args.standardize, out_dir=out, seed=args.seed, resume=args.resume,
                  verbose=not args.quiet, metadata={"split": info}, overwrite=args.overwrite)
    if history.stop_reason == "interrupted":
        return 130                             # fit printed where the checkpoint is
    if history.stop_reason in ("non_finite_loss", "diverged"):
        return 1
    best = history.best_epoch
    if best is not None:
        print(f"best checkpoint: {os.path.join(out, 'best.npz')} (val_acc "
              f"{history.history['val_accuracy'][best - 1]:.4f} at epoch {best}); last: "
              f"{os.path.join(out, 'last.npz')}; history: {os.path.join(out, 'history.json')}")
    return 0
