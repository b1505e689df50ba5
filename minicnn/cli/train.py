"""``minicnn train``: train one of the report's models and keep its checkpoints.

    minicnn train --model mini_resnet                     # the bundled 64x64 dataset
    minicnn train --model cnn5 --data brain-tumor-mri/Training --image-size 150 --epochs 30
    minicnn train --model mini_vgg --width 0.5 --epochs 24 --lr 5e-4 --schedule cosine --warmup 1 \
                  --augment --max-rotate 0                # a model knob and the recipe's settings

The data (a class-per-folder directory, or a Kaggle root holding Training/) is split 8:2 into
training and validation, stratified by class, with duplicate images kept on one side. Checkpoints
go to ``--out`` (default runs/<model>/): best.npz, last.npz, history.json.
"""
import math
import os

from minicnn.cli import CLIError

from minicnn.data import COLORS
from minicnn.models import KNOBS, MODEL_NAMES
from minicnn.optim import DEFAULT_LR


def add_knob_args(p):
    """The model knobs of ``minicnn.models`` (default: the model's own, as shipped)."""
    g = p.add_argument_group("model knobs (default: the architecture as the report describes it)")
    g.add_argument("--filters", metavar="N,N,...", help="filter count of each conv stage "
                   "(cnn5: 5 counts, mini_vgg: 3, mini_resnet: 1)")
    g.add_argument("--width", type=float, metavar="F", help="multiply every filter count by F")
    g.add_argument("--kernel-size", type=int, metavar="K", help="the 3x3 convs' kernel size (odd)")
    g.add_argument("--stride", type=int, metavar="S", help="the first conv's stride")
    g.add_argument("--dense", type=int, metavar="N", help="hidden dense width (0: none)")
    g.add_argument("--dropout", type=float, metavar="P",
                   help="dropout after the hidden dense layers")


def knobs_from_args(args):
    """The knobs given on the command line, as ``models.build`` takes them."""
    knobs = {k: getattr(args, k) for k in KNOBS if k != "filters" and getattr(args, k) is not None}
    if args.filters is not None:
        try:
            knobs["filters"] = [int(f) for f in args.filters.split(",")]
        except ValueError:
            raise CLIError(f"--filters must be comma-separated whole numbers, e.g. 32,64,128, "
                           f"got {args.filters!r}") from None
    return knobs


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
    p.add_argument("--crop", action="store_true", help="cut each picture to the square around "
                   "the head before resizing (needs --data; the checkpoint records it, so "
                   "predict and evaluate crop too)")
    p.add_argument("--epochs", type=int, default=10, metavar="N", help="passes over the training split")
    p.add_argument("--batch-size", type=int, default=32, metavar="N", help="images per step")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="seeds the weights, the split, the shuffling and augmentation")
    p.add_argument("--split-seed", type=int, metavar="N",
                   help="seeds only the train/validation split (default: --seed): runs with "
                   "different --seed and one --split-seed validate on the same images, so "
                   "their checkpoints can be compared and ensembled")
    p.add_argument("--out", metavar="DIR", help="checkpoint folder (default runs/<model>)")
    add_knob_args(p)
    p.add_argument("--optimizer", choices=tuple(DEFAULT_LR), default="adam",
                   help="adam (decoupled weight decay), sgd (with --momentum) or rmsprop")
    p.add_argument("--lr", type=float, help="peak learning rate (default: the optimizer's Keras "
                   "default, 1e-3 for adam and rmsprop, 1e-2 for sgd)")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD's momentum")
    p.add_argument("--weight-decay", type=float, default=0.0,
                   help="weight decay (decoupled for adam, as AdamW)")
    p.add_argument("--schedule", choices=("constant", "cosine", "step"), default="constant",
                   help="learning-rate schedule over the epochs")
    p.add_argument("--warmup", type=int, default=0, metavar="N",
                   help="epochs of linear learning-rate warm-up before the cosine "
                        "(--schedule cosine)")
    p.add_argument("--augment", action="store_true",
                   help="random flips, shifts and rotations of training batches (and zoom, "
                        "contrast, brightness when their --max-* are given)")
    p.add_argument("--max-shift", type=float, default=0.1, metavar="F",
                   help="--augment's largest shift, as a share of the image size")
    p.add_argument("--max-rotate", type=float, default=10.0, metavar="DEG",
                   help="--augment's largest rotation in degrees (0: none, as the shipped recipes)")
    p.add_argument("--max-zoom", type=float, default=0.0, metavar="F",
                   help="--augment's largest zoom in or out, as a share of the size (0: none)")
    p.add_argument("--max-contrast", type=float, default=0.0, metavar="F",
                   help="--augment's largest contrast change, as a share (0: none)")
    p.add_argument("--max-brightness", type=float, default=0.0, metavar="F",
                   help="--augment's largest brightness offset, in image standard deviations "
                        "(0: none)")
    p.add_argument("--ema", type=float, metavar="DECAY",
                   help="keep an exponential moving average of the weights (e.g. 0.999: about "
                   "the last 1,000 steps), validate it and save it as best.npz")
    p.add_argument("--label-smoothing", type=float, default=0.0, metavar="EPS",
                   help="train against (1 - EPS) * one-hot + EPS / classes instead of one-hot "
                   "labels (e.g. 0.1; 0: none)")
    p.add_argument("--mixup", type=float, metavar="ALPHA",
                   help="train on blends of pairs of images and of their labels, the blend "
                   "drawn from Beta(ALPHA, ALPHA) (e.g. 0.2; default: none)")
    p.add_argument("--val-fraction", type=float, default=0.2, metavar="F",
                   help="share of each class held out for validation (duplicates kept "
                   "together); 0: train on every image, with no validation (a final model, once "
                   "validation has chosen the recipe)")
    p.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                   help="stop after this many epochs without a better validation accuracy "
                   "(default: train all epochs)")
    p.add_argument("--standardize", choices=("dataset", "per_batch"), default="dataset",
                   help="dataset: per-channel statistics of the training split; "
                        "per_batch: each batch by its own mean/std (the report's way)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.npz (same "
                   "data and settings, refused otherwise; --epochs and --early-stopping may "
                   "change)")
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
        return load_data(args.data, args.image_size or 64, args.color, crop=args.crop)
    from minicnn.data import load_bundled  # lazy: keeps `minicnn --help` quick
    ds = load_bundled()
    if args.image_size not in (None, ds.image_size):
        raise CLIError(f"the bundled dataset is {ds.image_size}x{ds.image_size}; for "
                       f"--image-size {args.image_size} give --data DIR (e.g. the Kaggle folder)")
    if args.color != ds.color:
        raise CLIError(f"the bundled dataset is {ds.color}; for --color {args.color} give --data DIR")
    if args.crop:
        raise CLIError("the bundled dataset is already resized, so it cannot be cropped; for "
                       "--crop give --data DIR (e.g. the Kaggle folder)")
    return ds


