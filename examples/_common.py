"""Plumbing shared by the three training examples: their command-line options and the data split.

    args = parse_args("mini_resnet", epochs=15, batch_size=32, lr=2e-3)
    train, val = load_split(args)     # uint8 Datasets, 8:2, stratified, duplicates kept together
    ...
    if __name__ == "__main__":
        run(main)                     # exit code 130 on Ctrl-C
"""
import argparse
import os
import sys

from minicnn.data import leak_free_split, load_bundled, load_folder


#: Exit codes when fit stopped early for a fault (it has printed why, and where the checkpoint is).
STOP_EXIT_CODES = {"interrupted": 130, "non_finite_loss": 1}


def run(main):
    """``sys.exit(main())``; Ctrl-C outside ``fit`` (e.g. while loading images) exits with 130."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)


def parse_args(model_name, epochs, batch_size, lr):
    """Options every example takes; the defaults are the example's recipe."""
    p = argparse.ArgumentParser(description=f"Train {model_name} on brain MRI (minicnn example).")
    p.add_argument("--data", metavar="DIR", help="class folders DIR/<class>/*.jpg, e.g. "
                   "brain-tumor-mri/Training (default: the bundled 64x64 dataset)")
    p.add_argument("--image-size", type=int, metavar="N",
                   help="resize to NxN (the report used 150; needs --data)")
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--lr", type=float, default=lr, help="peak learning rate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--out", default=os.path.join("runs", model_name), help="checkpoint folder")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.npz")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in <out>")
    p.add_argument("--algorithm", default="auto", choices=["auto", "im2col", "winograd"],
                   help="the 3x3 convolutions' algorithm (auto: measured per layer shape)")
    return p.parse_args()


def load_split(args):
    """Load the images, then split them into training and validation sets.

    The split is stratified (each class keeps its share) and keeps groups of duplicate images
    (byte-identical or near-identical scans, which this dataset has) on one side: a copy of a
    training image in the validation set would be a free answer and inflate the accuracy.
    """
    if args.data:
        ds = load_folder(args.data, image_size=args.image_size or 64)
        if len(ds.classes) < 2:
            sys.exit(f"{args.data} holds one class folder ({ds.classes[0]}); point --data at the "
                     f"folder that holds the class folders, e.g. brain-tumor-mri/Training")
    else:
        ds = load_bundled()
        if args.image_size not in (None, ds.image_size):
            sys.exit(f"the bundled dataset is {ds.image_size}x{ds.image_size}; "
                     f"--image-size {args.image_size} needs --data DIR")
    train, val, info = leak_free_split(ds, args.val_fraction, seed=args.seed)  # copies on one side
    print(f"{len(ds)} images {ds.image_size}x{ds.image_size} ({', '.join(ds.classes)}): "
          f"{len(train)} for training, {len(val)} for validation")
    args.split = {"data": os.path.abspath(args.data) if args.data else "bundled", **info}
    return train, val
