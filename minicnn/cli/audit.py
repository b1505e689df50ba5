"""``minicnn audit TRAIN_DIR [TEST_DIR]``: duplicate and train/test leakage report.

    minicnn audit brain-tumor-mri/Training brain-tumor-mri/Testing
    minicnn audit brain-tumor-mri              # a Kaggle root: audits Training against Testing
    minicnn audit Training --json              # the full report as JSON on stdout

Prints a summary; the full lists (every group, every leaked test file) go to the JSON file
--out names, or to stdout with --json. Nothing is written unless --out is given.
"""
import json
import os

from minicnn.atomic import make_folder, write_text  # small, no heavy imports
from minicnn.cli import CLIError


def register(subparsers):
    p = subparsers.add_parser("audit", help="find duplicate and leaking images in image folders",
                              description=__doc__.splitlines()[0])
    p.add_argument("train_dir", metavar="TRAIN_DIR", help="class-per-folder training images "
                   "(or a Kaggle root holding Training/ and Testing/)")
    p.add_argument("test_dir", metavar="TEST_DIR", nargs="?", default=None,
                   help="class-per-folder test images (optional)")
    p.add_argument("--threshold", type=int, default=None, metavar="N",
                   help="near-duplicate Hamming distance, of 256 bits (default 16)")
    p.add_argument("--out", metavar="FILE",
                   help="also write the full JSON report to FILE (default: write nothing)")
    p.add_argument("--json", action="store_true", help="print the full JSON report instead of "
                   "the summary")
    p.set_defaults(func=run)


def run(args):
    from minicnn.data.audit import audit  # lazy: keeps `minicnn --help` quick
    from minicnn.data.duplicates import NEAR_THRESHOLD  # lazy: keeps `minicnn --help` quick
    from minicnn.data.folders import kaggle_split_dir  # lazy: keeps `minicnn --help` quick

    train, test = args.train_dir, args.test_dir
    if args.out:                     # before the audit: a bad --out would waste its minutes
        if os.path.isdir(args.out):
            raise CLIError(f"--out {args.out} is a folder, not a file: give a file name, e.g. "
                           f"{os.path.join(args.out, 'audit.json')}")
        make_folder(os.path.dirname(os.path.abspath(args.out)))
    if not os.path.isdir(train):
        raise CLIError(f"folder not found: {train}")
    if test is None:
        try:   # a Kaggle root: Training/ (and Testing/ if present)
            train, root = kaggle_split_dir(args.train_dir, "Training"), args.train_dir
            test = kaggle_split_dir(root, "Testing") if any(
                n.lower() == "testing" for n in os.listdir(root)) else None
        except ValueError:
            pass
    threshold = NEAR_THRESHOLD if args.threshold is None else args.threshold
    if not 0 <= threshold <= 256:
        raise CLIError(f"--threshold must lie in [0, 256], got {threshold}")
    report = audit(train, test, threshold=threshold)
    full = report.to_dict()
    if args.out:
        write_text(args.out, json.dumps(full, indent=1))
    if args.json:
        print(json.dumps(full, indent=1))
    else:
        print(report.summary())
        if args.out:
            print(f"full lists written to {args.out}")
    return 0