def check_args(args):
    """Refuse values that cannot make a sensible run, before any data is loaded."""
    for name in ("epochs", "batch_size", "early_stopping"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise CLIError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.lr is not None and (not math.isfinite(args.lr) or args.lr <= 0):
        raise CLIError(f"--lr must be a finite number > 0, got {args.lr}")
    if not math.isfinite(args.weight_decay) or args.weight_decay < 0:
        raise CLIError(f"--weight-decay must be a finite number >= 0, got {args.weight_decay}")
    if not 0 <= args.momentum < 1:           # also refuses nan
        raise CLIError(f"--momentum must lie in [0, 1), got {args.momentum}")
    if args.warmup < 0 or (args.warmup and args.schedule != "cosine"):
        raise CLIError(f"--warmup takes a number of epochs >= 0 and --schedule cosine, got "
                       f"--warmup {args.warmup} with --schedule {args.schedule}")
    extras = [f"--{k.replace('_', '-')}" for k in ("max_zoom", "max_contrast", "max_brightness")
              if getattr(args, k)]
    if extras and not args.augment:
        raise CLIError(f"{', '.join(extras)} {'takes' if len(extras) == 1 else 'take'} effect "
                       f"only with --augment; add it")
    if args.ema is not None and not 0 < args.ema < 1:     # also refuses nan
        raise CLIError(f"--ema takes a decay between 0 and 1 (e.g. 0.999), got {args.ema}")
    if not 0 <= args.label_smoothing < 1:     # also refuses nan
        raise CLIError(f"--label-smoothing must lie in [0, 1), got {args.label_smoothing}")
    if args.mixup is not None and not 0 < args.mixup < float("inf"):   # also refuses nan
        raise CLIError(f"--mixup takes a Beta parameter alpha > 0 (e.g. 0.2), got {args.mixup}")
    if not 0 <= args.val_fraction < 1:      # also refuses nan
        raise CLIError(f"--val-fraction must lie in [0, 1), got {args.val_fraction}")
    if args.early_stopping is not None and args.val_fraction == 0:
        raise CLIError("--early-stopping stops on the validation accuracy, and --val-fraction 0 "
                       "leaves no validation split; drop one of them")
    for name in ("seed", "split_seed"):       # NumPy seeds are non-negative integers
        value = getattr(args, name)
        if value is not None and value < 0:
            raise CLIError(f"--{name.replace('_', '-')} must be an integer >= 0, got {value}")
    if args.resume and args.overwrite:
        raise CLIError("--resume continues the run in --out and --overwrite replaces it; "
                       "give one of them")


def run(args):
    check_args(args)
    from minicnn.data import Augmenter  # lazy: keeps `minicnn --help` quick
    from minicnn.models import build  # lazy: keeps `minicnn --help` quick
    from minicnn.optim import make  # lazy: keeps `minicnn --help` quick
    from minicnn.training import fit  # lazy: keeps `minicnn --help` quick
    from minicnn.training.schedules import cosine  # lazy: keeps `minicnn --help` quick

    from minicnn.training.checkpoint import prepare_out_dir  # lazy: keeps `minicnn --help` quick
    knobs = knobs_from_args(args)             # before anything slow: a bad --filters fails at once
    out = args.out or os.path.join("runs", args.model)
    if args.resume and not os.path.isfile(os.path.join(out, "last.npz")):
        raise CLIError(f"cannot resume: {os.path.join(out, 'last.npz')} does not exist")
    if not args.resume:
        prepare_out_dir(out, args.overwrite)   # before loading data: a bad --out fails at once
    ds = load_dataset(args)
    from minicnn.data import leak_free_split, no_split  # lazy: keeps `minicnn --help` quick
    split_seed = args.seed if args.split_seed is None else args.split_seed
    train, val, info = (leak_free_split(ds, args.val_fraction, split_seed) if args.val_fraction
                        else no_split(ds, split_seed))
    if val is not None and (len(val) == 0 or len(train) == 0):
        raise CLIError(f"the {'validation' if len(val) == 0 else 'training'} split is empty: "
                       f"{len(ds)} images in {len(ds.classes)} classes with --val-fraction "
                       f"{args.val_fraction}; give more images per class")
    # a knob or an augmentation value out of range is a ValueError: main() prints it as one line
    model = build(args.model, input_shape=ds.images.shape[1:], num_classes=len(ds.classes),
                  seed=args.seed, **knobs)
    augment = (Augmenter(max_shift=args.max_shift, max_rotate=args.max_rotate,
                         max_zoom=args.max_zoom, max_contrast=args.max_contrast,
                         max_brightness=args.max_brightness, rng=args.seed)
               if args.augment else None)
    optimizer = make(args.optimizer, model, args.lr, args.momentum, args.weight_decay)
    schedule = (cosine(optimizer.lr, args.epochs, warmup=args.warmup) if args.warmup
                else args.schedule)
    print(f"{args.model}: {model.num_params():,} parameters, input {tuple(ds.images.shape[1:])}, "
          f"classes {', '.join(ds.classes)}")
    recipe = {"optimizer": args.optimizer, "lr": optimizer.lr, "momentum": args.momentum,
              "weight_decay": args.weight_decay, "schedule": args.schedule,
              "warmup": args.warmup}                   # what `fit` records only as "custom"
    info["data"] = os.path.abspath(args.data) if args.data else "bundled"
    import numpy as np  # lazy: keeps `minicnn --help` quick
    with np.errstate(over="ignore", invalid="ignore"):   # a run that blows up: fit says so
        history = fit(model, train, val, epochs=args.epochs, batch_size=args.batch_size,
                      optimizer=optimizer, lr_schedule=schedule,
                      early_stopping=args.early_stopping, augment=augment,
                      standardize=args.standardize, out_dir=out, seed=args.seed,
                      resume=args.resume, verbose=not args.quiet,
                      metadata={"split": info, "recipe": recipe}, overwrite=args.overwrite,
                      ema=args.ema, label_smoothing=args.label_smoothing, mixup=args.mixup)
    if history.stop_reason == "interrupted":
        return 130                             # fit printed where the checkpoint is
    if history.stop_reason in ("non_finite_loss", "diverged"):
        return 1
    best = history.best_epoch
    if best is not None:
        print(f"best checkpoint: {os.path.join(out, 'best.npz')} (val_acc "
              f"{history.history['val_accuracy'][best - 1]:.4f} at epoch {best}); last: "
              f"{os.path.join(out, 'last.npz')}; history: {os.path.join(out, 'history.json')}")
    elif val is None:
        print(f"trained on all {len(train)} images, with no validation: the final model is "
              f"{os.path.join(out, 'last.npz')} (best.npz: the epoch of best training accuracy)")
    return 0
